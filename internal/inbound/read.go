package inbound

import (
	"context"
	"errors"
	"time"
)

// Options configure Read.
type Options struct {
	// Mailboxes are the addresses rightsdesk's mail is sent from and
	// replied to (e.g. privacy@operator.kz); a plus-address tag counts only
	// on a tagged form of one of them. Empty: any + address.
	Mailboxes []string
	// Now stamps Envelope.ReceivedAt when the way in left it zero.
	Now func() time.Time
}

// Read parses a raw letter and says all rightsdesk needs to know of it: its
// class, its threading keys, for a reply the text without quoted history,
// the language it is written in and, for a person's letter, the request
// type its words suggest. A letter that breaks a limit is refused with a
// *Refusal (IsRefused).
func Read(raw []byte, env Envelope, opts Options) (*Letter, error) {
	if env.ReceivedAt.IsZero() {
		if opts.Now != nil {
			env.ReceivedAt = opts.Now()
		} else {
			env.ReceivedAt = time.Now()
		}
	}
	l, err := Parse(raw, env)
	if err != nil {
		return nil, err
	}
	l.Keys = ThreadKeys(l, opts.Mailboxes)
	l.Class = Classify(l)
	words := l.Subject + "\n" + l.Text
	if l.Class.Kind == KindReply {
		l.ReplyText = TrimReply(l.Text)
		words = BareSubject(l.Subject) + "\n" + l.ReplyText
	}
	l.Locale = GuessLanguage(words)
	if !l.Class.Automatic() {
		l.Suggestion = SuggestType(words)
	}
	return l, nil
}

// Outcome is what a Sink did with a letter.
type Outcome int

// Outcomes of Sink.Deliver.
const (
	// Stored: the letter is stored, committed.
	Stored Outcome = iota + 1
	// Duplicate: the sink already had this letter (the same Hash, which
	// covers the Message-ID): nothing was stored again.
	Duplicate
)

func (o Outcome) String() string {
	switch o {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	}
	return "unknown"
}

// Sink stores the letters the ways in receive. Every letter that was read is
// handed over, whatever its class: the sink decides what a new letter, a
// reply, a bounce or an auto-reply becomes (an automatic letter must never
// become a request nor be answered).
//
// Deliver returns Stored or Duplicate only once the letter is durably
// stored (the transaction committed); an error means nothing was stored,
// and the way in keeps the letter to deliver it again (the poller leaves it
// in the mailbox, the listener answers 451 so the sending server retries).
// Because a letter may come again after a stored one whose answer was lost,
// Deliver must be idempotent on Letter.Hash (a unique key in the same
// transaction, so that two instances racing store it once): a second
// delivery returns Duplicate and stores nothing. The hash covers the
// Message-ID; a sink may also take a second letter with the same
// Message-ID from the same sender for a duplicate (a list's copy with a
// footer added). It is called from several goroutines at once.
type Sink interface {
	Deliver(ctx context.Context, l *Letter) (Outcome, error)
}

// ErrSetAside is a sink's answer for a letter it will not take now because
// it goes beyond a limit (too many requests from one address in a day, too
// many replies to one request): nothing was stored and nothing will be
// answered. Wrapped in the sink's error, it makes the poller move the letter
// to the refused folder for a person, and the listener answer 450 ("try
// again later"), so the sending server keeps it. A *Refusal from the sink is
// as permanent as one from Read.
var ErrSetAside = errors.New("letter set aside: over a limit")

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, l *Letter) (Outcome, error)

// Deliver calls f.
func (f SinkFunc) Deliver(ctx context.Context, l *Letter) (Outcome, error) { return f(ctx, l) }

// RefusalReason is the closed set of metric and log labels for a refusal.
func RefusalReason(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrTooManyAttachments):
		return "too_many_attachments"
	case errors.Is(err, ErrAttachmentTooLarge):
		return "attachment_too_large"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrSetAside):
		return "over_limit"
	}
	return "other"
}
