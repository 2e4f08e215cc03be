package operator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rightsdesk/internal/config"
	"rightsdesk/internal/keyring"
)

// The operator whose keys are the deployment's own is the default one, to
// which a database from before operators belongs.
func TestTheDefaultOperatorKeepsTheDeploymentsKeys(t *testing.T) {
	if keyring.DefaultOperator != DefaultID {
		t.Errorf("keyring.DefaultOperator is %d, the default operator %d", keyring.DefaultOperator, DefaultID)
	}
}

// twoOperators is the pair: Webstapero Dev Notes promises no
// deadline; Flextok Xumare promises 30 days and answers from help@.
const twoOperators = `operators:
  - slug: webstapero
    BASE_URL: https://privacy.webstapero.kz
    ORG_NAME: Webstapero Dev Notes
    PRIVACY_CONTACT_EMAIL: privacy@webstapero.kz
  - slug: flextok
    BASE_URL: https://privacy.flextokxumare.kz
    ORG_NAME: Flextok Xumare
    PRIVACY_CONTACT_EMAIL: help@flextokxumare.kz
    MAIL_FROM: Flextok Xumare <help@flextokxumare.kz>
    PROMISED_DAYS: 30
    TIMEZONE: Asia/Aqtobe
  - slug: courses
    BASE_URL: https://learn.example.kz/privacy/
    ORG_NAME: Courses
`

func envWith(t *testing.T, file string, vars map[string]string) config.Env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"OPERATORS_FILE": path, "ORG_NAME": "Hosting Co"}
	for k, v := range vars {
		all[k] = v
	}
	return func(name string) (string, bool) { v, ok := all[name]; return v, ok }
}

func TestEachOperatorOfTheFileHasItsOwnSettings(t *testing.T) {
	set, err := Load(envWith(t, twoOperators, nil))
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 3 {
		t.Fatalf("%d operators, want 3", set.Len())
	}
	web, _ := set.BySlug("webstapero")
	flex, _ := set.BySlug("flextok")
	if web.Config.OrgName != "Webstapero Dev Notes" || web.Config.Promise != nil || web.Config.PrivacyContact != "privacy@webstapero.kz" {
		t.Errorf("webstapero: name %q, promise %v, contact %q", web.Config.OrgName, web.Config.Promise, web.Config.PrivacyContact)
	}
	if web.Config.MailFrom != "Webstapero Dev Notes <no-reply@privacy.webstapero.kz>" {
		t.Errorf("webstapero sends as %q, want its own name at its own host", web.Config.MailFrom)
	}
	if flex.Config.OrgName != "Flextok Xumare" || flex.Config.Promise == nil || flex.Config.Promise.Value != 30 ||
		flex.Config.MailFrom != "Flextok Xumare <help@flextokxumare.kz>" || flex.Config.Location.String() != "Asia/Aqtobe" {
		t.Errorf("flextok: name %q, promise %v, from %q, zone %s", flex.Config.OrgName, flex.Config.Promise, flex.Config.MailFrom, flex.Config.Location)
	}
	if web.Config.Location.String() != "Asia/Almaty" {
		t.Errorf("webstapero's zone is %s, want the default Asia/Almaty", web.Config.Location)
	}
}

func TestARequestBelongsToTheOperatorOfItsAddress(t *testing.T) {
	set, err := Load(envWith(t, twoOperators, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ host, path, want string }{
		{"privacy.webstapero.kz", "/", "webstapero"},
		{"PRIVACY.FlextokXumare.kz", "/requests/new", "flextok"},
		{"learn.example.kz", "/privacy", "courses"},
		{"learn.example.kz", "/privacy/status/x", "courses"},
		{"learn.example.kz", "/privacyx", ""},
		{"learn.example.kz", "/", ""},
		{"evil.example", "/", ""},
	} {
		op, ok := set.Resolve(c.host, c.path)
		got := ""
		if ok {
			got = op.Slug
		}
		if got != c.want {
			t.Errorf("%s%s: operator %q, want %q", c.host, c.path, got, c.want)
		}
	}
}

func TestWithoutAnOperatorsFileTheEnvironmentIsTheDefaultOperator(t *testing.T) {
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"ORG_NAME": "Онлайн-школа", "BASE_URL": "https://privacy.school.kz"}[name]
		return v, ok
	}
	set, err := Load(env)
	if err != nil {
		t.Fatal(err)
	}
	all := set.All()
	if len(all) != 1 || all[0].Slug != DefaultSlug || all[0].Config.OrgName != "Онлайн-школа" {
		t.Fatalf("operators %+v, want the environment's one, default", all)
	}
	if op, ok := set.Resolve("privacy.school.kz", "/"); !ok || op != all[0] {
		t.Errorf("the default operator does not answer on its own address")
	}
}

func TestEveryMistakeOfTheFileIsALineNamingOperatorAndKey(t *testing.T) {
	file := `operators:
  - slug: webstapero
    BASE_URL: https://privacy.webstapero.kz
    ORG_NAME: Webstapero Dev Notes
    DATABASE_URL: postgres://elsewhere
  - slug: webstapero
    BASE_URL: https://other.webstapero.kz
  - slug: flextok
    BASE_URL: https://privacy.webstapero.kz
  - slug: Bad Slug
  - slug: late
    BASE_URL: https://late.example.kz
    PROMISED_DAYS: thirty
`
	_, err := Load(envWith(t, file, nil))
	if err == nil {
		t.Fatal("the file was accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`5 mistake(s)`,
		`operator "webstapero": DATABASE_URL: unknown key (line 5)`,
		`operator "webstapero": slug: already used by operator 1`,
		`operator "flextok": BASE_URL: https://privacy.webstapero.kz is already operator "webstapero"'s address`,
		`operator 4: slug: "Bad Slug" is not lower-case`,
		`operator "late": PROMISED_DAYS: want a positive whole number, got "thirty"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	if lines := strings.Count(msg, "\n"); lines != 5 {
		t.Errorf("%d lines after the first, want one per mistake:\n%s", lines, msg)
	}
}

func TestAFileThatIsNotAnOperatorsListIsRefused(t *testing.T) {
	for name, file := range map[string]string{
		"empty":      "",
		"no list":    "operators: []\n",
		"other key":  "tenants:\n  - slug: a\n",
		"nested map": "operators:\n  - slug: a\n    ORG_NAME: {x: 1}\n",
	} {
		if _, err := Load(envWith(t, file, nil)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "OPERATORS_FILE: ") {
			t.Errorf("%s: %v does not name OPERATORS_FILE", name, err)
		}
	}
}
