package jobs

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"rightsdesk/internal/mail"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// outcomes counts what the worker reports to the metrics.
type outcomes map[string]int

func (o outcomes) RecordEmail(outcome string) { o[outcome]++ }

func deliveryWorker(f *fixture, smtp *testkit.SMTPServer, seen outcomes) *DeliverEmailWorker {
	cfg := mail.SMTPConfig{Host: smtp.Host(), Port: smtp.Port(), Timeout: 5 * time.Second}
	return &DeliverEmailWorker{Store: f.store, Sender: mail.NewSMTPSender(cfg), From: "Школа <privacy@school.example.kz>",
		Now: fixedNow, Outcomes: seen, SendTimeout: 5 * time.Second}
}

// delivery is a filed request's two emails, the SMTP server they go to and
// the worker that delivers them.
type delivery struct {
	f    *fixture
	smtp *testkit.SMTPServer
	seen outcomes
	w    *DeliverEmailWorker
	r    filed
	args DeliverEmailArgs
}

func newDelivery(t *testing.T, to string) delivery {
	t.Helper()
	d := delivery{f: newFixture(t), smtp: testkit.StartSMTP(t), seen: outcomes{}}
	d.w = deliveryWorker(d.f, d.smtp, d.seen)
	d.r = d.f.file(t, to, false)
	d.args = DeliverEmailArgs{EmailIDs: []int64{d.r.ack, d.r.notice}}
	return d
}

func TestADeliverySendsEachEmailOnceWithItsSecretAndForgetsTheSecret(t *testing.T) {
	d := newDelivery(t, "aigerim@example.kz")
	f, smtp, seen, w, r, args := d.f, d.smtp, d.seen, d.w, d.r, d.args

	if res := workOnce(t, f, w, args); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the job ended %s, want completed", res.EventKind)
	}
	msgs := smtp.Messages()
	if len(msgs) != 2 || msgs[0].To[0] != "aigerim@example.kz" || msgs[1].To[0] != "privacy@school.example.kz" {
		t.Fatalf("delivered %d messages: %+v", len(msgs), msgs)
	}
	if !strings.Contains(msgs[0].Text, statusLink) || strings.Contains(msgs[0].Text, "__RDSECRET_") {
		t.Errorf("the acknowledgement does not carry its link in place of the placeholder:\n%s", msgs[0].Text)
	}
	if msgs[0].MessageID != r.reference+".acknowledgement@portal.example.kz" || msgs[0].Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Message-ID %q, Auto-Submitted %q", msgs[0].MessageID, msgs[0].Header.Get("Auto-Submitted"))
	}
	for _, id := range []int64{r.ack, r.notice} {
		e := f.email(t, id)
		if e.State != store.EmailSent || e.Attempts != 1 || !e.SentAt.Equal(at) || len(e.Secrets) != 0 {
			t.Errorf("email %d after delivery: state %s, %d attempts, sent %v, secrets %v", id, e.State, e.Attempts, e.SentAt, e.Secrets)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE request_id = $1 AND kind = 'email_sent'`, r.id); n != 2 {
		t.Errorf("%d email_sent events, want 2", n)
	}

	// The same job again (River lost the record of its success: the
	// process died before it was written) sends nothing twice.
	if res := workOnce(t, f, w, args); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the repeated job ended %s, want completed", res.EventKind)
	}
	if n := len(smtp.Messages()); n != 2 {
		t.Errorf("%d messages after the job ran again, want the same 2", n)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE request_id = $1 AND kind = 'email_sent'`, r.id); n != 2 {
		t.Errorf("%d email_sent events after the job ran again, want 2", n)
	}
	if seen[OutcomeSent] != 2 || len(seen) != 1 {
		t.Errorf("outcomes %v, want 2 sent", seen)
	}
}

