package app_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rightsdesk/internal/app"
	"rightsdesk/internal/testkit"
)

// runWith runs a command with vars as its whole environment.
func runWith(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = app.Main(t.Context(), args, func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// operatorsFileAt writes file to a temporary operators file and returns its path.
func operatorsFileAt(t *testing.T, file string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deadline --operator answers with the named operator's rules: Webstapero
// keeps the default preset (30 calendar days), Flextok is given ru152's
// (10 working days, earlier than its promise of 30 days).
// With several operators and none named, the command says which there are.
func TestDeadlineUsesTheRulesOfTheOperatorNamed(t *testing.T) {
	vars := map[string]string{"OPERATORS_FILE": operatorsFileAt(t, issueOperatorsFile+"    DEADLINE_PRESET: ru152\n")}
	args := []string{"deadline", "--type", "access", "--received", "2026-03-02T10:00:00+05:00"}
	if code, _, errOut := runWith(t, vars, args...); code == 0 || !strings.Contains(errOut, "--operator SLUG is required: OPERATORS_FILE names 2 operators: webstapero, flextok") {
		t.Errorf("deadline without --operator: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runWith(t, vars, append(args, "--operator", "elsewhere")...); code == 0 || !strings.Contains(errOut, `--operator: no operator "elsewhere"`) {
		t.Errorf("deadline --operator elsewhere: exit %d, %q", code, errOut)
	}
	due := map[string]string{}
	for _, slug := range []string{"webstapero", "flextok"} {
		code, out, errOut := runWith(t, vars, append(args, "--operator", slug)...)
		var res struct {
			DueAt string `json:"due_at"`
		}
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
			t.Fatalf("deadline --operator %s: exit %d, %s %s", slug, code, out, errOut)
		}
		due[slug] = res.DueAt
	}
	// 30 calendar days from 2 March end with 1 April; 10 working days
	// within March.
	if due["webstapero"] != "2026-04-01T23:59:59+05:00" || !strings.HasPrefix(due["flextok"], "2026-03-") {
		t.Errorf("due dates: webstapero %s (want the end of 1 April), flextok %s (want 10 working days later, in March)", due["webstapero"], due["flextok"])
	}
	// A deployment of one operator answers as it always did.
	code, out, errOut := runWith(t, map[string]string{}, args...)
	if code != 0 || !strings.Contains(out, `"due_at": "2026-04-01T23:59:59+05:00"`) {
		t.Errorf("deadline with one operator: exit %d, %s %s", code, out, errOut)
	}
}

// datamap check and plan --operator read the named operator's data map
// with its own credentials: Webstapero's system answers; Flextok's map
// names a variable only its own set-up has, which this one lacks.
func TestDatamapCommandsUseTheMapOfTheOperatorNamed(t *testing.T) {
	lms := testkit.LMSPostgres(t)
	example, err := os.ReadFile(testkit.RepoFile("deploy", "datamaps", "lms-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	flexMap := filepath.Join(t.TempDir(), "flextok.yaml")
	flexText := strings.NewReplacer("LMS_DATABASE_URL", "FLEXTOK_LMS_URL", "LMS_DATABASE_CHANGE_URL", "FLEXTOK_LMS_CHANGE_URL").Replace(string(example))
	if err := os.WriteFile(flexMap, []byte(flexText), 0o600); err != nil {
		t.Fatal(err)
	}
	file := strings.Replace(issueOperatorsFile, "    PRIVACY_CONTACT_EMAIL: privacy@webstapero.kz\n",
		"    PRIVACY_CONTACT_EMAIL: privacy@webstapero.kz\n    DATA_MAP_FILE: "+testkit.RepoFile("deploy", "datamaps", "lms-example.yaml")+"\n", 1)
	file += "    DATA_MAP_FILE: " + flexMap + "\n"
	vars := map[string]string{"OPERATORS_FILE": operatorsFileAt(t, file), "LMS_ERASURE_HASH_KEY": testkit.LMSHashKey,
		"LMS_DATABASE_URL": lms.Reader, "LMS_DATABASE_CHANGE_URL": lms.Changer}
	plan := []string{"datamap", "plan", "--type", "access", "--email", "aigerim@example.kz"}
	for _, args := range [][]string{{"datamap", "check"}, plan} {
		if code, _, errOut := runWith(t, vars, args...); code == 0 || !strings.Contains(errOut, "--operator SLUG is required: OPERATORS_FILE names 2 operators: webstapero, flextok") {
			t.Errorf("%v without --operator: exit %d, %q", args, code, errOut)
		}
	}
	if code, out, errOut := runWith(t, vars, "datamap", "check", "--operator", "webstapero"); code != 0 || !strings.Contains(out, "lms-example.yaml: 1 database system(s)") {
		t.Errorf("datamap check --operator webstapero: exit %d, %s %s", code, out, errOut)
	}
	if code, out, errOut := runWith(t, vars, "datamap", "check", "--operator", "flextok"); code == 0 || !strings.Contains(out+errOut, "FLEXTOK_LMS_URL") {
		t.Errorf("datamap check --operator flextok: exit %d, want its own map's missing FLEXTOK_LMS_URL: %s %s", code, out, errOut)
	}
	if code, out, errOut := runWith(t, vars, append(plan, "--operator", "webstapero")...); code != 0 || !strings.Contains(out, `"systems"`) || !strings.Contains(out, "lms") {
		t.Errorf("datamap plan --operator webstapero: exit %d, %s %s", code, out, errOut)
	}
	if code, out, errOut := runWith(t, vars, append(plan, "--operator", "flextok")...); code == 0 || !strings.Contains(out+errOut, "FLEXTOK_LMS_URL") {
		t.Errorf("datamap plan --operator flextok: exit %d, %s %s", code, out, errOut)
	}
}
