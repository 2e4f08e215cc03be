package accesspack_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/accesspack"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/identifier"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
	"rightsdesk/web"
)

func TestMain(m *testing.M) { os.Exit(testkit.MainWithMySQL(m)) }

// servers runs a test against the example loaded into PostgreSQL and into
// MariaDB.
func servers(t *testing.T, fn func(t *testing.T, srv testkit.LMSServer)) {
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, testkit.LMSPostgres(t)) })
	t.Run("mariadb", func(t *testing.T) { t.Parallel(); fn(t, testkit.LMSMySQL(t)) })
}

type archive struct {
	files map[string][]byte
	data  struct {
		GeneratedAt string `json:"generated_at"`
		Systems     []struct {
			Name        string `json:"name"`
			Collections []struct {
				Name   string           `json:"name"`
				Fields []map[string]any `json:"fields"`
				Rows   []map[string]any `json:"rows"`
			} `json:"collections"`
		} `json:"systems"`
	}
}

func build(t *testing.T, srv testkit.LMSServer, id identifier.Identity, locale request.Locale) (archive, accesspack.Summary) {
	t.Helper()
	m, env := testkit.LMSMap(t, srv, nil)
	systems := connector.New(m, env)
	t.Cleanup(func() { systems.Close() })
	b, err := accesspack.New(web.Files)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := web.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	reading := systems.Read(id)
	defer reading.Close()
	var buf bytes.Buffer
	sum, err := b.Write(t.Context(), &buf, accesspack.Input{
		Map: m, Source: reading, Printer: cat.Printer(locale), Org: "Oqu Online",
		Now: time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC), Location: time.FixedZone("Asia/Almaty", 5*3600),
	})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("the package is no ZIP: %v", err)
	}
	a := archive{files: map[string][]byte{}}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		a.files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	if err := json.Unmarshal(a.files["data.json"], &a.data); err != nil {
		t.Fatalf("data.json: %v\n%s", err, a.files["data.json"])
	}
	return a, sum
}

func (a archive) rows(collection string) []map[string]any {
	for _, s := range a.data.Systems {
		for _, c := range s.Collections {
			if c.Name == collection {
				return c.Rows
			}
		}
	}
	return nil
}

func (a archive) column(collection, field string) []string {
	var out []string
	for _, r := range a.rows(collection) {
		out = append(out, jsonText(r[field]))
	}
	return out
}

