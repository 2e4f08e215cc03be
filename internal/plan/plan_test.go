package plan_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"rightsdesk/internal/connector"
	"rightsdesk/internal/identifier"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.MainWithMySQL(m)) }

func servers(t *testing.T, fn func(t *testing.T, srv testkit.LMSServer)) {
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, testkit.LMSPostgres(t)) })
	t.Run("mariadb", func(t *testing.T) { t.Parallel(); fn(t, testkit.LMSMySQL(t)) })
}

var aigerim = identifier.Identity{Email: "aigerim@example.kz"}

// snapshot is every row of a table as text, keyed by id, for comparing
// before and after.
func snapshot(t *testing.T, db *sql.DB, table string) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT * FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]string{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v;", cols[i], v)
		}
		out[fmt.Sprint(vals[0])] = b.String()
		if bs, ok := vals[0].([]byte); ok {
			delete(out, fmt.Sprint(vals[0]))
			out[string(bs)] = b.String()
		}
	}
	return out
}

var tables = []string{"students", "guardians", "enrolments", "certificates", "payments", "forum_posts", "messages", "login_log", "courses"}

func find(p plan.Plan, system, collection string) *plan.Collection {
	for _, s := range p.Systems {
		for i, c := range s.Collections {
			if s.Name == system && c.Name == collection {
				return &s.Collections[i]
			}
		}
	}
	return nil
}

func field(c *plan.Collection, name string) plan.Field {
	for _, f := range c.Fields {
		if f.Name == name {
			return f
		}
	}
	return plan.Field{}
}

