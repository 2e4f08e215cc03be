package app_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/deadline"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// reminderDesk is a caseload for reminder tests: the clock stands at
// 2026-03-02 10:00 Almaty time (apptest's start).
type reminderDesk struct {
	inst        *apptest.Instance
	ru, kk      auth.Staff
	refs        map[string]string // name → reference
	ids         map[string]int64
	privacyMail string
}

func newReminderDesk(t *testing.T, env map[string]string) *reminderDesk {
	t.Helper()
	inst := apptest.Start(t, env)
	d := &reminderDesk{inst: inst, refs: map[string]string{}, ids: map[string]int64{}, privacyMail: inst.Config.PrivacyContact}
	d.ru = inst.AddStaff(t, "dana@school.example.kz", "Дана Омарова", auth.Agent)
	var err error
	d.kk, err = inst.App.Auth.CreateWithPassword(t.Context(), auth.AccountInput{
		Email: "erlan@school.example.kz", Name: "Ерлан Сейітов", Role: "agent", Locale: "kk", Password: apptest.StaffPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// add files a request due at the end of the local day that is days from
// today (negative: overdue).
func (d *reminderDesk) add(t *testing.T, name string, days int, r testkit.Req) string {
	t.Helper()
	loc := d.inst.Config.Location
	now := d.inst.Clock.Now()
	r.ReceivedAt = now.AddDate(0, 0, -20)
	r.DueAt = deadline.DateOf(now.In(loc)).AddDays(days).EndOfDay(loc)
	r.FullName, r.Email = "Гүлнар Тоқтарова", "gulnar.private@example.kz"
	id, err := testkit.AddRequest(t.Context(), d.inst.Pool, r)
	if err != nil {
		t.Fatal(err)
	}
	var ref string
	if err := d.inst.Pool.QueryRow(t.Context(), `SELECT reference FROM requests WHERE id = $1`, id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	d.refs[name], d.ids[name] = ref, id
	return ref
}

func (d *reminderDesk) sweep(t *testing.T, at time.Time) []jobs.SentDigest {
	t.Helper()
	sent, err := d.inst.App.Reminders.Run(t.Context(), at, false)
	if err != nil {
		t.Fatalf("sweep at %s: %v", at, err)
	}
	return sent
}

// delivered waits until the instance has settled and returns what the
// SMTP server received.
func delivered(t *testing.T, inst *apptest.Instance) []testkit.ReceivedMessage {
	t.Helper()
	inst.Settle(t)
	return inst.SMTP.Messages()
}

func digestsTo(msgs []testkit.ReceivedMessage, to string) []testkit.ReceivedMessage {
	var out []testkit.ReceivedMessage
	for _, m := range msgs {
		if len(m.To) == 1 && m.To[0] == to {
			out = append(out, m)
		}
	}
	return out
}

func TestEachRecipientGetsOneDigestInTheirLanguage(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "kk_soon", 3, testkit.Req{AssigneeID: d.kk.ID, Type: request.Erasure, Status: request.InProgress})
	d.add(t, "kk_overdue", -2, testkit.Req{AssigneeID: d.kk.ID, Type: request.Access, Status: request.AwaitingRequester})
	d.add(t, "kk_later", 12, testkit.Req{AssigneeID: d.kk.ID})
	d.add(t, "ru_today", 0, testkit.Req{AssigneeID: d.ru.ID, Type: request.Objection})
	d.add(t, "ru_closed", 1, testkit.Req{AssigneeID: d.ru.ID, Status: request.Completed, ClosedAt: d.inst.Clock.Now()})
	d.add(t, "unverified", 1, testkit.Req{Status: request.Unverified})
	d.add(t, "nobody", 6, testkit.Req{Type: request.ConsentWithdrawal})

	sent := d.sweep(t, d.inst.Clock.Now())
	if len(sent) != 3 {
		t.Fatalf("%d digests, want 3: %+v", len(sent), sent)
	}
	msgs := delivered(t, d.inst)
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}

	kk := digestsTo(msgs, d.kk.Email)
	if len(kk) != 1 {
		t.Fatalf("%d digests to the Kazakh-speaking agent", len(kk))
	}
	for _, want := range []string{
		"Еске салу", "Деректерді жою", "Деректерге қол жеткізу", "3 күн қалды", "мерзімінен 2 күн өтті",
		d.inst.URL + "/staff/requests/" + d.refs["kk_soon"], d.refs["kk_overdue"], "2026 жылғы 5 наурыз",
	} {
		if !strings.Contains(kk[0].Subject+kk[0].Text, want) {
			t.Errorf("Kazakh digest lacks %q:\n%s", want, kk[0].Text)
		}
	}
	if strings.Index(kk[0].Text, d.refs["kk_overdue"]) > strings.Index(kk[0].Text, d.refs["kk_soon"]) {
		t.Error("the overdue request must come first")
	}
	if !strings.Contains(kk[0].HTML, `href="`+d.inst.URL+"/staff/requests/"+d.refs["kk_soon"]+`"`) || !strings.Contains(kk[0].HTML, `lang="kk"`) {
		t.Error("the HTML part lacks the link or the language")
	}

	ru := digestsTo(msgs, d.ru.Email)
	if len(ru) != 1 || !strings.Contains(ru[0].Text, "срок истекает сегодня") || !strings.Contains(ru[0].Text, "Возражение против обработки") ||
		!strings.Contains(ru[0].Subject, "Напоминание") {
		t.Errorf("Russian digest: %+v", ru)
	}
	contact := digestsTo(msgs, d.privacyMail)
	if len(contact) != 1 || !strings.Contains(contact[0].Text, d.refs["nobody"]) || !strings.Contains(contact[0].Text, "никому не назначены") ||
		!strings.Contains(contact[0].Text, "осталось 6 дней") {
		t.Errorf("privacy contact's digest: %+v", contact)
	}
	for _, m := range msgs {
		for _, never := range []string{d.refs["kk_later"], d.refs["ru_closed"], d.refs["unverified"], "Гүлнар", "gulnar.private", "Test Person"} {
			if strings.Contains(m.Text+m.HTML, never) {
				t.Errorf("digest to %v mentions %q", m.To, never)
			}
		}
	}
	// One event per reminded request, by the system, naming the threshold.
	for name, key := range map[string]string{"kk_soon": "3d", "kk_overdue": "overdue:2026-03-02", "ru_today": "1d", "nobody": "7d"} {
		if n := d.inst.Count(t, `SELECT count(*) FROM events WHERE request_id = $1 AND kind = 'reminded' AND actor = 'system'
			AND data->>'threshold' = $2`, d.ids[name], key); n != 1 {
			t.Errorf("%s: %d reminded events with threshold %s", name, n, key)
		}
	}
	if n := d.inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'reminded'`); n != 4 {
		t.Errorf("%d reminded events, want 4", n)
	}
}

func TestTwoSweepsAtTheSameInstantSendOneDigest(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "a", 2, testkit.Req{AssigneeID: d.ru.ID})
	d.add(t, "b", -1, testkit.Req{AssigneeID: d.ru.ID})
	now := d.inst.Clock.Now()
	if sent := d.sweep(t, now); len(sent) != 1 || len(sent[0].Reminders) != 2 {
		t.Fatalf("first sweep: %+v", sent)
	}
	if sent := d.sweep(t, now); len(sent) != 0 {
		t.Fatalf("second sweep at the same instant sent %+v", sent)
	}
	if msgs := delivered(t, d.inst); len(msgs) != 1 {
		t.Errorf("%d messages, want 1", len(msgs))
	}
}

func TestSweepsRunningAtOnceSendOneDigestPerRecipient(t *testing.T) {
	d := newReminderDesk(t, nil)
	for i := range 15 {
		d.add(t, "ru"+string(rune('a'+i)), i%9-2, testkit.Req{AssigneeID: d.ru.ID})
		d.add(t, "kk"+string(rune('a'+i)), i%9-2, testkit.Req{AssigneeID: d.kk.ID})
		d.add(t, "no"+string(rune('a'+i)), i%9-2, testkit.Req{})
	}
	// Several instances sweeping at the same instant, each in its own
	// transactions: the periodic job on two leaders in a hand-over, and an
	// operator's `rightsdesk reminders run`.
	now := d.inst.Clock.Now()
	const sweeps = 5
	results := make([][]jobs.SentDigest, sweeps)
	errs := make([]error, sweeps)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range sweeps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = d.inst.App.Reminders.Run(context.Background(), now, false)
		}()
	}
	close(start)
	wg.Wait()
	perRecipient := map[string]int{}
	reminders := 0
	for i := range sweeps {
		if errs[i] != nil {
			t.Fatalf("sweep %d: %v", i, errs[i])
		}
		for _, s := range results[i] {
			perRecipient[s.To]++
			reminders += len(s.Reminders)
		}
	}
	for _, to := range []string{d.ru.Email, d.kk.Email, d.privacyMail} {
		if perRecipient[to] != 1 {
			t.Errorf("%s got %d digests", to, perRecipient[to])
		}
	}
	// Due from 2 days ago to 6 days on: every request is owed a reminder.
	const want = 45
	if reminders != want {
		t.Errorf("%d reminders across all sweeps, want %d", reminders, want)
	}
	if n := d.inst.Count(t, `SELECT count(DISTINCT request_id) FROM reminders`); n != want {
		t.Errorf("ledger rows for %d requests, want %d", n, want)
	}
	if n := d.inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'reminded'`); n != want {
		t.Errorf("%d reminded events, want %d: one per request", n, want)
	}
	if msgs := delivered(t, d.inst); len(msgs) != 3 {
		t.Errorf("%d messages, want 3", len(msgs))
	}
}

func TestOverdueIsRemindedAgainTheNextDayButNotTheSameDay(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "late", -1, testkit.Req{AssigneeID: d.ru.ID, Status: request.InProgress})
	loc := d.inst.Config.Location
	steps := []struct {
		at   time.Time
		want string // the key sent, "" for nothing
	}{
		{time.Date(2026, 3, 2, 10, 0, 0, 0, loc), "overdue:2026-03-02"},
		{time.Date(2026, 3, 2, 11, 0, 0, 0, loc), ""},
		{time.Date(2026, 3, 2, 23, 59, 0, 0, loc), ""},
		{time.Date(2026, 3, 3, 0, 1, 0, 0, loc), "overdue:2026-03-03"},
		{time.Date(2026, 3, 3, 9, 0, 0, 0, loc), ""},
		{time.Date(2026, 3, 4, 9, 0, 0, 0, loc), "overdue:2026-03-04"},
	}
	for _, s := range steps {
		d.inst.Clock.Set(s.at)
		sent := d.sweep(t, d.inst.Clock.Now())
		got := ""
		if len(sent) == 1 && len(sent[0].Reminders) == 1 {
			got = sent[0].Reminders[0].Key
		}
		if got != s.want {
			t.Errorf("at %s sent %+v, want %q", s.at.Format(time.DateTime), sent, s.want)
		}
	}
	msgs := delivered(t, d.inst)
	if len(msgs) != 3 {
		t.Errorf("%d messages, want 3", len(msgs))
	}
	var texts strings.Builder
	for _, m := range msgs { // delivered in parallel: in any order
		texts.WriteString(m.Text)
	}
	for _, want := range []string{"просрочен на 1 день", "просрочен на 2 дня", "просрочен на 3 дня"} {
		if !strings.Contains(texts.String(), want) {
			t.Errorf("no digest says %q", want)
		}
	}
	// Closed, it is never reminded again.
	if _, err := d.inst.Pool.Exec(t.Context(), `UPDATE requests SET status = 'completed', closed_at = $2 WHERE id = $1`,
		d.ids["late"], time.Date(2026, 3, 4, 12, 0, 0, 0, loc)); err != nil {
		t.Fatal(err)
	}
	if sent := d.sweep(t, time.Date(2026, 3, 5, 9, 0, 0, 0, loc)); len(sent) != 0 {
		t.Errorf("a closed request was reminded: %+v", sent)
	}
}