func jsonText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		b, _ := json.Marshal(x)
		return string(b)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (a archive) csv(t *testing.T, path string) [][]string {
	t.Helper()
	b, ok := a.files[path]
	if !ok {
		t.Fatalf("no %s in the package", path)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// TestAccessPackageHoldsOneStudentsRowsAcrossEveryTableAndNobodyElses: the
// package for aigerim@example.kz has her rows in every related table —
// those found through her student id, and her certificate, found only
// through her enrolment — and not one row of the three other students.
func TestAccessPackageHoldsOneStudentsRowsAcrossEveryTableAndNobodyElses(t *testing.T) {
	servers(t, func(t *testing.T, srv testkit.LMSServer) {
		// Typed as people type it: the database holds Aigerim@Example.kz.
		a, sum := build(t, srv, identifier.Identity{Email: " aigerim@EXAMPLE.kz"}, request.Kazakh)

		want := map[string]map[string][]string{
			"students":     {"email": {"Aigerim@Example.kz"}, "login": {"aigerim.n"}, "full_name": {"Айгерім Нұрланқызы"}, "birth_date": {"2007-04-12"}},
			"guardians":    {"full_name": {"Нұрлан Әбенов"}},
			"enrolments":   {"course_id": {"1", "2"}, "grade": {"A", ""}},
			"certificates": {"number": {"LMS-2025-000117"}, "issued_at": {"2025-06-20"}},
			"payments":     {"amount": {"45000.00", "52000.00"}, "card_last4": {"4417", "4417"}},
			"forum_posts":  {"title": {"Задача 14", "Цикл for"}},
			"messages":     {"body": {"Спасибо за подсказку!"}},
			"login_log":    {"ip_address": {"95.56.12.34", "95.56.12.34"}},
		}
		for coll, fields := range want {
			for field, values := range fields {
				got := a.column(coll, field)
				slices.Sort(got)
				slices.Sort(values)
				if !slices.Equal(got, values) {
					t.Errorf("data.json %s.%s = %q, want %q", coll, field, got, values)
				}
			}
		}
		if got := a.rows("payments"); len(got) == 2 && jsonText(got[0]["paid_at"]) != "2024-09-02T08:05:00" {
			t.Errorf("payments.paid_at = %v, want the stored wall-clock time 2024-09-02T08:05:00", got[0]["paid_at"])
		}

		// Nothing of anyone else, anywhere in the archive.
		for name, body := range a.files {
			for _, other := range []string{"daniyar", "Данияр", "olga", "Ольга", "yerlan", "Ерлан", "Сәуле",
				"LMS-2025-000118", "LMS-2025-000131", "0032", "7781", "2.134.5.6", "37.99.1.2", "Пожалуйста", "Сначала найди", "Абай", "вебинар"} {
				if bytes.Contains(body, []byte(other)) {
					t.Errorf("%s holds %q, which is another student's", name, other)
				}
			}
		}

		// One CSV per collection, with a header in the requester's language
		// and exactly her rows.
		wantRows := map[string]int{"students": 1, "guardians": 1, "enrolments": 2, "certificates": 1, "payments": 2, "forum_posts": 2, "messages": 1, "login_log": 2}
		for coll, n := range wantRows {
			rows := a.csv(t, "csv/lms/"+coll+".csv")
			if len(rows)-1 != n {
				t.Errorf("csv/lms/%s.csv has %d rows, want %d", coll, len(rows)-1, n)
			}
		}
		if h := a.csv(t, "csv/lms/students.csv")[0]; !slices.Contains(h, "Электрондық пошта") {
			t.Errorf("students.csv header %q is not in Kazakh", h)
		}

		// The summary staff review says the same.
		for _, s := range sum.Systems {
			for _, c := range s.Collections {
				if int(c.Rows) != wantRows[c.Name] {
					t.Errorf("summary %s: %d rows, want %d", c.Name, c.Rows, wantRows[c.Name])
				}
				if c.Rows > 0 && len(c.Preview) == 0 {
					t.Errorf("summary %s: no preview", c.Name)
				}
			}
		}
		if sum.Rows != 12 {
			t.Errorf("summary: %d rows in all, want 12", sum.Rows)
		}

		// The page: in Kazakh, with categories, purposes and how long each
		// thing is kept, and no script.
		page := string(a.files["index.html"])
		for _, s := range []string{`<html lang="kk">`, "Oqu Online сақтайтын сіздің дербес деректеріңіз", "Байланыс деректері", "Төлем туралы мәліметтер",
			"Оқу ақысын қабылдау және бухгалтерлік есеп", "5 жыл, жоюды сұрағаннан кейін де: Бухгалтерлік есеп", "3 жыл", "2026 жылғы 20 наурыз", "Курстарға қабылдау"} {
			if !strings.Contains(page, s) {
				t.Errorf("index.html lacks %q", s)
			}
		}
		if strings.Contains(strings.ToLower(page), "<script") {
			t.Error("index.html has a script")
		}
	})
}

// TestAccessFindsAStudentByPhoneOrAccountIDAlone: the phone in another
// notation and the login find the same student and her related rows.
func TestAccessFindsAStudentByPhoneOrAccountIDAlone(t *testing.T) {
	servers(t, func(t *testing.T, srv testkit.LMSServer) {
		for _, id := range []identifier.Identity{{Phone: "8 (701) 123-45-67"}, {AccountID: "aigerim.n"}} {
			a, _ := build(t, srv, id, request.Russian)
			if got := a.column("students", "login"); !slices.Equal(got, []string{"aigerim.n"}) {
				t.Errorf("%+v: students = %q, want aigerim.n only", id, got)
			}
			if got := len(a.rows("login_log")); got != 2 {
				t.Errorf("%+v: %d login_log rows, want 2", id, got)
			}
		}
	})
}

func TestCSVCellsAreNeverFormulas(t *testing.T) {
	servers(t, func(t *testing.T, srv testkit.LMSServer) {
		testkit.Exec(t, srv.DB, "UPDATE forum_posts SET title = '=HYPERLINK(\"http://evil.example\")' WHERE id = 1")
		a, _ := build(t, srv, identifier.Identity{Email: "aigerim@example.kz"}, request.English)
		for _, row := range a.csv(t, "csv/lms/forum_posts.csv") {
			if strings.HasPrefix(row[0], "=") {
				t.Errorf("forum_posts.csv cell %q would run as a formula", row[0])
			}
		}
		// The JSON keeps the value as it is.
		if got := a.column("forum_posts", "title"); !slices.Contains(got, `=HYPERLINK("http://evil.example")`) {
			t.Errorf("data.json titles = %q", got)
		}
	})
}
