package app_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/request"
	"rightsdesk/internal/signing"
	"rightsdesk/internal/testkit"
)

// The data map's answers through the request's life (issue 13, stage 2):
// one deployment whose map has two database systems, "lms" in PostgreSQL
// and "archive" in MariaDB, each loaded with deploy/datamaps/lms-example.sql.

// fulfilDesk is a running instance with the two-system map, and the
// servers behind it.
type fulfilDesk struct {
	inst    *apptest.Instance
	pg, my  testkit.LMSServer
	mapFile string
}

var collectionKey = regexp.MustCompile(`(?m)^  ([a-z_]+):\s*$`)

// twoSystemMap writes the example map with a second system, "archive"
// (MariaDB), holding the same collections under the prefix "archive_".
func twoSystemMap(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(testkit.RepoFile("deploy", "datamaps", "lms-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	head, cols, ok := strings.Cut(text, "\ncollections:\n")
	if !ok {
		t.Fatal("the example map has no collections section")
	}
	copied := collectionKey.ReplaceAllString(cols, "  archive_$1:")
	copied = strings.ReplaceAll(copied, "system: lms\n", "system: archive\n")
	copied = regexp.MustCompile(`references: ([a-z_]+)\.`).ReplaceAllString(copied, "references: archive_$1.")
	head = strings.Replace(head, "\nsystems:\n", "\nsystems:\n  archive:\n    kind: mysql\n    read_url_env: ARCHIVE_DATABASE_URL\n    change_url_env: ARCHIVE_DATABASE_CHANGE_URL\n", 1)
	path := filepath.Join(t.TempDir(), "two-systems.yaml")
	if err := os.WriteFile(path, []byte(head+"\ncollections:\n"+cols+"\n"+copied), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newFulfilDesk(t *testing.T, env map[string]string) *fulfilDesk {
	t.Helper()
	d := prepareFulfilDesk(t)
	d.start(t, env)
	return d
}

// prepareFulfilDesk loads the servers and writes the map; start runs the
// instance on them.
func prepareFulfilDesk(t *testing.T) *fulfilDesk {
	t.Helper()
	return &fulfilDesk{pg: testkit.LMSPostgres(t), my: testkit.LMSMySQL(t), mapFile: twoSystemMap(t)}
}

func (d *fulfilDesk) start(t *testing.T, env map[string]string) {
	t.Helper()
	vars := map[string]string{
		"DATA_MAP_FILE":               d.mapFile,
		"LMS_DATABASE_URL":            d.pg.Reader,
		"LMS_DATABASE_CHANGE_URL":     d.pg.Changer,
		"ARCHIVE_DATABASE_URL":        d.my.Reader,
		"ARCHIVE_DATABASE_CHANGE_URL": d.my.Changer,
		"LMS_ERASURE_HASH_KEY":        testkit.LMSHashKey,
	}
	for k, v := range env {
		vars[k] = v
	}
	d.inst = apptest.Start(t, vars)
}

// file submits a request for Aigerim (student 1 of the example) through
// the public API, with extra fields over validBody, and returns its
// reference; the request is then open for staff.
func (d *fulfilDesk) file(t *testing.T, typ request.Type, locale string, extra map[string]any) string {
	t.Helper()
	body := validBody(typ, locale)
	body["email"] = "aigerim@example.kz"
	// Yerlan's phone (student 4): never proven, so never used to find rows.
	body["phone"] = "+7 705 000 11 22"
	for k, v := range extra {
		body[k] = v
	}
	code, out, _ := postJSON(t, d.inst, encode(t, body))
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	ref := out["reference"].(string)
	setStatus(t, d.inst, ref, "new")
	return ref
}

// identityChecked records a staff identity check on the request's page.
func identityChecked(p *deskPage) {
	p.t.Helper()
	p.done(p.post("identity", url.Values{"method": {"video_call"}, "note": {"Удостоверение показано по видеосвязи"}}))
}

// zipFiles reads every file of a ZIP.
func zipFiles(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the download is no ZIP (%d bytes): %v", len(b), err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		c, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = string(c)
	}
	return out
}

// Values of the example's rows, by whose they are.
var (
	aigerimValues = []string{"aigerim.n", "Нұрлан Әбенов", "LMS-2025-000117", "45000", "Задача 14", "Цикл for",
		"Спасибо за подсказку!", "95.56.12.34"}
	othersValues = []string{"daniyar", "Данияр", "olga", "Ольга", "yerlan", "Ерлан", "Сәуле", "LMS-2025-000118", "LMS-2025-000131",
		"0032", "7781", "Сначала найди дискриминант", "Пожалуйста :)", "Қара сөздерін", "вебинар", "2.134.5.6", "37.99.1.2"}
)

func TestAnAccessRequestReturnsExactlyOneStudentsRowsFromEverySystem(t *testing.T) {
	d := newFulfilDesk(t, nil)
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref := d.file(t, request.Access, "ru", nil)
	p := openRequest(t, inst, "daniyar@school.example.kz", ref)

	// Before the identity is established nothing is gathered.
	_, page := p.get()
	if !strings.Contains(page, `id="fulfil"`) || !strings.Contains(html.UnescapeString(page), "Пока личность заявителя не установлена") {
		t.Fatal("the request page does not say the data map waits for the identity check")
	}
	if strings.Contains(page, `action="/staff/requests/`+ref+`/gather`) {
		t.Error("Gather data is offered before the identity is established")
	}
	before := inst.RequestState(t, ref)
	resp, page := p.post("gather", url.Values{})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(refusedText(page), "личность") {
		t.Fatalf("gathering before the identity check: %d %q", resp.StatusCode, refusedText(page))
	}
	if n := inst.Count(t, `SELECT count(*) FROM fulfilments`); n != 0 || inst.RequestState(t, ref) != before {
		t.Fatalf("the refused gathering left %d fulfilments or changed the request", n)
	}

	identityChecked(p)
	p.done(p.post("gather", url.Values{}))
	waitForState(t, inst, `SELECT count(*) FROM fulfilments WHERE package_at IS NOT NULL`)
	inst.Settle(t)

	// The page shows each system's step done with its counts, and the draft
	// package with its preview.
	_, page = p.get()
	page = html.UnescapeString(page)
	for _, want := range []string{"Система lms", "Система archive", "Готово", "Найдено записей:", "Оплаты", "Пакет с данными (черновик)",
		"personal-data-" + ref + ".zip", "LMS-2025-000117"} {
		if !strings.Contains(page, want) {
			t.Errorf("after the gathering the page lacks %q", want)
		}
	}
	if n := strings.Count(page, `class="step-done"`); n != 2 {
		t.Errorf("%d steps shown done, want 2 (one per system)", n)
	}
	// What the steps kept is sealed at rest.
	if n := inst.Count(t, `SELECT count(*) FROM fulfilment_steps WHERE state = 'done' AND rows IS NOT NULL
		AND position(convert_to('LMS-2025-000117', 'UTF8') in rows) = 0`); n != 2 {
		t.Errorf("%d of 2 steps keep their rows sealed", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM fulfilments WHERE package IS NOT NULL AND position(convert_to('PK', 'UTF8') in package) <> 1`); n != 1 {
		t.Error("the access package is not sealed at rest")
	}

	// Staff review it; the download is logged with their id.
	resp, _ = inst.Get(t, p.c, p.path()+"/package")
	if resp.StatusCode != http.StatusOK || inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'access_package_downloaded' AND actor_id IS NOT NULL`) != 1 {
		t.Errorf("staff download: %d, or not logged", resp.StatusCode)
	}

	// Complete with it: preview, send, the requester downloads it.
	response := "Ваши данные во вложении."
	resp, page = p.complete(map[string]string{"response": response, "access_package": "1", "step": "preview"}, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d %s", resp.StatusCode, refusedText(page))
	}
	subject, text, digest, _ := preview(t, page)
	if !strings.Contains(text, "/d/••••••") {
		t.Fatalf("the preview has no download link:\n%s", text)
	}
	p.done(p.complete(map[string]string{"response": response, "access_package": "1", "step": "send", "digest": digest}, "", nil))
	gotSubject, gotText, _, download := lastMailTo(t, inst, "aigerim@example.kz", "Ответ на ваш запрос")
	if gotSubject != subject || !sameEmail(gotText, text) {
		t.Errorf("the email sent differs from its preview:\n%s\n---\n%s", gotText, text)
	}
	files := zipFiles(t, downloadBody(t, download))
	for _, system := range []string{"lms", "archive"} {
		prefix := "csv/" + system + "/"
		if system == "archive" {
			prefix += "archive_"
		}
		for _, c := range []string{"students", "guardians", "enrolments", "certificates", "payments", "forum_posts", "messages", "login_log"} {
			if _, ok := files[prefix+c+".csv"]; !ok {
				t.Errorf("the package lacks %s%s.csv", prefix, c)
			}
		}
		all := ""
		for name, content := range files {
			if strings.HasPrefix(name, "csv/"+system+"/") {
				all += content
			}
		}
		for _, v := range aigerimValues {
			if !strings.Contains(all, v) {
				t.Errorf("%s: Aigerim's %q is not in the package", system, v)
			}
		}
	}
	for name, content := range files {
		for _, v := range othersValues {
			if strings.Contains(strings.ToLower(content), strings.ToLower(v)) {
				t.Errorf("%s holds %q, another student's", name, v)
			}
		}
	}
	if c := files["csv/lms/login_log.csv"]; strings.Count(c, "95.56.12.34") != 2 {
		t.Errorf("login_log of lms: %q, want Aigerim's two sign-ins", c)
	}
	if n := inst.Count(t, `SELECT count(*) FROM files f JOIN requests r ON r.id = f.request_id WHERE r.reference = $1 AND f.purpose = 'response'`, ref); n != 1 {
		t.Errorf("%d response files, want the package", n)
	}
}

// lmsTables are the example's tables, for a snapshot of a server.
var lmsTables = []string{"students", "guardians", "courses", "enrolments", "certificates", "payments", "forum_posts", "messages", "login_log"}

// snapshot prints every row of the example's tables on srv.
func snapshot(t *testing.T, srv testkit.LMSServer) string {
	t.Helper()
	var b strings.Builder
	for _, table := range lmsTables {
		rows, err := srv.DB.QueryContext(t.Context(), "SELECT * FROM "+table+" ORDER BY id") // #nosec G202 -- the example's own table names
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			b.WriteString(table)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				b.WriteString(" | ")
				b.WriteString(strings.TrimSpace(strings.ReplaceAll(fmtValue(v), "\n", " ")))
			}
			b.WriteString("\n")
		}
		_ = rows.Close()
	}
	return b.String()
}

func fmtValue(v any) string {
	if v == nil {
		return "NULL"
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmt.Sprint(v), "\r", ""), "\t", " "))
}

