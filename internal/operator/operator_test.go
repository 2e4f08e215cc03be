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

// The README's example operators file is one rightsdesk starts with.
func TestTheExampleOperatorsFileIsValid(t *testing.T) {
	path, err := filepath.Abs("../../deploy/operators-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(func(name string) (string, bool) {
		if name == "OPERATORS_FILE" {
			return path, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	flex, ok := set.BySlug("flextok")
	if set.Len() != 2 || !ok || flex.Config.DefaultLocale != "kk" || flex.Config.BrandColor != "#8a1c4f" || flex.Config.DeadlinePreset != "kz" {
		t.Errorf("the example: %d operators, flextok %+v", set.Len(), ok)
	}
}

func TestEachOperatorHasItsOwnMailbox(t *testing.T) {
	file := `operators:
  - slug: webstapero
    BASE_URL: https://privacy.webstapero.kz
    INBOUND_IMAP_URL: imaps://privacy%40webstapero.kz:secret@mail.webstapero.kz/INBOX
  - slug: flextok
    BASE_URL: https://privacy.flextokxumare.kz
    INBOUND_SMTP_ACCEPT: help@flextokxumare.kz
  - slug: quiet
    BASE_URL: https://quiet.example.kz
`
	set, err := Load(envWith(t, file, map[string]string{"INBOUND_SMTP_ADDR": "127.0.0.1:2525"}))
	if err != nil {
		t.Fatal(err)
	}
	web, _ := set.BySlug("webstapero")
	flex, _ := set.BySlug("flextok")
	quiet, _ := set.BySlug("quiet")
	if in := web.Config.Inbound; in.IMAP == nil || in.IMAP.Host != "mail.webstapero.kz" || in.SMTPAddr != "" || in.ReplyTo != "privacy@webstapero.kz" {
		t.Errorf("webstapero's way in %+v: want its mailbox only, replies to privacy@webstapero.kz", in)
	}
	if in := flex.Config.Inbound; in.IMAP != nil || in.SMTPAddr != "127.0.0.1:2525" || in.ReplyTo != "help@flextokxumare.kz" || !in.PlusAddressing {
		t.Errorf("flextok's way in %+v: want the deployment's listener for help@, plus-addressed replies", in)
	}
	if quiet.Config.Inbound.Enabled() {
		t.Errorf("an operator with no mailbox reads mail: %+v", quiet.Config.Inbound)
	}
}

func TestTwoOperatorsCannotShareAMailboxOrAnAddress(t *testing.T) {
	file := `operators:
  - slug: webstapero
    BASE_URL: https://privacy.webstapero.kz
    INBOUND_IMAP_URL: imaps://privacy%40webstapero.kz:secret@mail.webstapero.kz/INBOX
    INBOUND_SMTP_ACCEPT: webstapero.kz
  - slug: copy
    BASE_URL: https://copy.example.kz
    INBOUND_IMAP_URL: imaps://privacy%40webstapero.kz:other@MAIL.webstapero.kz/INBOX
  - slug: flextok
    BASE_URL: https://privacy.flextokxumare.kz
    INBOUND_SMTP_ACCEPT: help@flextokxumare.kz
  - slug: inside
    BASE_URL: https://inside.example.kz
    INBOUND_SMTP_ACCEPT: desk@webstapero.kz
  - slug: replies
    BASE_URL: https://replies.example.kz
    INBOUND_SMTP_ACCEPT: replies.example.kz
    INBOUND_REPLY_TO: help@flextokxumare.kz
`
	_, err := Load(envWith(t, file, map[string]string{"INBOUND_SMTP_ADDR": "127.0.0.1:2525"}))
	if err == nil {
		t.Fatal("operators sharing a way in were accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`3 mistake(s)`,
		`operator "copy": INBOUND_IMAP_URL: the mailbox INBOX of privacy@webstapero.kz on MAIL.webstapero.kz is already polled for operator "webstapero"`,
		`operator "inside": INBOUND_SMTP_ACCEPT: desk@webstapero.kz is already an inbound address of operator "webstapero"`,
		`operator "replies": INBOUND_REPLY_TO: help@flextokxumare.kz is already an inbound address of operator "flextok"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "secret") || strings.Contains(msg, "other@") {
		t.Errorf("the error repeats a password:\n%s", msg)
	}
}

func TestTheListenerIsTheDeploymentsNotAnOperators(t *testing.T) {
	file := `operators:
  - slug: webstapero
    BASE_URL: https://privacy.webstapero.kz
    INBOUND_SMTP_ADDR: :2526
    INBOUND_SMTP_ACCEPT: privacy@webstapero.kz
`
	_, err := Load(envWith(t, file, nil))
	if err == nil || !strings.Contains(err.Error(), `operator "webstapero": INBOUND_SMTP_ADDR: unknown key`) {
		t.Errorf("an operator's own listener port: %v, want it refused as the deployment's setting", err)
	}
	file = `operators:
  - slug: webstapero
    BASE_URL: https://privacy.webstapero.kz
    INBOUND_SMTP_ACCEPT: privacy@webstapero.kz
`
	_, err = Load(envWith(t, file, nil))
	if err == nil || !strings.Contains(err.Error(), `operator "webstapero": INBOUND_SMTP_ACCEPT: set INBOUND_SMTP_ADDR too`) {
		t.Errorf("addresses on no listener: %v, want INBOUND_SMTP_ADDR asked for", err)
	}
}
