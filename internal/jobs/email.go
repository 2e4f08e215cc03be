package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/inbound"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// DeliverEmailArgs is the job that delivers the emails one change recorded
// (a submission's acknowledgement and the privacy contact's notice, say).
type DeliverEmailArgs struct {
	EmailIDs []int64 `json:"email_ids,omitempty"`
	// EmailID is the one email of a job queued by an earlier version, which
	// queued a job per email; such jobs still deliver after an upgrade.
	EmailID int64 `json:"email_id,omitempty"`
}

// IDs lists the job's emails.
func (a DeliverEmailArgs) IDs() []int64 {
	if a.EmailID != 0 {
		return append([]int64{a.EmailID}, a.EmailIDs...)
	}
	return a.EmailIDs
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
	Emails(ctx context.Context, ids []int64) ([]store.Email, error)
	MarkEmailsSent(ctx context.Context, ids []int64, at time.Time) error
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

// DeliverEmailWorker sends a job's emails and records the outcomes.
// Delivery is at least once: if the process dies after the server accepted
// a message but before it was recorded, the retry sends it again with the
// same Message-ID, which receiving systems use to drop the copy.
type DeliverEmailWorker struct {
	river.WorkerDefaults[DeliverEmailArgs]
	Store  EmailStore
	Sender Sender
	From   string
	Now    func() time.Time
	// Outcomes, when set, is told the outcome of every attempt.
	Outcomes OutcomeRecorder
	// SendTimeout is the longest one email may take to send (the SMTP
	// sender's timeout): no email is begun with less than that left of the
	// attempt's time, so an attempt ends within its Timeout.
	SendTimeout time.Duration
	// Replies, when its address is set, is where replies to the emails to
	// requesters go (Reply-To), read back by the inbound mail; Threads then
	// says which thread each email continues.
	Replies ReplyAddress
	Threads EmailThreads
}

// ReplyAddress is the address replies to requesters' emails go to
// (INBOUND_REPLY_TO), and whether the request's reference goes after a +
// in it (INBOUND_PLUS_ADDRESSING).
type ReplyAddress struct {
	Base string
	Plus bool
}

// EmailThreads reads which request and which of its requester's letters
// each email follows (store.Store).
type EmailThreads interface {
	EmailThreads(ctx context.Context, ids []int64) (map[int64]store.EmailThread, error)
}

// maxReferences bounds the References an email carries: the thread's
// first and latest are what mail clients need.
const maxReferences = 10

// Timeout is a delivery attempt's time: JobTimeout, within which River's
// rescuer never takes the job for a lost one (RescueStuckAfter).
func (w *DeliverEmailWorker) Timeout(*river.Job[DeliverEmailArgs]) time.Duration { return JobTimeout }

// Work implements river.Worker. Emails already sent (by an earlier attempt)
// are skipped. When the server cannot be reached, the attempt ends there: the
// rest would fail the same way, and stay queued for the retry. A server's
// reply refusing one message (a full mailbox, greylisting, an unknown
// address) does not hold back the others. Refusals for good (5xx, or a
// message that can never be sent) are not retried by River; staff see them
// on the request and can retry once the cause is fixed. What was sent is
// recorded before the job returns, so a retry never sends it again.
func (w *DeliverEmailWorker) Work(ctx context.Context, job *river.Job[DeliverEmailArgs]) error {
	ids := job.Args.IDs()
	emails, err := w.Store.Emails(ctx, ids)
	if err != nil {
		return err
	}
	if len(emails) == 0 {
		return river.JobCancel(fmt.Errorf("emails %v do not exist", ids))
	}
	var threads map[int64]store.EmailThread
	if w.Replies.Base != "" && w.Threads != nil {
		if threads, err = w.Threads.EmailThreads(ctx, ids); err != nil {
			return err
		}
	}
	var sent []int64
	var retry, refused error
	for _, e := range emails {
		if e.State == store.EmailSent {
			continue
		}
		if dl, ok := ctx.Deadline(); ok && w.SendTimeout > 0 && time.Until(dl) < w.SendTimeout {
			// The rest waits for the next attempt rather than run past this one's time.
			retry = errors.Join(retry, fmt.Errorf("email %d: no time left in this attempt", e.ID))
			break
		}
		err := w.Sender.Send(ctx, w.message(e, threads[e.ID]))
		if err == nil {
			w.record(OutcomeSent)
			sent = append(sent, e.ID)
			continue
		}
		var de *mail.DeliveryError
		replied := errors.As(err, &de) && de.Code != 0
		permanent := replied && de.Permanent ||
			errors.Is(err, mail.ErrHeaderInjection) || errors.Is(err, mail.ErrInvalidMessage)
		recErr := w.Store.MarkEmailFailed(ctx, e.ID, w.Now(), err.Error())
		err = fmt.Errorf("email %d: %w", e.ID, err)
		if recErr != nil {
			w.record(OutcomeFailed)
			return errors.Join(err, recErr, w.markSent(ctx, sent))
		}
		if permanent {
			w.record(OutcomeRefused)
			refused = errors.Join(refused, err)
			continue
		}
		w.record(OutcomeFailed)
		retry = errors.Join(retry, err)
		if !replied {
			break // the server is out of reach
		}
	}
	if err := w.markSent(ctx, sent); err != nil {
		return errors.Join(retry, err)
	}
	switch {
	case retry != nil:
		return retry
	case refused != nil:
		return river.JobCancel(refused)
	}
	return nil
}

func (w *DeliverEmailWorker) message(e store.Email, t store.EmailThread) mail.Message {
	m := mail.Message{
		MessageID: e.MessageID,
		From:      w.From,
		To:        e.To,
		Subject:   e.Subject,
		Text:      withSecrets(e.Text, e.Secrets),
		HTML:      withSecrets(e.HTML, e.Secrets),
		Date:      w.Now(),
		Headers:   map[string]string{"Auto-Submitted": "auto-generated"},
	}
	if w.Replies.Base == "" || !request.ToRequester(e.Kind) {
		return m
	}
	// A requester's reply comes back to the inbound mail, threaded by the
	// reference in the plus-address (and the subject, which always has it).
	tag := inbound.Tag{}
	if w.Replies.Plus && t.Reference != "" {
		tag, _ = inbound.ReferenceTag(t.Reference)
	}
	if addr, err := inbound.ReplyAddress(w.Replies.Base, tag); err == nil {
		m.Headers["Reply-To"] = addr
	}
	// An answer to a requester who wrote continues the thread of their
	// last letter.
	if t.InReplyTo != "" {
		refs := append(append([]string{}, t.References...), t.InReplyTo)
		if len(refs) > maxReferences {
			refs = append(refs[:1], refs[len(refs)-maxReferences+1:]...)
		}
		for i, id := range refs {
			refs[i] = "<" + id + ">"
		}
		m.Headers["In-Reply-To"] = "<" + t.InReplyTo + ">"
		m.Headers["References"] = strings.Join(refs, " ")
	}
	return m
}

// markSent records the emails the relay accepted, in one statement.
func (w *DeliverEmailWorker) markSent(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := w.Store.MarkEmailsSent(ctx, ids, w.Now()); err != nil {
		return fmt.Errorf("record delivery of emails %v: %w", ids, err)
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