// count runs a COUNT query on one of the servers.
func count(t *testing.T, srv testkit.LMSServer, query string) int {
	t.Helper()
	var n int
	if err := srv.DB.QueryRowContext(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// shownDigest is the digest of the plan the page shows for approval.
func shownDigest(t *testing.T, page string) string {
	t.Helper()
	if !strings.Contains(page, `id="plan-shown"`) {
		t.Fatalf("no plan on the page: %q", refusedText(page))
	}
	m := hiddenField("digest").FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestAnApprovedErasureChangesWhatTheMapSaysInEverySystemOnceAndTheEmailSaysWhatWasKept(t *testing.T) {
	d := newFulfilDesk(t, nil)
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	inst.AddStaff(t, "audit@school.example.kz", "Асель Аудиторова", auth.Auditor)
	ref := d.file(t, request.Erasure, "ru", nil)
	p := openRequest(t, inst, "daniyar@school.example.kz", ref)
	identityChecked(p)
	pristinePG := snapshot(t, d.pg)

	// An auditor sees the plan, and cannot approve it.
	audit := openRequest(t, inst, "audit@school.example.kz", ref)
	resp, page := audit.post("plan", url.Values{})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("an auditor asking for the plan: %d %q", resp.StatusCode, refusedText(page))
	}
	auditDigest := shownDigest(t, page)
	if auditDigest != "" || strings.Contains(page, "/plan/approve") {
		t.Error("an auditor is offered the approval")
	}
	agentView := html.UnescapeString(page)
	for _, want := range []string{"Система lms", "Система archive", "Журнал входов", "2 записи — будут удалены", "Зачисления на курсы",
		"сохраняется 5 лет: Законодательство об образовании", "заменяется псевдонимом"} {
		if !strings.Contains(agentView, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}

	// The agent is shown the plan; a row added before the approval makes
	// it another plan, which is refused and shown anew.
	_, page = p.post("plan", url.Values{})
	digest := shownDigest(t, page)
	if digest == "" {
		t.Fatal("the agent is not offered the approval")
	}
	resp, _ = audit.post("plan/approve", url.Values{"digest": {digest}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an auditor approving: %d, want 403", resp.StatusCode)
	}
	testkit.Exec(t, d.my.DB, "INSERT INTO login_log (id, student_id, ip_address, user_agent, logged_at) VALUES (5, 1, '95.56.12.34', 'Firefox', '2025-03-01 10:00:00')")
	before := inst.RequestState(t, ref)
	resp, page = p.post("plan/approve", url.Values{"digest": {digest}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(refusedText(page), "План изменился") {
		t.Fatalf("approving a plan that changed: %d %q", resp.StatusCode, refusedText(page))
	}
	if n := inst.Count(t, `SELECT count(*) FROM fulfilments`); n != 0 || inst.RequestState(t, ref) != before {
		t.Fatal("the refused approval recorded something")
	}
	newDigest := shownDigest(t, page)
	if newDigest == "" || newDigest == digest || !strings.Contains(html.UnescapeString(page), "3 записи — будут удалены") {
		t.Fatal("the changed plan is not shown anew with its three sign-ins")
	}
	if snapshot(t, d.pg) != pristinePG {
		t.Fatal("showing and refusing plans changed the PostgreSQL system")
	}
	pristineMy := snapshot(t, d.my)

	p.done(p.post("plan/approve", url.Values{"digest": {newDigest}}))
	waitForState(t, inst, `SELECT count(*) FROM events WHERE kind = 'plan_executed'`)
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM fulfilments WHERE kind = 'execute' AND approved_by IS NOT NULL AND plan_digest = $1`, newDigest); n != 1 {
		t.Error("the approval is not recorded with the staff member and the digest")
	}
	for _, srv := range []testkit.LMSServer{d.pg, d.my} {
		for q, want := range map[string]int{
			"SELECT count(*) FROM students WHERE id = 1 AND (email = 'Aigerim@Example.kz' OR login = 'aigerim.n' OR phone IS NOT NULL OR full_name = 'Айгерім Нұрланқызы')": 0,
			"SELECT count(*) FROM students WHERE id <> 1 AND phone IS NOT NULL":             2,
			"SELECT count(*) FROM students WHERE full_name = 'Данияр Кенжебеков'":           1,
			"SELECT count(*) FROM guardians WHERE student_id = 1":                           0,
			"SELECT count(*) FROM guardians":                                                1,
			"SELECT count(*) FROM forum_posts WHERE student_id = 1":                         0,
			"SELECT count(*) FROM forum_posts":                                              2,
			"SELECT count(*) FROM login_log WHERE student_id = 1":                           0,
			"SELECT count(*) FROM login_log":                                                2,
			"SELECT count(*) FROM enrolments WHERE student_id = 1":                          2,
			"SELECT count(*) FROM certificates WHERE number = 'LMS-2025-000117'":            1,
			"SELECT count(*) FROM payments WHERE student_id = 1 AND card_last4 IS NULL":     2,
			"SELECT count(*) FROM payments WHERE student_id <> 1 AND card_last4 IS NULL":    0,
			"SELECT count(*) FROM messages WHERE id = 1 AND body = 'Спасибо за подсказку!'": 0,
			"SELECT count(*) FROM messages WHERE body = 'Пожалуйста :)'":                    1,
		} {
			if got := count(t, srv, q); got != want {
				t.Errorf("%s: %s = %d, want %d", srv.Kind, q, got, want)
			}
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'step_done' AND data->'rows' ? 'login_log' AND data->'rows' ? 'students'`); n != 1 {
		t.Errorf("%d step_done events with the rows changed per collection of lms", n)
	}

	// A crash after a system's part ran, before it was recorded: the step is
	// taken over and run again, and changes nothing more.
	erasedPG, erasedMy := snapshot(t, d.pg), snapshot(t, d.my)
	if erasedMy == pristineMy {
		t.Fatal("the MariaDB system did not change")
	}
	var stepID int64
	if err := inst.Pool.QueryRow(t.Context(), `UPDATE fulfilment_steps SET state = 'running', job_id = -1, lease_until = now() - interval '1 second'
		WHERE system = 'archive' RETURNING id`).Scan(&stepID); err != nil {
		t.Fatal(err)
	}
	if err := inst.App.Fulfil.RunStep(t.Context(), stepID, -2, false); err != nil {
		t.Fatalf("running the step again: %v", err)
	}
	if snapshot(t, d.pg) != erasedPG || snapshot(t, d.my) != erasedMy {
		t.Error("running the erasure again changed the systems")
	}
	if n := inst.Count(t, `SELECT count(*) FROM fulfilment_steps WHERE state = 'done'`); n != 2 {
		t.Errorf("%d of 2 steps done after the re-run", n)
	}

	// The answer says what was erased and what was kept and why; the
	// preview is the email.
	response := "Ваши данные удалены, кроме тех, что закон обязывает хранить."
	resp, page = p.complete(map[string]string{"response": response, "step": "preview"}, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d %s", resp.StatusCode, refusedText(page))
	}
	subject, text, previewDigest, _ := preview(t, page)
	for _, want := range []string{"Что мы сделали с вашими данными:", "Журнал входов: удалено 2 записи.", "Журнал входов: удалено 3 записи.",
		"Профиль ученика: стёрто в 1 записи", "Сохранено: Номер сертификата (Сертификаты) на 50 лет. Причина: Законодательство об образовании"} {
		if !strings.Contains(text, want) {
			t.Errorf("the completion email lacks %q:\n%s", want, text)
		}
	}
	p.done(p.complete(map[string]string{"response": response, "step": "send", "digest": previewDigest}, "", nil))
	gotSubject, gotText, _, _ := lastMailTo(t, inst, "aigerim@example.kz", "Ответ на ваш запрос")
	if gotSubject != subject || !sameEmail(gotText, text) {
		t.Errorf("the email sent differs from its preview:\n%s\n---\n%s", gotText, text)
	}

	// A closed request: no plan is approved any more.
	resp, page = p.post("plan/approve", url.Values{"digest": {newDigest}})
	if resp.StatusCode != http.StatusConflict || inst.Count(t, `SELECT count(*) FROM fulfilments`) != 1 {
		t.Errorf("approving on a completed request: %d %q", resp.StatusCode, refusedText(page))
	}
}

// socketProxy stands between rightsdesk and the MariaDB server, on a unix
// socket of its own: while it is down, nothing listens there (a connection
// is refused, as when the server is down); up, it passes bytes through.
type socketProxy struct {
	t        *testing.T
	path     string
	upstream string
	ln       net.Listener
}

func newSocketProxy(t *testing.T, upstream string) *socketProxy {
	t.Helper()
	dir, err := os.MkdirTemp("", "rdproxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &socketProxy{t: t, path: filepath.Join(dir, "my.sock"), upstream: upstream}
	t.Cleanup(p.down)
	return p
}

func (p *socketProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("unix", p.upstream)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
}

func (p *socketProxy) down() {
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	_ = os.Remove(p.path)
}

// throughProxy is a MariaDB URL with its socket replaced by the proxy's.
func throughProxy(t *testing.T, rawURL string) (proxied, socket string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	socket = q.Get("socket")
	if socket == "" {
		t.Fatalf("the test MariaDB URL has no socket: %s", u.Redacted())
	}
	return u.String(), socket
}

func TestASystemDownDelaysOnlyItsOwnStepAndTheRequestCompletesOnceItIsBack(t *testing.T) {
	d := prepareFulfilDesk(t)
	_, socket := throughProxy(t, d.my.Reader)
	proxy := newSocketProxy(t, socket)
	proxied := func(raw string) string {
		u, _ := url.Parse(raw)
		q := u.Query()
		q.Set("socket", proxy.path)
		u.RawQuery = q.Encode()
		return u.String()
	}
	d.start(t, map[string]string{"ARCHIVE_DATABASE_URL": proxied(d.my.Reader), "ARCHIVE_DATABASE_CHANGE_URL": proxied(d.my.Changer)})
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref := d.file(t, request.Access, "ru", nil)
	p := openRequest(t, inst, "daniyar@school.example.kz", ref)
	identityChecked(p)
	key := newAPIKey(t, inst, "Портал", auth.Agent)

	// MariaDB is down: its step is tried with backoff, then fails with its
	// reason in words; PostgreSQL's step is done meanwhile.
	p.done(p.post("gather", url.Values{}))
	waitForState(t, inst, `SELECT count(*) FROM fulfilment_steps WHERE system = 'archive' AND state = 'failed'`)
	waitForState(t, inst, `SELECT count(*) FROM fulfilment_steps WHERE system = 'lms' AND state = 'done'`)
	inst.Settle(t)
	var attempts int
	var archiveStep int64
	if err := inst.Pool.QueryRow(t.Context(), `SELECT id, attempts FROM fulfilment_steps WHERE system = 'archive'`).Scan(&archiveStep, &attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 10 {
		t.Errorf("the step failed after %d attempts, want the bound of 10", attempts)
	}
	_, page := p.get()
	stepRow := regexp.MustCompile(`(?s)<tr id="step-` + fmt.Sprint(archiveStep) + `" class="step-failed">.*?</tr>`).FindString(page)
	if !strings.Contains(stepRow, "система недоступна") || !strings.Contains(stepRow, "/steps/"+fmt.Sprint(archiveStep)+"/retry") {
		t.Errorf("the failed step is not shown with its reason and a retry:\n%s", stepRow)
	}
	if strings.Contains(page, proxy.path) || strings.Contains(inst.Logs(), "aigerim@example.kz") {
		t.Error("the page shows the socket, or the log the requester's address")
	}

	// Completing waits for every step.
	resp, page := p.complete(map[string]string{"response": "Данные во вложении.", "access_package": "1", "step": "preview"}, "", nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(refusedText(page), "не все шаги выполнены") {
		t.Errorf("completing with a failed step: %d %q", resp.StatusCode, refusedText(page))
	}

	// The queue's "gathering failed" filter counts and lists it, the API
	// too, and the reminders name the stuck system.
	other := d.file(t, request.Access, "ru", map[string]any{"email": "someone.else@example.kz"})
	_, queue := inst.Get(t, p.c, "/staff")
	if m := regexp.MustCompile(`(?s)id="steps-failed"><a href="([^"]+)"[^>]*>Сбор не удался <span class="count"><span aria-hidden="true">(\d+)</span>`).FindStringSubmatch(queue); m == nil || m[2] != "1" {
		t.Errorf("the queue does not count one request whose gathering failed: %v", m)
	} else {
		_, filtered := inst.Get(t, p.c, html.UnescapeString(m[1]))
		if !strings.Contains(filtered, ref) || strings.Contains(filtered, other) {
			t.Error("the filter does not keep exactly the request whose gathering failed")
		}
	}
	// The count is of what staff are looking at: none of the erasures.
	_, erasures := inst.Get(t, p.c, "/staff?type=erasure")
	if m := regexp.MustCompile(`(?s)id="steps-failed"><a href="[^"]+"[^>]*>Сбор не удался <span class="count"><span aria-hidden="true">(\d+)</span>`).FindStringSubmatch(erasures); m == nil || m[1] != "0" {
		t.Errorf("filtered to erasures, the queue counts requests whose gathering failed: %v", m)
	}
	code, list := apiCall(t, inst, key, "GET", "/api/v1/requests?steps=failed", "")
	if items, _ := list["requests"].([]any); code != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["reference"] != ref {
		t.Errorf("API steps=failed: %d %v", code, list)
	}
	code, detail := apiCall(t, inst, key, "GET", "/api/v1/requests/"+ref, "")
	f, _ := detail["fulfilment"].(map[string]any)
	if code != http.StatusOK || f == nil {
		t.Fatalf("API detail: %d %v", code, detail)
	}
	for _, st := range f["steps"].([]any) {
		st := st.(map[string]any)
		if st["system"] == "archive" {
			le, _ := st["last_error"].(map[string]any)
			if st["state"] != "failed" || le["code"] != "unreachable" || strings.Contains(fmt.Sprint(le), proxy.path) {
				t.Errorf("API step: %v", st)
			}
		}
	}
	due := inst.Request(t, ref).DueAt
	if _, err := inst.App.Reminders.Run(t.Context(), due.Add(-12*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	_, digest, _, _ := lastMailTo(t, inst, "privacy@school.example.kz", "Напоминание")
	if !strings.Contains(digest, "Застрял шаг: archive") || strings.Count(digest, "Застрял шаг") != 1 {
		t.Errorf("the reminder digest does not name the stuck step once:\n%s", digest)
	}

	// Retried from the page while still down: it fails again. Back up,
	// retried through the API: done, the package is built, and the system
	// that was done was not read again.
	p.done(p.post("steps/"+fmt.Sprint(archiveStep)+"/retry", url.Values{}))
	waitForState(t, inst, `SELECT (count(*) = 2)::int FROM events WHERE kind = 'step_failed' AND (data->>'step_id')::bigint = $1`, archiveStep)
	inst.Settle(t)
	proxy.up()
	code, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/steps/"+fmt.Sprint(archiveStep)+"/retry", "")
	if code != http.StatusAccepted {
		t.Fatalf("API retry: %d %v", code, out)
	}
	waitForState(t, inst, `SELECT count(*) FROM fulfilments WHERE package_at IS NOT NULL`)
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'step_done' AND data->>'system' = 'lms'`); n != 1 {
		t.Errorf("lms was gathered %d times, want once", n)
	}
	if n := inst.Count(t, `SELECT attempts FROM fulfilment_steps WHERE system = 'lms'`); n != 1 {
		t.Errorf("lms step: %d attempts, want 1", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'step_retried' AND (data->>'step_id')::bigint = $1`, archiveStep); n != 2 {
		t.Errorf("%d retries logged, want 2 (page, API)", n)
	}
	resp, page = p.complete(map[string]string{"response": "Данные во вложении.", "access_package": "1", "step": "preview"}, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview once every step is done: %d %q", resp.StatusCode, refusedText(page))
	}
	_, _, digestSend, _ := preview(t, page)
	p.done(p.complete(map[string]string{"response": "Данные во вложении.", "access_package": "1", "step": "send", "digest": digestSend}, "", nil))
	_, _, _, download := lastMailTo(t, inst, "aigerim@example.kz", "Ответ на ваш запрос")
	files := zipFiles(t, downloadBody(t, download))
	if !strings.Contains(files["csv/archive/archive_certificates.csv"], "LMS-2025-000117") || !strings.Contains(files["csv/lms/certificates.csv"], "LMS-2025-000117") {
		t.Error("the package lacks a system's rows")
	}
}

// mailerSecret is the operator's HTTP system's secret in the tests.
const mailerSecret = "mailer secret for the tests"

// mailer is the operator's own endpoint: it checks rightsdesk's signature,
// keeps what it was asked, and answers 202 (the outcome comes later, by a
// callback).
type mailer struct {
	mu    sync.Mutex
	asked []connector.ActionRequest
	// pollsUntilDone, when set, gives a poll URL in the 202 and answers
	// its polls "pending" that many times, then "done".
	pollsUntilDone int
	polls          int
}

func (m *mailer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := signing.Verify(r.Header, mailerSecret, body, time.Now()); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		m.polls++
		if m.polls > m.pollsUntilDone {
			_, _ = w.Write([]byte(`{"status":"done"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"pending"}`))
		return
	}
	var req connector.ActionRequest
	_ = json.Unmarshal(body, &req)
	m.asked = append(m.asked, req)
	w.WriteHeader(http.StatusAccepted)
	if m.pollsUntilDone > 0 {
		_, _ = w.Write([]byte(`{"status":"pending","poll_url":"http://` + r.Host + `/privacy/actions/1"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"pending"}`))
}

func (m *mailer) polled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.polls
}

func (m *mailer) requests() []connector.ActionRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.asked)
}

// withdrawalWaiting starts a desk whose map sends lms's consent withdrawal
// to the operator's HTTP system "mailer" (archive's sets its flag), files
// a consent withdrawal, approves its plan and waits until the mailer's
// step waits for its callback.
func withdrawalWaiting(t *testing.T) (*fulfilDesk, *deskPage, *mailer, int64) {
	t.Helper()
	return withdrawalTo(t, &mailer{}, "waiting")
}

// withdrawalTo is withdrawalWaiting with the operator's endpoint op, until
// the mailer's step is in state.
func withdrawalTo(t *testing.T, op *mailer, state string) (*fulfilDesk, *deskPage, *mailer, int64) {
	t.Helper()
	d := prepareFulfilDesk(t)
	b, err := os.ReadFile(d.mapFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "\nsystems:\n", "\nsystems:\n  mailer:\n    kind: http\n    url_env: MAILER_URL\n    secret_env: MAILER_SECRET\n", 1)
	// The first consent_withdrawal is lms's students'.
	text = strings.Replace(text, "    consent_withdrawal:\n      set: marketing_consent\n      value: false\n", "    consent_withdrawal:\n      http: mailer\n      action: unsubscribe\n", 1)
	if err := os.WriteFile(d.mapFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(op)
	t.Cleanup(ts.Close)
	d.start(t, map[string]string{"MAILER_URL": ts.URL + "/privacy/actions", "MAILER_SECRET": mailerSecret})
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref := d.file(t, request.ConsentWithdrawal, "ru", nil)
	p := openRequest(t, inst, "daniyar@school.example.kz", ref)
	identityChecked(p)
	_, page := p.post("plan", url.Values{})
	if !strings.Contains(html.UnescapeString(page), "действие «unsubscribe»") {
		t.Fatalf("the plan does not show the mailer's action: %q", refusedText(page))
	}
	p.done(p.post("plan/approve", url.Values{"digest": {shownDigest(t, page)}}))
	waitForState(t, inst, `SELECT count(*) FROM fulfilment_steps WHERE system = 'mailer' AND state = $1`, state)
	waitForState(t, inst, `SELECT count(*) FROM fulfilment_steps WHERE system = 'archive' AND state = 'done'`)
	inst.Settle(t)
	var stepID int64
	if err := inst.Pool.QueryRow(t.Context(), `SELECT id FROM fulfilment_steps WHERE system = 'mailer'`).Scan(&stepID); err != nil {
		t.Fatal(err)
	}
	return d, p, op, stepID
}

// callback POSTs an operator's callback to the portal, signed with secret
// at when, and returns the status code.
func callback(t *testing.T, inst *apptest.Instance, system, secret string, when time.Time, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, inst.URL+"/datamap/callback/"+system, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		signing.Sign(req.Header, secret, []byte(body), when)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestTheHTTPConnectorsCallbackCompletesAConsentWithdrawal(t *testing.T) {
	d, p, op, stepID := withdrawalWaiting(t)
	inst := d.inst
	asked := op.requests()
	if len(asked) != 1 || asked[0].Action != "unsubscribe" || asked[0].Identity.Email != "aigerim@example.kz" || asked[0].Identity.Phone != "" ||
		asked[0].CallbackURL != inst.URL+"/datamap/callback/mailer" {
		t.Fatalf("the mailer was asked %+v", asked)
	}
	if n := count(t, d.my, "SELECT count(*) FROM students WHERE id = 1 AND marketing_consent"); n != 0 {
		t.Error("archive's consent flag is still set")
	}
	if n := count(t, d.pg, "SELECT count(*) FROM students WHERE id = 1 AND marketing_consent"); n != 1 {
		t.Error("lms's flag changed, though the mailer's code does its withdrawal")
	}
	_, page := p.get()
	if !strings.Contains(html.UnescapeString(page), "Ждёт ответа системы") {
		t.Error("the page does not show the mailer's step waiting")
	}
	if !strings.Contains(html.UnescapeString(page), "Профиль ученика: принято, ответ ожидается") {
		t.Error("the page does not say the mailer took the withdrawal of the students' consent and its answer is awaited")
	}
	resp, page := p.complete(map[string]string{"response": "Согласие отозвано.", "step": "preview"}, "", nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("completing while the mailer's step waits: %d %q", resp.StatusCode, refusedText(page))
	}

	if code := callback(t, inst, "mailer", mailerSecret, time.Now(), `{"id":"`+asked[0].ID+`","status":"done"}`); code != http.StatusOK {
		t.Fatalf("the operator's callback: %d", code)
	}
	if n := inst.Count(t, `SELECT count(*) FROM fulfilment_steps WHERE id = $1 AND state = 'done'`, stepID); n != 1 {
		t.Fatal("the callback did not complete the step")
	}
	waitForState(t, inst, `SELECT count(*) FROM events WHERE kind = 'plan_executed'`)
	// The callback names no collection: what the mailer was asked is done.
	_, page = p.get()
	if shown := html.UnescapeString(page); strings.Contains(shown, "принято, ответ ожидается") || !strings.Contains(shown, "Профиль ученика: выполнено") {
		t.Error("after the callback the page does not show the mailer's call to the students' collection as done")
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'step_done' AND data->'calls'->>'students' = 'done'`); n != 1 {
		t.Errorf("%d step_done events record the students' call done, want 1", n)
	}
	resp, page = p.complete(map[string]string{"response": "Согласие отозвано.", "step": "preview"}, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d %q", resp.StatusCode, refusedText(page))
	}
	_, text, digest, _ := preview(t, page)
	if strings.Count(text, "Профиль ученика: ваше согласие отозвано") != 2 {
		t.Errorf("the email does not say the consent was withdrawn in both systems:\n%s", text)
	}
	p.done(p.complete(map[string]string{"response": "Согласие отозвано.", "step": "send", "digest": digest}, "", nil))
}

func TestAttackForgedReplayedOrUnknownCallbacksChangeNothing(t *testing.T) {
	d, _, op, stepID := withdrawalWaiting(t)
	inst := d.inst
	id := op.requests()[0].ID
	ref, _, _ := strings.Cut(id, "/")
	state := func() string {
		inst.Settle(t)
		var s string
		if err := inst.Pool.QueryRow(t.Context(), `SELECT string_agg(system || ':' || state, ',' ORDER BY id) || '|' ||
			(SELECT count(*) FROM events) FROM fulfilment_steps`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	done := `{"id":"` + id + `","status":"done"}`
	for name, tc := range map[string]struct {
		system, secret string
		when           time.Time
		body           string
		want           int
	}{
		"unsigned":               {"mailer", "", time.Now(), done, http.StatusUnauthorized},
		"signed with a guess":    {"mailer", "mailer secret", time.Now(), done, http.StatusUnauthorized},
		"signed an hour ago":     {"mailer", mailerSecret, time.Now().Add(-time.Hour), done, http.StatusUnauthorized},
		"signed for the future":  {"mailer", mailerSecret, time.Now().Add(time.Hour), done, http.StatusUnauthorized},
		"an unknown step":        {"mailer", mailerSecret, time.Now(), `{"id":"` + ref + `/mailer/999999","status":"done"}`, http.StatusNotFound},
		"another request's step": {"mailer", mailerSecret, time.Now(), `{"id":"RD-AAAA-BBBB-CCCC/mailer/` + fmt.Sprint(stepID) + `","status":"done"}`, http.StatusNotFound},
		"a database's step":      {"mailer", mailerSecret, time.Now(), `{"id":"` + ref + `/archive/` + fmt.Sprint(stepID-1) + `","status":"done"}`, http.StatusNotFound},
		"an unknown system":      {"crm", mailerSecret, time.Now(), done, http.StatusNotFound},
		"a database system":      {"archive", mailerSecret, time.Now(), done, http.StatusNotFound},
		"no id":                  {"mailer", mailerSecret, time.Now(), `{"status":"done"}`, http.StatusUnauthorized},
	} {
		if code := callback(t, inst, tc.system, tc.secret, tc.when, tc.body); code != tc.want {
			t.Errorf("%s: %d, want %d", name, code, tc.want)
		}
	}
	if got := state(); got != before {
		t.Fatalf("refused callbacks changed the steps or the events:\n%s\n%s", before, got)
	}

	// The true callback is taken once; replayed, or turned into a failure
	// and signed again, it finds no step waiting.
	if code := callback(t, inst, "mailer", mailerSecret, time.Now(), done); code != http.StatusOK {
		t.Fatalf("the true callback: %d", code)
	}
	after := state()
	for _, body := range []string{done, `{"id":"` + id + `","status":"failed","detail":"nope"}`} {
		if code := callback(t, inst, "mailer", mailerSecret, time.Now(), body); code != http.StatusNotFound {
			t.Errorf("replayed %s: %d, want 404", body, code)
		}
	}
	if got := state(); got != after || !strings.Contains(after, "mailer:done") {
		t.Errorf("the replays changed something: %s → %s", after, got)
	}
}

func TestAutoGatherStartsOnceTheIdentityIsEstablishedAndNeverAgain(t *testing.T) {
	d := newFulfilDesk(t, map[string]string{"AUTO_GATHER": "access"})
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref := d.file(t, request.Access, "ru", nil)
	erasure := d.file(t, request.Erasure, "ru", map[string]any{"email": "olga.petrova@example.ru"})
	sweep := func() int {
		t.Helper()
		n, err := inst.App.Fulfil.AutoGather(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sweep(); n != 0 || inst.Count(t, `SELECT count(*) FROM fulfilments`) != 0 {
		t.Fatalf("the sweep gathered %d before any identity was established", n)
	}
	p := openRequest(t, inst, "daniyar@school.example.kz", ref)
	identityChecked(p)
	identityChecked(openRequest(t, inst, "daniyar@school.example.kz", erasure))
	if n := sweep(); n != 1 {
		t.Fatalf("the sweep started %d gatherings, want the access request's", n)
	}
	waitForState(t, inst, `SELECT count(*) FROM fulfilments WHERE package_at IS NOT NULL`)
	inst.Settle(t)
	if n := sweep(); n != 0 || inst.Count(t, `SELECT count(*) FROM fulfilments`) != 1 {
		t.Errorf("a second sweep started %d more", n)
	}
	_, page := p.get()
	if !strings.Contains(html.UnescapeString(page), "кто начал: rightsdesk (автоматический сбор)") || !strings.Contains(page, `id="fulfil-package"`) {
		t.Error("the page does not show the automatic gathering and its package")
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'gathering_started' AND actor = 'system'`); n != 1 {
		t.Errorf("%d automatic gatherings logged as the system's", n)
	}
}

func TestWithoutADataMapTheRequestPageSaysNothingOfIt(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, _ := filed(t, inst, request.Erasure, "ru")
	setStatus(t, inst, ref, "new")
	p := openRequest(t, inst, "daniyar@school.example.kz", ref)
	_, page := p.get()
	if strings.Contains(page, `id="fulfil"`) || strings.Contains(page, "наших систем") {
		t.Error("the request page speaks of the data map without one")
	}
	if _, queue := inst.Get(t, p.c, "/staff"); strings.Contains(queue, `id="steps-failed"`) {
		t.Error("the queue offers the gathering-failed filter without a data map")
	}
	if resp, _ := p.post("plan", url.Values{}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the plan without a data map: %d, want 404", resp.StatusCode)
	}
	key := newAPIKey(t, inst, "Портал", auth.Agent)
	if code, _ := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/gather", ""); code != http.StatusNotFound {
		t.Errorf("API gather without a data map: %d, want 404", code)
	}
	if code, detail := apiCall(t, inst, key, "GET", "/api/v1/requests/"+ref, ""); code != http.StatusOK || detail["fulfilment"] != nil {
		t.Errorf("API detail without a data map: %d fulfilment=%v", code, detail["fulfilment"])
	}
}

func TestTheStaffAPIGathersOnlyOnceTheIdentityIsEstablished(t *testing.T) {
	d := newFulfilDesk(t, nil)
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	key := newAPIKey(t, inst, "Портал", auth.Agent)
	ref := d.file(t, request.Portability, "en", nil)
	if code, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/gather", ""); code != http.StatusConflict || !strings.Contains(fmt.Sprint(out), "личность заявителя не установлена") {
		t.Fatalf("API gather before the identity check: %d %v", code, out)
	}
	identityChecked(openRequest(t, inst, "daniyar@school.example.kz", ref))
	code, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/gather", "")
	if f, _ := out["fulfilment"].(map[string]any); code != http.StatusAccepted || f == nil || f["kind"] != "gather" {
		t.Fatalf("API gather: %d %v", code, out)
	}
	waitForState(t, inst, `SELECT count(*) FROM fulfilments WHERE package_at IS NOT NULL`)
	_, detail := apiCall(t, inst, key, "GET", "/api/v1/requests/"+ref, "")
	f := detail["fulfilment"].(map[string]any)
	pkg, _ := f["package"].(map[string]any)
	if f["done"] != true || pkg == nil || pkg["rows"].(float64) != 2*12 {
		t.Errorf("the API's fulfilment once gathered: %v", f)
	}
	for _, st := range f["steps"].([]any) {
		st := st.(map[string]any)
		if st["state"] != "done" || st["rows"].(map[string]any)["students"] == nil && st["rows"].(map[string]any)["archive_students"] == nil {
			t.Errorf("step %v", st)
		}
	}
	code, out = apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/transitions", `{"to":"completed","note":"Your data is attached.","access_package":true}`)
	if code != http.StatusOK || out["status"] != "completed" {
		t.Fatalf("API completion with the package: %d %v", code, out)
	}
	var sent []string
	for _, f := range inst.Files(t, ref) {
		if f.Purpose == request.FileResponse {
			sent = append(sent, f.Name)
			if got := zipFiles(t, inst.FileContent(t, f.ID)); got["data.json"] == "" {
				t.Error("the answer's file is no access package")
			}
		}
	}
	if !slices.Equal(sent, []string{"personal-data-" + ref + ".zip"}) {
		t.Errorf("the answer's files: %v, want the package", sent)
	}
}

func TestARectificationChangesOnlyTheFieldsStaffChoseThroughTheAPI(t *testing.T) {
	d := newFulfilDesk(t, nil)
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	key := newAPIKey(t, inst, "Портал", auth.Agent)
	ref := d.file(t, request.Rectification, "ru", nil)
	identityChecked(openRequest(t, inst, "daniyar@school.example.kz", ref))
	path := "/api/v1/requests/" + ref
	if code, out := apiCall(t, inst, key, "POST", path+"/plan", `{}`); code != http.StatusUnprocessableEntity {
		t.Errorf("a rectification's plan without corrections: %d %v", code, out)
	}
	if code, out := apiCall(t, inst, key, "POST", path+"/plan", `{"corrections":[{"collection":"students","field":"shoe_size","value":"42"}]}`); code != http.StatusUnprocessableEntity {
		t.Errorf("a correction of a field the map lacks: %d %v", code, out)
	}
	body := `{"corrections":[{"collection":"students","field":"full_name","value":"Айгерім Нұрланова"}]}`
	code, pl := apiCall(t, inst, key, "POST", path+"/plan", body)
	if code != http.StatusOK || pl["digest"] == nil {
		t.Fatalf("plan: %d %v", code, pl)
	}
	pristinePG, pristineMy := snapshot(t, d.pg), snapshot(t, d.my)
	if code, out := apiCall(t, inst, key, "POST", path+"/plan/approve", body); code != http.StatusUnprocessableEntity {
		t.Errorf("approving without a digest: %d %v", code, out)
	}
	other := `{"corrections":[{"collection":"students","field":"full_name","value":"Someone Else"}],"digest":"` + pl["digest"].(string) + `"}`
	if code, out := apiCall(t, inst, key, "POST", path+"/plan/approve", other); code != http.StatusConflict || out["plan"] == nil {
		t.Errorf("approving other corrections under the digest shown: %d %v", code, out)
	}
	if inst.Count(t, `SELECT count(*) FROM fulfilments`) != 0 || snapshot(t, d.pg) != pristinePG {
		t.Fatal("a refused approval changed something")
	}
	approve := strings.TrimSuffix(body, "}") + `,"digest":"` + pl["digest"].(string) + `"}`
	if code, out := apiCall(t, inst, key, "POST", path+"/plan/approve", approve); code != http.StatusAccepted {
		t.Fatalf("approve: %d %v", code, out)
	}
	waitForState(t, inst, `SELECT count(*) FROM events WHERE kind = 'plan_executed'`)
	if n := count(t, d.pg, "SELECT count(*) FROM students WHERE id = 1 AND full_name = 'Айгерім Нұрланова'"); n != 1 {
		t.Error("the chosen field is not corrected")
	}
	want := strings.Replace(pristinePG, "Айгерім Нұрланқызы", "Айгерім Нұрланова", 1)
	if got := snapshot(t, d.pg); got != want {
		t.Errorf("the rectification changed more than the field:\n%s\nwant\n%s", got, want)
	}
	if snapshot(t, d.my) != pristineMy {
		t.Error("the rectification changed the system it does not name")
	}
}

func TestARestrictionSetsTheMapsFlagForThePersonAlone(t *testing.T) {
	d := newFulfilDesk(t, nil)
	inst := d.inst
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref := d.file(t, request.Restriction, "kk", nil)
	p := openRequest(t, inst, "daniyar@school.example.kz", ref)
	identityChecked(p)
	_, page := p.post("plan", url.Values{})
	p.done(p.post("plan/approve", url.Values{"digest": {shownDigest(t, page)}}))
	waitForState(t, inst, `SELECT count(*) FROM events WHERE kind = 'plan_executed'`)
	for _, srv := range []testkit.LMSServer{d.pg, d.my} {
		if n := count(t, srv, "SELECT count(*) FROM students WHERE processing_restricted"); n != 1 {
			t.Errorf("%s: %d students restricted, want Aigerim alone", srv.Kind, n)
		}
		if n := count(t, srv, "SELECT count(*) FROM students WHERE id = 1 AND processing_restricted"); n != 1 {
			t.Errorf("%s: Aigerim is not restricted", srv.Kind)
		}
	}
	resp, page := p.complete(map[string]string{"response": "Өңдеу шектелді.", "step": "preview"}, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d %q", resp.StatusCode, refusedText(page))
	}
	if _, text, _, _ := preview(t, page); strings.Count(text, "Оқушы профилі: өңдеу шектелді.") != 2 {
		t.Errorf("the email does not say what was restricted, in Kazakh:\n%s", text)
	}
}

func TestWithoutACallbackTheOperatorsSystemIsPolledUntilItIsDone(t *testing.T) {
	op := &mailer{pollsUntilDone: 2}
	d, _, _, stepID := withdrawalTo(t, op, "done")
	inst := d.inst
	waitForState(t, inst, `SELECT count(*) FROM events WHERE kind = 'plan_executed'`)
	inst.Settle(t)
	if n := op.polled(); n != 3 {
		t.Errorf("the operator was polled %d times, want until its third answer said done", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'step_waiting' AND (data->>'step_id')::bigint = $1`, stepID); n != 1 {
		t.Errorf("%d waiting events, want one however many polls", n)
	}
	if n := len(op.requests()); n != 1 {
		t.Errorf("the action was asked %d times, want once", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM fulfilment_steps WHERE id = $1 AND result = '{"calls": {"students": "done"}}'`, stepID); n != 1 {
		t.Error("the polled step does not record the students' call as done")
	}
}