func TestAnUnreachableServerEndsTheAttemptAtTheFirstEmailAndTheRetrySendsBoth(t *testing.T) {
	d := newDelivery(t, "aigerim@example.kz")
	f, smtp, seen, w, r, args := d.f, d.smtp, d.seen, d.w, d.r, d.args

	smtp.Stop()
	res, err := work(t, f, w, args)
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("the attempt's error %v, want the server out of reach", err)
	}
	if !retried(res) || len(res.Job.Errors) != 1 {
		t.Fatalf("with the server down the job ended %s (%s, %d errors), want it to be tried again", res.EventKind, res.Job.State, len(res.Job.Errors))
	}
	if e := f.email(t, r.ack); e.State != store.EmailFailed || e.Attempts != 1 || e.LastError == "" || !e.LastAttemptAt.Equal(at) {
		t.Errorf("the first email: state %s, %d attempts, last error %q", e.State, e.Attempts, e.LastError)
	}
	if e := f.email(t, r.notice); e.State != store.EmailQueued || e.Attempts != 0 {
		t.Errorf("the second email was tried against a server out of reach: state %s, %d attempts", e.State, e.Attempts)
	}
	if e := f.email(t, r.ack); e.Secrets["status"] != statusLink {
		t.Error("a failed attempt lost the secret link the retry needs")
	}

	smtp.Restart(t)
	if res := workOnce(t, f, w, args); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the retry ended %s, want completed", res.EventKind)
	}
	if n := len(smtp.Messages()); n != 2 {
		t.Errorf("%d messages after the retry, want 2", n)
	}
	if e := f.email(t, r.ack); e.State != store.EmailSent || e.Attempts != 2 || e.LastError != "" {
		t.Errorf("the first email after the retry: state %s, %d attempts, last error %q", e.State, e.Attempts, e.LastError)
	}
	if seen[OutcomeFailed] != 1 || seen[OutcomeSent] != 2 {
		t.Errorf("outcomes %v, want 1 failed and 2 sent", seen)
	}
}

// A recipient refused for good (550) is given up on and the job cancelled,
// for staff to see; one refused for now (450) is retried. Neither holds
// back the other email of the job.
func TestARefusedRecipientDoesNotHoldBackTheOtherEmail(t *testing.T) {
	for _, tc := range []struct {
		code  int
		retry bool
		seen  string
	}{
		{550, false, OutcomeRefused},
		{450, true, OutcomeFailed},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			d := newDelivery(t, "refused@example.kz")
			f, smtp, seen, w, r := d.f, d.smtp, d.seen, d.w, d.r
			smtp.RefuseRecipient("refused@example.kz", tc.code)

			res, _ := work(t, f, w, d.args)
			if retried(res) != tc.retry || !tc.retry && res.EventKind != river.EventKindJobCancelled {
				t.Fatalf("the job ended %s (%s); want it tried again: %v, else cancelled", res.EventKind, res.Job.State, tc.retry)
			}
			if msgs := smtp.Messages(); len(msgs) != 1 || msgs[0].To[0] != "privacy@school.example.kz" {
				t.Errorf("delivered %+v, want the notice alone", msgs)
			}
			if e := f.email(t, r.ack); e.State != store.EmailFailed || !strings.Contains(e.LastError, strconv.Itoa(tc.code)) {
				t.Errorf("the refused email: state %s, last error %q; want failed with the server's %d", e.State, e.LastError, tc.code)
			}
			if e := f.email(t, r.notice); e.State != store.EmailSent {
				t.Errorf("the notice: state %s, want sent", e.State)
			}
			if seen[tc.seen] != 1 || seen[OutcomeSent] != 1 {
				t.Errorf("outcomes %v, want 1 %s and 1 sent", seen, tc.seen)
			}
		})
	}
}

