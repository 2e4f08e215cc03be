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
