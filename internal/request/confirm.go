package request

import (
	"context"
	"errors"
	"time"

	"rightsdesk/internal/deadline"
)

// Confirmation is a stored confirmation link.
type Confirmation struct {
	RequestID int64
	ExpiresAt time.Time
	UsedAt    time.Time // zero until the link is used
}

// ErrAlreadyConfirmed is the answer to a confirmation link used before.
var ErrAlreadyConfirmed = errors.New("request already confirmed")

// ConfirmRepository applies confirmations. Confirm locks the link and its
// request, asks decide what to do, and applies the change atomically; an
// error from decide changes nothing and is returned as is.
type ConfirmRepository interface {
	Confirmation(ctx context.Context, tokenHash []byte) (Request, Confirmation, error)
	Confirm(ctx context.Context, tokenHash []byte, decide func(Request, Confirmation) (Change, error)) (Request, error)
}

// CheckConfirmation says what a confirmation link can still do at now:
// nothing once used (ErrAlreadyConfirmed) or past its time
// (ErrLinkExpired).
func CheckConfirmation(r Request, c Confirmation, now time.Time) error {
	switch {
	case !c.UsedAt.IsZero():
		return ErrAlreadyConfirmed
	case now.After(c.ExpiresAt):
		return ErrLinkExpired
	}
	return CheckTransition(r.Status, confirmedStatus(r.Status), ActorRequester)
}

// confirmedStatus is where confirming the address takes a request: on to
// new, except a letter's request, which stays in triage until staff confirm
// its type (and then goes on as new).
func confirmedStatus(s Status) Status {
	if s == Triage {
		return Triage
	}
	return New
}

// Confirmer moves requests from unverified to new when the requester opens
// the link from the acknowledgement.
type Confirmer struct {
	Repo      ConfirmRepository
	Deadlines Deadlines
	Composer  Composer
	Clock     Clock
	Links     Links
	OrgName   string
	Random    ioReader
}

// Peek tells whether a confirmation link can be used, without using it.
func (cf *Confirmer) Peek(ctx context.Context, token string) (Request, error) {
	if !WellFormedToken(token) {
		return Request{}, ErrNotFound
	}
	r, c, err := cf.Repo.Confirmation(ctx, HashToken(token))
	if err != nil {
		return Request{}, err
	}
	return r, CheckConfirmation(r, c, cf.Clock.Now())
}

// Confirm uses a confirmation link: the request becomes new, the event is
// logged and the requester is told. The "confirmed" email carries a fresh
// status link and every earlier one stops working: from here on only the
// mailbox that confirmed holds a way in. A used, expired or unknown link
// changes nothing.
func (cf *Confirmer) Confirm(ctx context.Context, token string) (Request, error) {
	if !WellFormedToken(token) {
		return Request{}, ErrNotFound
	}
	link, err := NewToken(cf.Random)
	if err != nil {
		return Request{}, err
	}
	now := cf.Clock.Now()
	return cf.Repo.Confirm(ctx, HashToken(token), func(r Request, c Confirmation) (Change, error) {
		if err := CheckConfirmation(r, c, now); err != nil {
			return Change{}, err
		}
		ch := Change{To: confirmedStatus(r.Status), Event: "confirmed", Actor: ActorRequester, ConfirmedAt: now, At: now}
		// A rule whose clock starts at confirmation dates the request now
		// (a letter in triage is dated when staff confirm its type).
		in := deadline.Input{Type: string(r.Type), ReceivedAt: r.ReceivedAt}
		if _, err := cf.Deadlines.Due(in); errors.Is(err, deadline.ErrNotStarted) && r.Status != Triage {
			in.ConfirmedAt = now
			due, err := cf.Deadlines.Due(in)
			if err != nil {
				return Change{}, err
			}
			ch.DueAt, r.DueAt = due.DueAt, due.DueAt
			ch.Data = map[string]any{"due_at": due.DueAt, "rule": due.Rule}
		}
		email, err := composeEmail(cf.Composer, cf.Random, cf.Links, EmailConfirmed, r.Email, r.Locale, map[string]any{
			"Org": cf.OrgName, "Reference": r.Reference, "Type": string(r.Type), "DueAt": r.DueAt,
			"StatusURL": cf.Links.Status(SecretPlaceholder(SecretStatus)),
			// A letter in triage: work starts once staff confirm its type.
			"Letter": r.Status == Triage,
		})
		if err != nil {
			return Change{}, err
		}
		email.Secrets = map[string]string{SecretStatus: link.Plain}
		ch.Emails = []OutboxEmail{email}
		ch.RevokeStatusLinks, ch.AddStatusLink = true, link.Hash
		return ch, nil
	})
}