// TestErasureMasksAndDeletesWhatTheMapSaysKeepsWhatIsExemptAndLeavesOthersAlone:
// the plan says what will happen without changing anything; executing the
// plan (after a JSON round trip, as the later stage will store it) does
// exactly that; other students' rows do not change by a byte.
func TestErasureMasksAndDeletesWhatTheMapSaysKeepsWhatIsExemptAndLeavesOthersAlone(t *testing.T) {
	servers(t, func(t *testing.T, srv testkit.LMSServer) {
		m, env := testkit.LMSMap(t, srv, nil)
		systems := connector.New(m, env)
		t.Cleanup(func() { systems.Close() })
		before := map[string]map[string]string{}
		for _, tb := range tables {
			before[tb] = snapshot(t, srv.DB, tb)
		}

		p, err := plan.Make(t.Context(), systems, plan.Erasure, aigerim, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if got := snapshot(t, srv.DB, tb); fmt.Sprint(got) != fmt.Sprint(before[tb]) {
				t.Fatalf("making the plan changed %s", tb)
			}
		}
		want := map[string]struct {
			action string
			rows   int64
		}{
			"students": {plan.ActionUpdate, 1}, "guardians": {plan.ActionDelete, 1}, "enrolments": {plan.ActionKeep, 2},
			"certificates": {plan.ActionKeep, 1}, "payments": {plan.ActionUpdate, 2}, "forum_posts": {plan.ActionDelete, 2},
			"messages": {plan.ActionUpdate, 1}, "login_log": {plan.ActionDelete, 2},
		}
		for name, w := range want {
			c := find(p, "lms", name)
			if c == nil || c.Action != w.action || c.Rows != w.rows {
				t.Errorf("plan %s = %+v, want action %s on %d rows", name, c, w.action, w.rows)
			}
		}
		if f := field(find(p, "lms", "payments"), "amount"); f.Change != "keep" || f.Reason != "tax_law" || f.KeepFor != "5y" {
			t.Errorf("plan payments.amount = %+v, want kept 5y for tax_law", f)
		}
		if f := field(find(p, "lms", "students"), "email"); f.Change != "hash" {
			t.Errorf("plan students.email = %+v, want hash", f)
		}

		// Stored and read back as the approval will keep it.
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var approved plan.Plan
		if err := json.Unmarshal(raw, &approved); err != nil {
			t.Fatal(err)
		}
		res, err := plan.ExecuteSystem(t.Context(), systems, approved, "lms", plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		wantChanged := map[string]int64{"students": 1, "guardians": 1, "payments": 2, "forum_posts": 2, "messages": 1, "login_log": 2}
		if fmt.Sprint(res.Rows) != fmt.Sprint(wantChanged) {
			t.Errorf("rows changed = %v, want %v", res.Rows, wantChanged)
		}

		// Her student row: masked as the map says.
		var login, email, fullName string
		var phone, birth, city sql.NullString
		if err := srv.DB.QueryRowContext(t.Context(), "SELECT login, email, phone, full_name, birth_date, city FROM students WHERE id = 1").
			Scan(&login, &email, &phone, &fullName, &birth, &city); err != nil {
			t.Fatal(err)
		}
		key := []byte(testkit.LMSHashKey)
		if email != connector.Hash(key, "aigerim@example.kz") {
			t.Errorf("email = %q, want the keyed hash of aigerim@example.kz", email)
		}
		if login != connector.Hash(key, "aigerim.n") {
			t.Errorf("login = %q, want the keyed hash of aigerim.n", login)
		}
		if fullName != "[удалено]" || phone.Valid || birth.Valid || city.Valid {
			t.Errorf("full_name %q, phone %v, birth_date %v, city %v: want [удалено] and NULLs", fullName, phone, birth, city)
		}
		// Kept: payments (card digits gone), enrolments and her certificate.
		after := map[string]map[string]string{}
		for _, tb := range tables {
			after[tb] = snapshot(t, srv.DB, tb)
		}
		for _, id := range []string{"1", "2"} {
			if !strings.Contains(after["payments"][id], "amount=") || !strings.Contains(after["payments"][id], "card_last4=<nil>") {
				t.Errorf("payment %s = %s, want kept with card_last4 NULL", id, after["payments"][id])
			}
			if after["enrolments"][id] != before["enrolments"][id] {
				t.Errorf("enrolment %s changed: it is kept for education law", id)
			}
		}
		if after["certificates"]["1"] != before["certificates"]["1"] {
			t.Error("her certificate changed: it is kept")
		}
		for tb, ids := range map[string][]string{"forum_posts": {"1", "3"}, "login_log": {"1", "2"}, "guardians": {"1"}} {
			for _, id := range ids {
				if _, ok := after[tb][id]; ok {
					t.Errorf("%s %s is still there: erasure deletes it", tb, id)
				}
			}
		}
		if !strings.Contains(after["messages"]["1"], "body=[сообщение удалено]") {
			t.Errorf("message 1 = %s, want its body replaced", after["messages"]["1"])
		}
		// Nobody else's row changed: not Daniyar's message to her, not his
		// post, not any other student.
		for _, tb := range tables {
			for id, row := range before[tb] {
				mine := map[string][]string{"students": {"1"}, "guardians": {"1"}, "payments": {"1", "2"}, "forum_posts": {"1", "3"}, "messages": {"1"}, "login_log": {"1", "2"}}[tb]
				if contains(mine, id) {
					continue
				}
				if after[tb][id] != row {
					t.Errorf("%s %s is another student's and changed:\n was %s\n now %s", tb, id, row, after[tb][id])
				}
			}
		}

		// A second run of the approved plan changes nothing.
		res, err = plan.ExecuteSystem(t.Context(), systems, approved, "lms", plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for name, n := range res.Rows {
			if n != 0 {
				t.Errorf("second run changed %d rows of %s", n, name)
			}
		}
		for _, tb := range tables {
			if fmt.Sprint(snapshot(t, srv.DB, tb)) != fmt.Sprint(after[tb]) {
				t.Errorf("second run changed %s", tb)
			}
		}
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestASecondErasureOfRowsStillFoundChangesNothing: with the email kept
// (so her rows are still found after the first run), the second run finds
// every row already erased — NULL stays NULL, a keyed hash is not hashed
// again, a fixed value is not rewritten — and the plan then shows 0 rows.
func TestASecondErasureOfRowsStillFoundChangesNothing(t *testing.T) {
	servers(t, func(t *testing.T, srv testkit.LMSServer) {
		m, env := testkit.LMSMap(t, srv, func(s string) string {
			return strings.Replace(s, "en: Email}\n        category: contact\n        purpose: study\n        erase: hash",
				"en: Email}\n        category: contact\n        purpose: study\n        erase: keep\n        reason: tax_law\n        keep_for: 5y", 1)
		})
		systems := connector.New(m, env)
		t.Cleanup(func() { systems.Close() })
		p, err := plan.Make(t.Context(), systems, plan.Erasure, aigerim, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plan.Execute(t.Context(), systems, p, plan.Options{}); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, srv.DB, "students")
		res, err := plan.Execute(t.Context(), systems, p, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n := res[0].Rows["students"]; n != 0 {
			t.Errorf("second run changed %d student rows, want 0", n)
		}
		if fmt.Sprint(snapshot(t, srv.DB, "students")) != fmt.Sprint(before) {
			t.Error("second run changed the students table")
		}
		again, err := plan.Make(t.Context(), systems, plan.Erasure, aigerim, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range again.Systems[0].Collections {
			if c.Action != plan.ActionKeep && c.Rows != 0 {
				t.Errorf("after erasure the plan still changes %d rows of %s", c.Rows, c.Name)
			}
		}
		if c := find(again, "lms", "students"); c == nil || c.Rows != 0 {
			t.Errorf("students in the second plan: %+v, want 0 rows to change", c)
		}
	})
}

func TestRectificationRestrictionAndWithdrawalChangeOnlyHerRowOnce(t *testing.T) {
	servers(t, func(t *testing.T, srv testkit.LMSServer) {
		m, env := testkit.LMSMap(t, srv, nil)
		systems := connector.New(m, env)
		t.Cleanup(func() { systems.Close() })
		others := func() string {
			s := snapshot(t, srv.DB, "students")
			delete(s, "1")
			return fmt.Sprint(s)
		}
		before := others()
		for _, tc := range []struct {
			typ   plan.Type
			corr  []plan.Correction
			check string
		}{
			{plan.Rectification, []plan.Correction{{Collection: "students", Field: "city", Value: "Шымкент"}}, "SELECT COUNT(*) FROM students WHERE id = 1 AND city = 'Шымкент'"},
			{plan.Restriction, nil, "SELECT COUNT(*) FROM students WHERE id = 1 AND processing_restricted = TRUE"},
			{plan.ConsentWithdrawal, nil, "SELECT COUNT(*) FROM students WHERE id = 1 AND marketing_consent = FALSE"},
		} {
			p, err := plan.Make(t.Context(), systems, tc.typ, aigerim, tc.corr)
			if err != nil {
				t.Fatalf("%s: %v", tc.typ, err)
			}
			if c := find(p, "lms", "students"); c == nil || c.Rows != 1 || c.Action != plan.ActionUpdate {
				t.Errorf("%s plan: %+v, want one row to update", tc.typ, c)
			}
			for run, want := range []int64{1, 0} {
				res, err := plan.ExecuteSystem(t.Context(), systems, p, "lms", plan.Options{})
				if err != nil {
					t.Fatalf("%s: %v", tc.typ, err)
				}
				if res.Rows["students"] != want {
					t.Errorf("%s run %d changed %d rows, want %d", tc.typ, run+1, res.Rows["students"], want)
				}
			}
			var n int
			if err := srv.DB.QueryRowContext(t.Context(), tc.check).Scan(&n); err != nil || n != 1 {
				t.Errorf("%s: her row was not changed (%v)", tc.typ, err)
			}
		}
		if others() != before {
			t.Error("another student's row changed")
		}
	})
}

// TestAPlanMadeUnderAnotherMapIsNotExecuted: approval covers the plan as it
// was shown; a changed map needs a new plan.
func TestAPlanMadeUnderAnotherMapIsNotExecuted(t *testing.T) {
	srv := testkit.LMSPostgres(t)
	m, env := testkit.LMSMap(t, srv, nil)
	systems := connector.New(m, env)
	t.Cleanup(func() { systems.Close() })
	p, err := plan.Make(t.Context(), systems, plan.Erasure, aigerim, nil)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := testkit.LMSMap(t, srv, func(s string) string {
		return strings.Replace(s, "erase: \"null\"", "erase: value\n        value: \"\"", 1)
	})
	other := connector.New(m2, env)
	t.Cleanup(func() { other.Close() })
	if _, err := plan.ExecuteSystem(t.Context(), other, p, "lms", plan.Options{}); err != plan.ErrStale {
		t.Fatalf("err = %v, want ErrStale", err)
	}
	var n int
	if err := srv.DB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM forum_posts").Scan(&n); err != nil || n != 4 {
		t.Errorf("forum posts = %d (%v): the stale plan changed something", n, err)
	}
}

// TestGatheringNeedsOnlyTheReadCredentialsAndChangesRefuseThem: reading
// works with the role that can only SELECT; the erasure uses the change
// role, and without one the system's changes fail with the reason.
func TestChangesNeedTheChangeCredentials(t *testing.T) {
	srv := testkit.LMSPostgres(t)
	m, env := testkit.LMSMap(t, srv, nil)
	noChange := func(name string) (string, bool) {
		if name == "LMS_DATABASE_CHANGE_URL" {
			return "", false
		}
		return env(name)
	}
	systems := connector.New(m, noChange)
	t.Cleanup(func() { systems.Close() })
	p, err := plan.Make(t.Context(), systems, plan.Erasure, aigerim, nil)
	if err != nil {
		t.Fatalf("the plan needs only the read credentials: %v", err)
	}
	_, err = plan.ExecuteSystem(t.Context(), systems, p, "lms", plan.Options{})
	if err == nil || connector.IsRetryable(err) || !strings.Contains(err.Error(), "LMS_DATABASE_CHANGE_URL") {
		t.Fatalf("err = %v, want a non-retryable error naming LMS_DATABASE_CHANGE_URL", err)
	}
	// The read role cannot write even if it were handed the changes.
	readOnly := func(name string) (string, bool) {
		if name == "LMS_DATABASE_CHANGE_URL" {
			return srv.Reader, true
		}
		return env(name)
	}
	ro := connector.New(m, readOnly)
	t.Cleanup(func() { ro.Close() })
	if _, err := plan.ExecuteSystem(t.Context(), ro, p, "lms", plan.Options{}); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("erasure with the read role: err = %v, want permission denied", err)
	}
	var n int
	if err := srv.DB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM login_log").Scan(&n); err != nil || n != 4 {
		t.Errorf("login_log = %d rows (%v): a failed transaction changed something", n, err)
	}
}