func TestARequestThatJumpsThresholdsIsRemindedOnceAsTheMostUrgent(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "short", 2, testkit.Req{AssigneeID: d.ru.ID}) // e.g. a 3-working-day rule
	now := d.inst.Clock.Now()
	sent := d.sweep(t, now)
	if len(sent) != 1 || sent[0].Reminders[0].Key != "3d" {
		t.Fatalf("first sweep %+v, want 3d", sent)
	}
	// Later the same day, and the next day before the 1-day threshold: nothing.
	if sent := d.sweep(t, now.Add(3*time.Hour)); len(sent) != 0 {
		t.Errorf("7d sent after 3d: %+v", sent)
	}
	if sent := d.sweep(t, now.AddDate(0, 0, 1)); len(sent) != 1 || sent[0].Reminders[0].Key != "1d" {
		t.Errorf("next day %+v, want 1d", sent)
	}
	// The ledger holds the most urgent key sent, which holds the others back.
	if n := d.inst.Count(t, `SELECT count(*) FROM reminders WHERE request_id = $1 AND threshold = '1d'`, d.ids["short"]); n != 1 {
		t.Errorf("%d ledger rows holding 1d, want 1", n)
	}
	if n := d.inst.Count(t, `SELECT count(*) FROM reminders WHERE request_id = $1`, d.ids["short"]); n != 1 {
		t.Errorf("%d ledger rows, want one per request", n)
	}
}

