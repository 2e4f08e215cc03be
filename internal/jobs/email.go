package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/mail"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// DeliverEmailArgs is the job that delivers one recorded email.
type DeliverEmailArgs struct {
	EmailID int64 `json:"email_id"`
}

// Kind implements river.JobArgs.
func (DeliverEmailArgs) Kind() string { return "deliver_email" }

// InsertOpts puts deliveries on their own queue and lets them retry for
// days: an email is only given up on when the server refuses it for good.
func (DeliverEmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEmail, MaxAttempts: 500}
}

// Sender hands a message to a mail server (SMTP, or the dev mailbox).
type Sender interface {
	Send(ctx context.Context, m mail.Message) error
}

// EmailStore is what delivery needs from the database.
type EmailStore interface {
	Email(ctx context.Context, id int64) (store.Email, error)
	MarkEmailSent(ctx context.Context, id int64, at time.Time) error
	MarkEmailFailed(ctx context.Context, id int64, at time.Time, reason string) error
}

// Delivery outcomes reported to an OutcomeRecorder.
const (
	OutcomeSent    = "sent"    // the relay accepted the message
	OutcomeFailed  = "failed"  // the attempt failed; the job retries
	OutcomeRefused = "refused" // refused for good: the job is cancelled
)

// OutcomeRecorder counts delivery outcomes (the metrics); it must not block.
type OutcomeRecorder interface {
	RecordEmail(outcome string)
}

// DeliverEmailWorker sends an email and records the outcome. Delivery is at
// least once: if the process dies after the server accepted the message but
// before it was recorded, the retry sends it again with the same Message-ID,
// which receiving systems use to drop the copy.
type DeliverEmailWorker struct {
	river.WorkerDefaults[DeliverEmailArgs]
	Store  EmailStore
	Sender Sender
	From   string
	Now    func() time.Time
	// Outcomes, when set, is told the outcome of every attempt.
	Outcomes OutcomeRecorder
}

// Work implements river.Worker.
func (w *DeliverEmailWorker) Work(ctx context.Context, job *river.Job[DeliverEmailArgs]) error {
	e, err := w.Store.Email(ctx, job.Args.EmailID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("email %d does not exist", job.Args.EmailID))
	}
	if err != nil {
		return err
	}
	if e.State == store.EmailSent {
		return nil // a retry of a job whose success was already recorded
	}
	msg := mail.Message{
		MessageID: e.MessageID,
		From:      w.From,
		To:        e.To,
		Subject:   e.Subject,
		Text:      withSecrets(e.Text, e.Secrets),
		HTML:      withSecrets(e.HTML, e.Secrets),
		Date:      w.Now(),
		Headers:   map[string]string{"Auto-Submitted": "auto-generated"},
	}
	if err := w.Sender.Send(ctx, msg); err != nil {
		var de *mail.DeliveryError
		permanent := errors.As(err, &de) && de.Permanent ||
			errors.Is(err, mail.ErrHeaderInjection) || errors.Is(err, mail.ErrInvalidMessage)
		if permanent {
			w.record(OutcomeRefused)
		} else {
			w.record(OutcomeFailed)
		}
		if recErr := w.Store.MarkEmailFailed(ctx, e.ID, w.Now(), err.Error()); recErr != nil {
			return errors.Join(err, recErr)
		}
		if permanent {
			// The server refused this message for good (a 5xx reply), or
			// it can never be sent: retrying cannot help, and staff see the
			// failure on the request.
			return river.JobCancel(err)
		}
		return err
	}
	w.record(OutcomeSent)
	if err := w.Store.MarkEmailSent(ctx, e.ID, w.Now()); err != nil {
		return fmt.Errorf("record delivery of email %d: %w", e.ID, err)
	}
	return nil
}

func (w *DeliverEmailWorker) record(outcome string) {
	if w.Outcomes != nil {
		w.Outcomes.RecordEmail(outcome)
	}
}

func withSecrets(body string, secrets map[string]string) string {
	for name, value := range secrets {
		body = strings.ReplaceAll(body, request.SecretPlaceholder(name), value)
	}
	return body
}
