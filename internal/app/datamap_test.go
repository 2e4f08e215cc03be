package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rightsdesk/internal/app"
	"rightsdesk/internal/testkit"
)

func runDatamap(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	return runWith(t, vars, append([]string{"datamap"}, args...)...)
}

func lmsVars(srv testkit.LMSServer) map[string]string {
	return map[string]string{
		"DATA_MAP_FILE":           testkit.RepoFile("deploy", "datamaps", "lms-example.yaml"),
		"LMS_DATABASE_URL":        srv.Reader,
		"LMS_DATABASE_CHANGE_URL": srv.Changer,
		"LMS_ERASURE_HASH_KEY":    testkit.LMSHashKey,
	}
}

func TestDatamapCheckPassesOnTheExampleAndNamesEachProblemByLine(t *testing.T) {
	srv := testkit.LMSPostgres(t)
	vars := lmsVars(srv)
	code, stdout, stderr := runDatamap(t, vars, "check")
	if code != 0 || !strings.Contains(stdout, "1 database system(s), 8 collection(s): every table and column is there") {
		t.Fatalf("check on the example: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	testkit.Exec(t, srv.DB, "ALTER TABLE students RENAME COLUMN city TO town", "ALTER TABLE forum_posts RENAME TO posts")
	code, stdout, _ = runDatamap(t, vars, "check")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 1 || len(lines) != 2 {
		t.Fatalf("check after renaming: exit %d, lines %q; want 1 and two lines", code, lines)
	}
	file := vars["DATA_MAP_FILE"]
	for i, want := range []string{": collection students: column students.city does not exist", ": collection forum_posts: table forum_posts does not exist"} {
		if !strings.HasPrefix(lines[i], file+":") || !strings.HasSuffix(strings.TrimSuffix(lines[i], " (or the read credentials cannot see it)"), want) {
			t.Errorf("line %d = %q, want %s:N%s", i+1, lines[i], file, want)
		}
	}

	delete(vars, "LMS_DATABASE_URL")
	code, stdout, _ = runDatamap(t, vars, "check")
	if code != 1 || !strings.Contains(stdout, "LMS_DATABASE_URL (or LMS_DATABASE_URL_FILE): not set") {
		t.Errorf("without the read credentials: exit %d, %q", code, stdout)
	}
}

func TestDatamapPlanPrintsWhatAnErasureWouldDoAndChangesNothing(t *testing.T) {
	srv := testkit.LMSPostgres(t)
	vars := lmsVars(srv)
	delete(vars, "LMS_DATABASE_CHANGE_URL") // a plan needs only to read
	code, stdout, stderr := runDatamap(t, vars, "plan", "--type", "erasure", "--email", "Aigerim@example.kz")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, "LMS_DATABASE_CHANGE_URL") {
		t.Errorf("stderr %q: want a warning that changes wait for LMS_DATABASE_CHANGE_URL", stderr)
	}
	var out struct {
		Systems []struct {
			Name        string `json:"name"`
			Collections []struct {
				Name   string `json:"name"`
				Rows   int64  `json:"rows"`
				Action string `json:"action"`
				Fields []struct {
					Name, Change string
				} `json:"fields"`
			} `json:"collections"`
		} `json:"systems"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("stdout is no JSON: %v\n%s", err, stdout)
	}
	if len(out.Systems) != 1 || out.Systems[0].Name != "lms" || len(out.Systems[0].Collections) != 8 {
		t.Fatalf("plan = %s", stdout)
	}
	got := map[string]string{}
	for _, c := range out.Systems[0].Collections {
		got[c.Name] = fmt.Sprintf("%s %d", c.Action, c.Rows)
	}
	want := map[string]string{"students": "update 1", "guardians": "delete 1", "enrolments": "keep 2", "certificates": "keep 1",
		"payments": "update 2", "forum_posts": "delete 2", "messages": "update 1", "login_log": "delete 2"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	var n int
	if err := srv.DB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM login_log").Scan(&n); err != nil || n != 4 {
		t.Errorf("login_log has %d rows (%v): the plan changed something", n, err)
	}
	code, _, stderr = runDatamap(t, vars, "plan", "--type", "shredding", "--email", "a@example.kz")
	if code != 1 || !strings.Contains(stderr, "--type: want one of access, portability, erasure") {
		t.Errorf("unknown type: exit %d, %q", code, stderr)
	}
}

func TestDatamapCommandsWithoutAMapSayHowToGiveOne(t *testing.T) {
	code, _, stderr := runDatamap(t, map[string]string{}, "check")
	if code != 1 || !strings.Contains(stderr, "DATA_MAP_FILE is not set") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// TestServeRefusesAMapWithMistakesOrWithoutItsReadCredentials: both are
// found before anything starts; a system that is merely down is not (its
// steps wait for it), which TestADownSystemFailsRetryablyAndTheRetrySucceeds
// in internal/connector covers.
func TestServeRefusesAMapWithMistakesOrWithoutItsReadCredentials(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "map.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nidentities: [email]\nsystems: {}\ncollections: {}\nfavourite: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		vars map[string]string
		want string
	}{
		"a mistake in the map": {map[string]string{"DATA_MAP_FILE": bad}, bad + `:5: unknown key "favourite"`},
		"no read credentials": {map[string]string{"DATA_MAP_FILE": testkit.RepoFile("deploy", "datamaps", "lms-example.yaml")},
			"system lms: read_url_env: LMS_DATABASE_URL (or LMS_DATABASE_URL_FILE): not set"},
	} {
		var stdout, stderr bytes.Buffer
		tc.vars["LISTEN_ADDR"] = "127.0.0.1:0"
		tc.vars["RIGHTSDESK_DATA_DIR"] = t.TempDir()
		code := app.Main(t.Context(), []string{"serve"}, func(n string) (string, bool) { v, ok := tc.vars[n]; return v, ok }, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", name, code, stderr.String(), tc.want)
		}
	}
}