// An attempt never starts an email it cannot finish in its time: with less
// than the sender's timeout left, the emails wait for the next attempt.
func TestAnAttemptWithoutTimeForAnEmailLeavesItForTheRetry(t *testing.T) {
	d := newDelivery(t, "aigerim@example.kz")
	f, smtp, w, r := d.f, d.smtp, d.w, d.r
	w.SendTimeout = JobTimeout + time.Minute

	res, err := work(t, f, w, d.args)
	if err == nil || !strings.Contains(err.Error(), "no time left") {
		t.Errorf("the attempt's error %v, want no time left", err)
	}
	if !retried(res) {
		t.Fatalf("the job ended %s (%s), want it to be tried again", res.EventKind, res.Job.State)
	}
	if n := len(smtp.Messages()); n != 0 || smtp.Connections() != 0 {
		t.Errorf("%d messages over %d connections, want none begun", n, smtp.Connections())
	}
	if e := f.email(t, r.ack); e.State != store.EmailQueued || e.Attempts != 0 {
		t.Errorf("the email: state %s, %d attempts; want queued, untried", e.State, e.Attempts)
	}
}

func TestAJobWhoseEmailsAreGoneIsCancelled(t *testing.T) {
	f := newFixture(t)
	smtp := testkit.StartSMTP(t)
	res := workOnce(t, f, deliveryWorker(f, smtp, outcomes{}), DeliverEmailArgs{EmailIDs: []int64{999999}})
	if res.EventKind != river.EventKindJobCancelled {
		t.Errorf("the job ended %s, want cancelled: retrying cannot make the emails exist", res.EventKind)
	}
}

// A delivery job queued by an earlier version (one email per job, as
// {"email_id": N}) still delivers after an upgrade.
func TestADeliveryJobOfTheEarlierFormStillDelivers(t *testing.T) {
	f := newFixture(t)
	smtp := testkit.StartSMTP(t)
	r := f.file(t, "aigerim@example.kz", false)
	// Replace the new job by two of the earlier form, as an upgrade finds them.
	var old []int64
	f.inTx(t, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `DELETE FROM river_job WHERE kind = 'deliver_email'`); err != nil {
			return err
		}
		for _, id := range []int64{r.ack, r.notice} {
			var job int64
			if err := tx.QueryRow(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, priority, queue, state)
				VALUES (jsonb_build_object('email_id', $1::bigint), 'deliver_email', 500, 1, 'email', 'available') RETURNING id`, id).Scan(&job); err != nil {
				return err
			}
			old = append(old, job)
		}
		return nil
	})
	workers := river.NewWorkers()
	river.AddWorker(workers, deliveryWorker(f, smtp, outcomes{}))
	f.runner(t, workers, RunnerConfig{})
	for _, id := range old {
		f.waitForJob(t, id, "completed")
	}
	msgs := smtp.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		if !strings.Contains(m.Subject, r.reference) {
			t.Errorf("unexpected message %q", m.Subject)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM emails WHERE request_id = $1 AND state = 'sent'`, r.id); n != 2 {
		t.Errorf("%d emails recorded as sent, want 2", n)
	}
}

// A relay that turns mail away for a while (451) is tried again with
// backoff until it takes it; the email arrives once.
func TestADeliveryIsRetriedUntilTheRelayTakesIt(t *testing.T) {
	f := newFixture(t)
	smtp := testkit.StartSMTP(t)
	r := f.file(t, "aigerim@example.kz", false)
	smtp.SetRejecting(451)
	workers := river.NewWorkers()
	river.AddWorker(workers, deliveryWorker(f, smtp, outcomes{}))
	f.runner(t, workers, RunnerConfig{})
	job := f.deliveryJob(t, r)
	deadline := time.Now().Add(30 * time.Second)
	for f.count(t, `SELECT count(*) FROM river_job WHERE id = $1 AND cardinality(errors) >= 2`, job) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the job did not fail twice")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(smtp.Messages()); n != 0 {
		t.Fatalf("%d messages while the relay refused them", n)
	}
	smtp.SetRejecting(0)
	_, attempt := f.waitForJob(t, job, "completed")
	if attempt < 3 {
		t.Errorf("completed at attempt %d, want after at least two refused ones", attempt)
	}
	if n := len(smtp.Messages()); n != 2 {
		t.Errorf("%d messages once the relay took them, want 2", n)
	}
	if e := f.email(t, r.ack); e.State != store.EmailSent || e.Attempts != attempt {
		t.Errorf("the acknowledgement: state %s, %d attempts recorded, want sent after %d", e.State, e.Attempts, attempt)
	}
}