func TestNoReminderIsLostWhenMailIsDownOrDeliveryCrashes(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "due", 1, testkit.Req{AssigneeID: d.ru.ID})
	now := d.inst.Clock.Now()

	// SMTP is down when the sweep runs: the digest is recorded with its
	// job and the ledger in one transaction, and delivery retries.
	d.inst.SMTP.Stop()
	if sent := d.sweep(t, now); len(sent) != 1 {
		t.Fatalf("sweep: %+v", sent)
	}
	waitFor(t, 20*time.Second, func() bool {
		return d.inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'reminder_digest' AND state = 'failed' AND attempts > 0`) == 1
	})
	if sent := d.sweep(t, now.Add(time.Hour)); len(sent) != 0 {
		t.Fatalf("an undelivered digest was sent again by the next sweep: %+v", sent)
	}
	d.inst.SMTP.Restart(t)
	msgs := delivered(t, d.inst)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, d.refs["due"]) {
		t.Fatalf("after SMTP came back: %d messages", len(msgs))
	}

	// The process dies after SMTP accepted the message and before it was
	// recorded: the email is still queued and River rescues the job, which
	// sends it again. This is the "at worst one repeat" of the outbox, with
	// the same Message-ID so that mail systems can drop the copy.
	var emailID int64
	if err := d.inst.Pool.QueryRow(t.Context(), `SELECT id FROM emails WHERE kind = 'reminder_digest'`).Scan(&emailID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.inst.Pool.Exec(t.Context(), `UPDATE emails SET state = 'queued', sent_at = NULL WHERE id = $1`, emailID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.inst.App.Runner.Client().Insert(t.Context(), jobs.DeliverEmailArgs{EmailIDs: []int64{emailID}}, nil); err != nil {
		t.Fatal(err)
	}
	msgs = d.inst.SMTP.WaitForMessages(t, 2, 20*time.Second)
	if len(msgs) != 2 || msgs[0].MessageID != msgs[1].MessageID {
		t.Errorf("the repeat must carry the same Message-ID: %q, %q", msgs[0].MessageID, msgs[len(msgs)-1].MessageID)
	}
	if n := d.inst.Count(t, `SELECT count(*) FROM reminders WHERE request_id = $1 AND threshold = '1d'`, d.ids["due"]); n != 1 {
		t.Errorf("%d ledger rows", n)
	}
}

// failingComposer fails the digest of one language, like a crash in the
// middle of a sweep.
type failingComposer struct {
	request.Composer
	locale request.Locale
}

func (f failingComposer) Compose(kind string, locale request.Locale, data map[string]any) (string, string, string, error) {
	if locale == f.locale {
		return "", "", "", errors.New("simulated crash")
	}
	return f.Composer.Compose(kind, locale, data)
}

func TestASweepThatFailsHalfwayLosesNoReminder(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "ru", 3, testkit.Req{AssigneeID: d.ru.ID})
	d.add(t, "kk", 3, testkit.Req{AssigneeID: d.kk.ID})
	now := d.inst.Clock.Now()
	broken := *d.inst.App.Reminders
	broken.Composer = failingComposer{broken.Composer, request.Kazakh}
	sent, err := broken.Run(t.Context(), now, false)
	if err == nil || len(sent) != 1 || sent[0].To != d.ru.Email {
		t.Fatalf("half-failed sweep: %+v, %v", sent, err)
	}
	if n := d.inst.Count(t, `SELECT count(*) FROM reminders WHERE request_id = $1`, d.ids["kk"]); n != 0 {
		t.Fatalf("the failed digest left %d ledger rows", n)
	}
	sent = d.sweep(t, now.Add(time.Hour))
	if len(sent) != 1 || sent[0].To != d.kk.Email {
		t.Fatalf("the next sweep sent %+v, want the Kazakh digest only", sent)
	}
	if msgs := delivered(t, d.inst); len(msgs) != 2 {
		t.Errorf("%d messages, want 2", len(msgs))
	}
}

func TestUnassignedRequestsWaitWithoutAPrivacyContact(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "nobody", 1, testkit.Req{})
	quiet := *d.inst.App.Reminders
	quiet.PrivacyContact = ""
	if sent, err := quiet.Run(t.Context(), d.inst.Clock.Now(), false); err != nil || len(sent) != 0 {
		t.Fatalf("%+v, %v", sent, err)
	}
	// Nothing was marked: once a contact is set, the reminder goes out.
	if sent := d.sweep(t, d.inst.Clock.Now()); len(sent) != 1 || sent[0].Recipient != jobs.PrivacyContactName {
		t.Errorf("with a contact: %+v", sent)
	}
}

func TestTheReminderJobRunsOnItsOwn(t *testing.T) {
	d := newReminderDesk(t, map[string]string{"PERIODIC_JOBS": "on", "REMINDER_INTERVAL": "1s"})
	d.add(t, "due", 1, testkit.Req{AssigneeID: d.ru.ID})
	msgs := d.inst.SMTP.WaitForMessages(t, 1, 30*time.Second)
	if msgs[0].To[0] != d.ru.Email || !strings.Contains(msgs[0].Text, d.refs["due"]) {
		t.Errorf("periodic digest: %v %q", msgs[0].To, msgs[0].Text)
	}
}

func remindersCLI(t *testing.T, d *reminderDesk, args ...string) (int, string, string) {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL":          d.inst.Pool.Config().ConnString(),
		"ENCRYPTION_KEY":        testkit.EncryptionKey,
		"LOG_LEVEL":             "error",
		"BASE_URL":              d.inst.Config.BaseURL,
		"PRIVACY_CONTACT_EMAIL": d.privacyMail,
		"SMTP_URL":              d.inst.SMTP.URL(),
	}
	var stdout, stderr bytes.Buffer
	code := app.Main(t.Context(), args, func(n string) (string, bool) { v, ok := vars[n]; return v, ok }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRemindersRunCommand(t *testing.T) {
	d := newReminderDesk(t, nil)
	d.add(t, "mine", 3, testkit.Req{AssigneeID: d.ru.ID})
	d.add(t, "nobody", -1, testkit.Req{})
	d.add(t, "later", 9, testkit.Req{AssigneeID: d.ru.ID})
	tables := `SELECT (SELECT count(*) FROM reminders) + (SELECT count(*) FROM emails) + (SELECT count(*) FROM events) + (SELECT count(*) FROM river_job)`
	before := d.inst.Count(t, tables)

	// Two days on, "later" is 7 days from its due day too.
	at := "2026-03-04T09:00:00+05:00"
	code, out, stderr := remindersCLI(t, d, "reminders", "run", "--now", at, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Дана Омарова", d.refs["mine"], "1d", "privacy contact", d.refs["nobody"], "overdue:2026-03-04",
		d.refs["later"], "7d", "would send (dry run, nothing recorded) 3 reminders in 2 digests at 2026-03-04T09:00:00+05:00"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if after := d.inst.Count(t, tables); after != before {
		t.Fatalf("the dry run wrote %d rows", after-before)
	}

	code, out, stderr = remindersCLI(t, d, "reminders", "run", "--now", at)
	if code != 0 || !strings.Contains(out, "sent 3 reminders in 2 digests") || !strings.Contains(out, d.refs["mine"]) {
		t.Fatalf("run: exit %d: %s %s", code, out, stderr)
	}
	if msgs := delivered(t, d.inst); len(msgs) != 2 { // the test instance's workers deliver
		t.Errorf("%d messages, want 2", len(msgs))
	}
	code, out, _ = remindersCLI(t, d, "reminders", "run", "--now", at)
	if code != 0 || !strings.Contains(out, "sent 0 reminders in 0 digests") {
		t.Errorf("again at the same instant: exit %d: %s", code, out)
	}

	if code, _, _ := remindersCLI(t, d, "reminders", "run", "--now", "tomorrow"); code != 1 {
		t.Errorf("bad --now: exit %d", code)
	}
	if code, _, _ := remindersCLI(t, d, "reminders", "send"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	if code, out, _ := remindersCLI(t, d, "help", "reminders"); code != 0 || !strings.Contains(out, "rightsdesk reminders run [--now RFC3339] [--dry-run]") {
		t.Errorf("help: exit %d: %s", code, out)
	}
}
