package app_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/testkit"
)

func runOperatorCommand(t *testing.T, file string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"OPERATORS_FILE": path}
	var out, errOut bytes.Buffer
	code = app.Main(t.Context(), append([]string{"operator"}, args...), func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, &out, &errOut)
	return code, out.String(), errOut.String()
}

const issueOperators = `operators:
  - slug: webstapero
    BASE_URL: https://privacy.webstapero.kz
    ORG_NAME: Webstapero Dev Notes
  - slug: flextok
    BASE_URL: https://privacy.flextokxumare.kz
    ORG_NAME: Flextok Xumare
    PRIVACY_CONTACT_EMAIL: help@flextokxumare.kz
    PROMISED_DAYS: 30
`

func TestOperatorListShowsEachOperatorOfTheFile(t *testing.T) {
	code, out, errOut := runOperatorCommand(t, issueOperators, "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "webstapero") || !strings.Contains(lines[1], "https://privacy.webstapero.kz") ||
		!strings.Contains(lines[2], "Flextok Xumare") || !strings.Contains(lines[2], "help@flextokxumare.kz") {
		t.Errorf("list printed:\n%s", out)
	}
}

func TestOperatorCheckNamesTheOperatorAndKeyOfEveryMistake(t *testing.T) {
	code, _, errOut := runOperatorCommand(t, issueOperators+"    LISTEN_ADDR: :9090\n", "check")
	if code != 1 || !strings.Contains(errOut, `operator "flextok": LISTEN_ADDR: unknown key (line 10)`) {
		t.Errorf("exit %d, said %q", code, errOut)
	}
	if code, out, _ := runOperatorCommand(t, issueOperators, "check"); code != 0 || out != "2 operator(s), no mistakes\n" {
		t.Errorf("a good file: exit %d, %q", code, out)
	}
}

func TestServeRefusesToStartOnAMistakeInTheOperatorsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(issueOperators+"    PROMISED_UNIT: fortnights\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"OPERATORS_FILE": path, "RIGHTSDESK_DATA_DIR": t.TempDir()}
	var out, errOut bytes.Buffer
	code := app.Main(t.Context(), []string{"serve"}, func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), `operator "flextok": PROMISED_UNIT:`) {
		t.Errorf("serve exited %d saying %q", code, errOut.String())
	}
}

