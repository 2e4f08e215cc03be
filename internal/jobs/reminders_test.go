package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/reminder"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// staffMember adds an active agent speaking locale.
func (f *fixture) staffMember(t *testing.T, email, name string, locale request.Locale) int64 {
	t.Helper()
	var id int64
	if err := f.pool.QueryRow(context.Background(), `INSERT INTO staff (email, name, role, locale, created_at, updated_at)
		VALUES ($1, $2, 'agent', $3, $4, $4) RETURNING id`, email, name, locale, at).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// due files a confirmed request due at due, assigned to staffID (0: nobody).
func (f *fixture) due(t *testing.T, email string, due time.Time, staffID int64) filed {
	t.Helper()
	r := f.file(t, email, true)
	if _, err := f.pool.Exec(context.Background(), `UPDATE requests SET due_at = $2, assignee_id = nullif($3, 0) WHERE id = $1`,
		r.id, due, staffID); err != nil {
		t.Fatal(err)
	}
	return r
}

func reminderSweep(f *fixture, t *testing.T, privacyContact string, logs *testkit.Buffer) *ReminderSweep {
	return &ReminderSweep{
		Store: f.store, Composer: composer(t), Policy: reminder.Policy{Thresholds: []int{7, 3, 1}, Location: time.UTC},
		Links: request.Links{BaseURL: "https://portal.example.kz"}, PrivacyContact: privacyContact,
		StaffLocale: request.Russian, OrgName: "Онлайн-школа", Logger: slogTo(logs),
	}
}

// digestEmail is the one digest recorded for the recipient to.
func (f *fixture) digestEmail(t *testing.T, to string) store.Email {
	t.Helper()
	var ids []int64
	if err := f.pool.QueryRow(context.Background(), `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM emails WHERE kind = $1`,
		EmailReminderDigest).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	es, err := f.store.Emails(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	var found []store.Email
	for _, e := range es {
		if e.To == to {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d digests to %s, want 1", len(found), to)
	}
	return found[0]
}

// Each member of staff gets one digest of their requests owed a reminder,
// most urgent first, in their language; the privacy contact gets the
// unassigned ones; a request not yet owed one is in none; the next sweep
// sends nothing the ledger holds.
func TestEachRecipientGetsOneDigestMostUrgentFirstAndOnlyOnce(t *testing.T) {
	f := newFixture(t)
	var logs testkit.Buffer
	sweep := reminderSweep(f, t, "privacy@school.example.kz", &logs)
	aruzhan := f.staffMember(t, "aruzhan@school.example.kz", "Аружан", request.Kazakh)
	john := f.staffMember(t, "john@school.example.kz", "John", request.English)
	in3 := f.due(t, "a@example.kz", at.AddDate(0, 0, 3), aruzhan)
	in1 := f.due(t, "b@example.kz", at.AddDate(0, 0, 1), aruzhan)
	overdue := f.due(t, "c@example.kz", at.AddDate(0, 0, -2), john)
	unassigned := f.due(t, "d@example.kz", at.AddDate(0, 0, 7), 0)
	later := f.due(t, "e@example.kz", at.AddDate(0, 0, 20), aruzhan)

	sent, err := sweep.Run(context.Background(), at, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 3 || sent[0].StaffID != 0 || sent[0].To != "privacy@school.example.kz" || sent[1].StaffID != aruzhan || sent[2].StaffID != john {
		t.Fatalf("digests %+v, want the privacy contact's, then Aruzhan's, then John's", sent)
	}
	refs := func(d SentDigest) (out []string) {
		for _, r := range d.Reminders {
			out = append(out, r.Reference+" "+r.Key)
		}
		return out
	}
	if got := strings.Join(refs(sent[1]), ", "); !strings.Contains(got, in1.reference+" 1d") || !strings.Contains(got, in3.reference+" 3d") || strings.Contains(got, later.reference) {
		t.Errorf("Aruzhan's reminders: %s", got)
	}
	if got := refs(sent[2]); len(got) != 1 || got[0] != overdue.reference+" "+reminder.OverduePrefix+"2026-03-02" {
		t.Errorf("John's reminders: %v", got)
	}
	if got := refs(sent[0]); len(got) != 1 || got[0] != unassigned.reference+" 7d" {
		t.Errorf("the privacy contact's reminders: %v", got)
	}
	kk := f.digestEmail(t, "aruzhan@school.example.kz")
	if kk.Locale != request.Kazakh || !strings.Contains(kk.Text, in1.reference) || strings.Index(kk.Text, in1.reference) > strings.Index(kk.Text, in3.reference) {
		t.Errorf("Aruzhan's digest (%s) does not list the request due first first:\n%s", kk.Locale, kk.Text)
	}
	if en := f.digestEmail(t, "john@school.example.kz"); en.Locale != request.English || strings.Contains(en.Text, "a@example.kz") {
		t.Errorf("John's digest is in %s or names a requester:\n%s", en.Locale, en.Text)
	}
	if n := f.count(t, `SELECT count(*) FROM river_job WHERE kind = 'deliver_email' AND args->'email_ids' @> (SELECT to_jsonb(id) FROM emails WHERE kind = $1 ORDER BY id LIMIT 1)`, EmailReminderDigest); n != 1 {
		t.Errorf("the first digest has %d delivery jobs, want 1", n)
	}

	again, err := sweep.Run(context.Background(), at.Add(time.Hour), false)
	if err != nil || len(again) != 0 {
		t.Errorf("a sweep an hour later sent %+v (%v), want nothing", again, err)
	}
	if n := f.count(t, `SELECT count(*) FROM emails WHERE kind = $1`, EmailReminderDigest); n != 3 {
		t.Errorf("%d digests recorded after two sweeps, want 3", n)
	}
}

// A dry run tells what a sweep would send and records nothing: the real
// sweep afterwards still sends it all.
func TestADryRunRecordsNothing(t *testing.T) {
	f := newFixture(t)
	var logs testkit.Buffer
	sweep := reminderSweep(f, t, "privacy@school.example.kz", &logs)
	r := f.due(t, "a@example.kz", at.AddDate(0, 0, 1), 0)
	dry, err := sweep.Run(context.Background(), at, true)
	if err != nil || len(dry) != 1 || len(dry[0].Reminders) != 1 || dry[0].Reminders[0].Reference != r.reference {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if n := f.count(t, `SELECT (SELECT count(*) FROM reminders) + (SELECT count(*) FROM emails WHERE kind = $1)`, EmailReminderDigest); n != 0 {
		t.Errorf("a dry run recorded %d reminders and digests", n)
	}
	if sent, err := sweep.Run(context.Background(), at, false); err != nil || len(sent) != 1 {
		t.Errorf("the sweep after the dry run: %+v %v", sent, err)
	}
}

// Without a privacy contact the unassigned requests are not reminded, and
// the log says so (without naming them); the assigned ones still are.
func TestWithoutAPrivacyContactUnassignedRequestsAreOnlyLogged(t *testing.T) {
	f := newFixture(t)
	var logs testkit.Buffer
	sweep := reminderSweep(f, t, "", &logs)
	agent := f.staffMember(t, "aruzhan@school.example.kz", "Аружан", request.Kazakh)
	unassigned := f.due(t, "a@example.kz", at.AddDate(0, 0, 1), 0)
	f.due(t, "b@example.kz", at.AddDate(0, 0, 1), agent)
	sent, err := sweep.Run(context.Background(), at, false)
	if err != nil || len(sent) != 1 || sent[0].StaffID != agent {
		t.Fatalf("sent %+v (%v), want Aruzhan's digest alone", sent, err)
	}
	if !strings.Contains(logs.String(), "PRIVACY_CONTACT_EMAIL is not set") || !strings.Contains(logs.String(), "requests=1") ||
		strings.Contains(logs.String(), unassigned.reference) {
		t.Errorf("the log:\n%s", logs.String())
	}
	if n := f.count(t, `SELECT count(*) FROM reminders WHERE request_id = $1`, unassigned.id); n != 0 {
		t.Error("a reminder nobody was sent is recorded as sent")
	}
}

// The periodic job sweeps at its clock's now.
func TestTheReminderJobSweepsAtItsNow(t *testing.T) {
	f := newFixture(t)
	var logs testkit.Buffer
	sweep := reminderSweep(f, t, "privacy@school.example.kz", &logs)
	r := f.due(t, "a@example.kz", at.AddDate(0, 0, 10), 0)
	if res := workOnce(t, f, &SendRemindersWorker{Sweep: sweep, Now: fixedNow}, SendRemindersArgs{}); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the job ended %s", res.EventKind)
	}
	if n := f.count(t, `SELECT count(*) FROM reminders`); n != 0 {
		t.Fatal("a request due in 10 days was reminded with thresholds of 7, 3 and 1")
	}
	workOnce(t, f, &SendRemindersWorker{Sweep: sweep, Now: func() time.Time { return at.AddDate(0, 0, 3) }}, SendRemindersArgs{})
	if n := f.count(t, `SELECT count(*) FROM reminders WHERE request_id = $1 AND threshold = '7d'`, r.id); n != 1 {
		t.Error("three days later the request was not reminded for its 7 days")
	}
}
