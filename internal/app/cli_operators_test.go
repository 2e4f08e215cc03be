package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/app"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// operatorsCLI is a database holding requests of both of the issue's
// operators, filed through each one's store as its intake would, and a way
// to run commands on it with OPERATORS_FILE naming both.
type operatorsCLI struct {
	t    *testing.T
	vars map[string]string
	ids  map[string]int64
	st   *store.Store
	pool *pgxpool.Pool
	refs map[string][]string // each operator's requests' references
}

func newOperatorsCLI(t *testing.T) *operatorsCLI {
	t.Helper()
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(issueOperatorsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := testkit.DBURL(t)
	pool, err := opscope.NewPool(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	outbox, err := jobs.NewOutbox(pool)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, outbox, testkit.Keys())
	ids, err := st.RecordOperators(t.Context(), []string{"webstapero", "flextok"})
	if err != nil {
		t.Fatal(err)
	}
	c := &operatorsCLI{t: t, ids: ids, st: st, pool: pool, refs: map[string][]string{},
		vars: map[string]string{"OPERATORS_FILE": path, "DATABASE_URL": dbURL, "ENCRYPTION_KEY": testkit.EncryptionKey}}
	// Webstapero has one request, Flextok two, all from the same address.
	for slug, refs := range map[string][]string{"webstapero": {"RD-WEBS-TAPE-RO01"}, "flextok": {"RD-FLEX-TOKX-UM01", "RD-FLEX-TOKX-UM02"}} {
		for _, ref := range refs {
			if _, err := st.For(ids[slug]).CreateRequest(t.Context(), confirmedOn2March(ref, "aigerim@example.kz")); err != nil {
				t.Fatal(err)
			}
		}
		c.refs[slug] = refs
	}
	return c
}

// confirmedOn2March is a confirmed access request received on 2 March 2026, due on
// 1 April, with a status link and its acknowledgement queued.
func confirmedOn2March(reference, email string) request.NewRequest {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	return request.NewRequest{
		Request: request.Request{
			Reference: reference, Type: request.Access, Status: request.New, Locale: "ru",
			ReceivedAt: at, ConfirmedAt: at, DueAt: at.AddDate(0, 0, 30), Rule: "default.access", RuleBasis: "received",
			FullName: "Айгерим Нурланқызы", Email: email,
		},
		StatusTokenHash: []byte(reference + "-status"),
		Emails: []request.OutboxEmail{{Kind: request.EmailAcknowledgement, MessageID: reference + "@test", To: email, Locale: "ru",
			Subject: reference, Text: "text", HTML: "<p>html</p>"}},
	}
}

func (c *operatorsCLI) run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = app.Main(c.t.Context(), args, func(n string) (string, bool) { v, ok := c.vars[n]; return v, ok }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// count runs a count in one operator's scope.
func (c *operatorsCLI) count(slug, query string, args ...any) int {
	c.t.Helper()
	var n int
	if err := c.pool.QueryRow(opscope.With(context.Background(), c.ids[slug]), query, args...).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// Every command that reads or writes requests asks which operator with
// several, and refuses one the file does not name, before it changes
// anything.
func TestCommandsOnRequestsNeedTheOperatorWithSeveral(t *testing.T) {
	c := newOperatorsCLI(t)
	for _, args := range [][]string{
		{"links", "reissue"},
		{"reminders", "run", "--now", "2026-03-30T09:00:00+05:00"},
		{"email", "status"},
	} {
		if code, _, errOut := c.run(args...); code == 0 || !strings.Contains(errOut, "--operator SLUG is required: OPERATORS_FILE names 2 operators") {
			t.Errorf("%v without --operator: exit %d, %q", args, code, errOut)
		}
		if code, _, errOut := c.run(append(args, "--operator", "elsewhere")...); code == 0 || !strings.Contains(errOut, `--operator: no operator "elsewhere"`) {
			t.Errorf("%v --operator elsewhere: exit %d, %q", args, code, errOut)
		}
	}
	if n := c.count("webstapero", `SELECT count(*) FROM status_links WHERE revoked_at IS NOT NULL`) + c.count("flextok", `SELECT count(*) FROM status_links WHERE revoked_at IS NOT NULL`); n != 0 {
		t.Errorf("a refused command revoked %d status links", n)
	}
	if n := c.count("webstapero", `SELECT count(*) FROM reminders`) + c.count("flextok", `SELECT count(*) FROM reminders`); n != 0 {
		t.Errorf("a refused command recorded %d reminders", n)
	}
}

// links reissue --operator replaces the links of that operator's requests
// only, and the fresh link is on that operator's address.
func TestLinksReissueActsForTheOperatorNamed(t *testing.T) {
	c := newOperatorsCLI(t)
	code, out, errOut := c.run("links", "reissue", "--operator", "webstapero")
	if code != 0 || !strings.Contains(out, "reissued the status links of 1 requests") {
		t.Fatalf("links reissue --operator webstapero: exit %d, %q %q", code, out, errOut)
	}
	if n := c.count("webstapero", `SELECT count(*) FROM status_links WHERE revoked_at IS NOT NULL`); n != 1 {
		t.Errorf("webstapero: %d links revoked, want its request's 1", n)
	}
	if n := c.count("flextok", `SELECT count(*) FROM status_links WHERE revoked_at IS NOT NULL`); n != 0 {
		t.Errorf("flextok: %d links revoked by a reissue for webstapero", n)
	}
	web := c.st.For(c.ids["webstapero"])
	r, err := web.RequestByReference(t.Context(), "RD-WEBS-TAPE-RO01")
	if err != nil {
		t.Fatal(err)
	}
	emails, err := web.EmailsOfRequest(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var link string
	for _, e := range emails {
		if e.Kind == request.EmailStatusLink {
			link = e.Text
		}
	}
	if !strings.Contains(link, "http://privacy.webstapero.kz/") || strings.Contains(link, "flextokxumare") {
		t.Errorf("the fresh link's email is not on webstapero's address:\n%s", link)
	}
	if code, out, _ := c.run("links", "reissue", "--operator", "flextok", "--dry-run"); code != 0 || !strings.Contains(out, "would reissue the status links of (dry run, nothing changed) 2 requests") {
		t.Errorf("links reissue --operator flextok --dry-run: exit %d, %q", code, out)
	}
}

// reminders run --operator sweeps that operator's requests only, reminding
// its own privacy contact.
func TestRemindersRunActsForTheOperatorNamed(t *testing.T) {
	c := newOperatorsCLI(t)
	code, out, errOut := c.run("reminders", "run", "--operator", "flextok", "--now", "2026-03-30T09:00:00+05:00")
	if code != 0 {
		t.Fatalf("reminders run --operator flextok: exit %d, %q %q", code, out, errOut)
	}
	for _, ref := range c.refs["flextok"] {
		if !strings.Contains(out, ref) {
			t.Errorf("flextok's %s was not reminded:\n%s", ref, out)
		}
	}
	if strings.Contains(out, c.refs["webstapero"][0]) {
		t.Errorf("a sweep for flextok reminded webstapero's request:\n%s", out)
	}
	if n := c.count("webstapero", `SELECT count(*) FROM reminders`); n != 0 {
		t.Errorf("webstapero: %d reminders recorded by flextok's sweep", n)
	}
	if n := c.count("flextok", `SELECT count(*) FROM emails WHERE kind = $1`, jobs.EmailReminderDigest); n != 1 {
		t.Errorf("flextok: %d reminder digests, want one to its privacy contact", n)
	}
	digests, err := c.st.For(c.ids["flextok"]).RecentEmails(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(digests) == 0 || digests[0].To != "help@flextokxumare.kz" {
		t.Errorf("flextok's newest email: %+v, want the digest to help@flextokxumare.kz", digests[:min(1, len(digests))])
	}
}

// email status --operator counts that operator's emails only.
func TestEmailStatusCountsTheOperatorNamed(t *testing.T) {
	c := newOperatorsCLI(t)
	for slug, want := range map[string]string{"webstapero": "queued\t1\n", "flextok": "queued\t2\n"} {
		code, out, errOut := c.run("email", "status", "--operator", slug)
		if code != 0 || !strings.Contains(out, "delivery\trunning\n") || !strings.Contains(out, want) {
			t.Errorf("email status --operator %s: exit %d, %q %q; want %q", slug, code, out, errOut, want)
		}
	}
}