// With several operators an account is made for one of them: its
// membership is that operator's, in the role given; without --operator the
// command says which it needs rather than guess.
func TestUserAddWithSeveralOperatorsMakesAMemberOfTheOneNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(issueOperators), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := testkit.DBURL(t)
	vars := map[string]string{"OPERATORS_FILE": path, "DATABASE_URL": dbURL, "ENCRYPTION_KEY": testkit.EncryptionKey}
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		ctx := app.WithStdin(t.Context(), strings.NewReader(apptest.StaffPassword+"\n"))
		code := app.Main(ctx, args, func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	add := []string{"user", "add", "--email", "dana@flextokxumare.kz", "--name", "Дана", "--role", "agent"}
	if code, out := run(add...); code == 0 || !strings.Contains(out, "--operator SLUG is required") {
		t.Errorf("without --operator: exit %d, %q", code, out)
	}
	if code, out := run(append(add, "--operator", "elsewhere")...); code == 0 || !strings.Contains(out, `no operator "elsewhere"`) {
		t.Errorf("an unknown operator: exit %d, %q", code, out)
	}
	if code, out := run(append(add, "--operator", "flextok")...); code != 0 {
		t.Fatalf("user add --operator flextok: exit %d, %q", code, out)
	}
	pool, err := opscope.NewPool(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var flextok int64
	if err := pool.QueryRow(t.Context(), `SELECT id FROM operators WHERE slug = 'flextok'`).Scan(&flextok); err != nil {
		t.Fatal(err)
	}
	var slug, role string
	err = pool.QueryRow(opscope.With(t.Context(), flextok), `SELECT o.slug, m.role FROM staff_operators m JOIN operators o ON o.id = m.operator_id
		JOIN staff s ON s.id = m.staff_id WHERE s.email = 'dana@flextokxumare.kz'`).Scan(&slug, &role)
	if err != nil || slug != "flextok" || role != "agent" {
		t.Errorf("the account's membership: %q %q (%v), want an agent of flextok", slug, role, err)
	}
}

// An API key is made for one operator (--operator, required with several),
// listed and revoked with that operator's keys only.
func TestAPIKeysAreMadeAndListedPerOperator(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(issueOperators), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"OPERATORS_FILE": path, "DATABASE_URL": testkit.DBURL(t), "ENCRYPTION_KEY": testkit.EncryptionKey}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := app.Main(t.Context(), args, func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	create := []string{"apikey", "create", "--name", "LMS", "--role", "agent"}
	if code, _, errOut := run(create...); code == 0 || !strings.Contains(errOut, "--operator SLUG is required") {
		t.Errorf("without --operator: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(append(create, "--operator", "elsewhere")...); code == 0 || !strings.Contains(errOut, `no operator "elsewhere"`) {
		t.Errorf("an unknown operator: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run("apikey", "create", "--name", "Flextok CRM", "--role", "agent", "--operator", "flextok"); code != 0 {
		t.Fatalf("create for flextok: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run("apikey", "create", "--name", "Webstapero LMS", "--role", "auditor", "--operator", "webstapero"); code != 0 {
		t.Fatalf("create for webstapero: exit %d, %q", code, errOut)
	}
	_, flex, _ := run("apikey", "list", "--operator", "flextok")
	_, web, _ := run("apikey", "list", "--operator", "webstapero")
	if !strings.Contains(flex, "Flextok CRM") || strings.Contains(flex, "Webstapero LMS") {
		t.Errorf("flextok's keys:\n%s", flex)
	}
	if !strings.Contains(web, "Webstapero LMS") || strings.Contains(web, "Flextok CRM") {
		t.Errorf("webstapero's keys:\n%s", web)
	}
	// Webstapero's key id, revoked as flextok's: no such key there.
	id := strings.Fields(strings.Split(strings.TrimSpace(web), "\n")[1])[0]
	if code, _, errOut := run("apikey", "revoke", "--operator", "flextok", id); code == 0 || !strings.Contains(errOut, "no API key with id "+id) {
		t.Errorf("revoking webstapero's key as flextok: exit %d, %q", code, errOut)
	}
	if code, out, errOut := run("apikey", "revoke", "--operator", "webstapero", id); code != 0 || !strings.Contains(out, "Webstapero LMS") {
		t.Errorf("revoking webstapero's key as webstapero: exit %d, %q %q", code, out, errOut)
	}
}

// operator add appends a checked entry to the file and leaves the file as
// it was on every mistake, with no temporary file left beside it.
func TestOperatorAddAppendsACheckedEntryOrLeavesTheFileAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "operators.yaml")
	original := "# the schools we serve\n" + issueOperators
	if err := os.WriteFile(path, []byte(original), 0o640); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"OPERATORS_FILE": path}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := app.Main(t.Context(), append([]string{"operator"}, args...), func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	for _, c := range []struct {
		name string
		args []string
		said string
	}{
		{"a slug the file has", []string{"add", "--slug", "flextok", "BASE_URL=https://privacy.other.kz"}, `operator "flextok": slug: already used by operator 2`},
		{"an address the file has", []string{"add", "--slug", "typo", "BASE_URL=https://privacy.flextokxumare.kz"}, `operator "typo": BASE_URL: https://privacy.flextokxumare.kz is already operator "flextok"'s address`},
		{"a key that is not an operator's", []string{"add", "--slug", "typo", "BASE_URL=https://typo.kz", "DATABASE_URL=postgres://elsewhere"}, `operator "typo": DATABASE_URL: unknown key`},
		{"a bad value", []string{"add", "--slug", "typo", "BASE_URL=https://typo.kz", "PROMISED_DAYS=тридцать"}, `operator "typo": PROMISED_DAYS`},
		{"a bad slug", []string{"add", "--slug", "Typo School", "BASE_URL=https://typo.kz"}, `slug: "Typo School" is not lower-case`},
		{"no slug", []string{"add", "BASE_URL=https://typo.kz"}, "--slug is required"},
		{"a bare word", []string{"add", "--slug", "typo", "https://typo.kz"}, `want KEY=VALUE or --KEY VALUE`},
	} {
		code, _, errOut := run(c.args...)
		if code == 0 || !strings.Contains(errOut, c.said) {
			t.Errorf("%s: exit %d, said %q; want %q", c.name, code, errOut, c.said)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != original {
			t.Errorf("%s: the file changed (%v):\n%s", c.name, err, b)
		}
	}

	code, out, errOut := run("add", "--slug", "typo", "--BASE_URL", "https://privacy.typo.kz", "ORG_NAME=Типография «Курс»", "PROMISED_DAYS=15")
	if code != 0 || !strings.Contains(out, "added operator typo (https://privacy.typo.kz)") || !strings.Contains(out, "3 operator(s)") {
		t.Fatalf("add typo: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = run("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.Contains(lines[1], "webstapero") || !strings.Contains(lines[2], "flextok") ||
		!strings.Contains(lines[3], "typo") || !strings.Contains(lines[3], "Типография «Курс»") || !strings.Contains(lines[3], "https://privacy.typo.kz") {
		t.Errorf("list after add: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := run("check"); code != 0 || out != "3 operator(s), no mistakes\n" {
		t.Errorf("check after add: exit %d, %q", code, out)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "# the schools we serve") {
		t.Errorf("the file's comment is gone:\n%s", b)
	}
	if info, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if info.Mode().Perm() != 0o640 {
		t.Errorf("the file's mode after add: %v, want 0640", info.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files beside the operators file, want it alone", len(entries)-1)
	}
}
