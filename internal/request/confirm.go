package request

import (
	"context"
	"errors"
	"fmt"
	"time"

	"rightsdesk/internal/deadline"
)

// Confirmation is a stored confirmation link.
type Confirmation struct {
	RequestID int64
	ExpiresAt time.Time
	UsedAt    time.Time // zero until the link is used
}

// Errors of the confirmation link.
var (
	ErrLinkExpired      = errors.New("confirmation link expired")
	ErrAlreadyConfirmed = errors.New("request already confirmed")
)

// Change is what a decision does to a request; the store applies it in one
// transaction with its event and emails.
type Change struct {
	To    Status
	Event string
	Actor Actor
	Data  map[string]any
	// Text is what staff typed for the event (the reason for an extension
	// or a recomputed date). It may name the person, so it is kept beside
	// the append-only log, sealed, and goes with the personal data.
	Text        string
	Emails      []OutboxEmail
	ConfirmedAt time.Time // set when the change confirms the request
	At          time.Time
	Messages    []NewMessage
	Files       []File
	// AddStatusLink adds a status link (by its hash); RevokeStatusLinks
	// first makes every earlier one stop working.
	AddStatusLink     []byte
	RevokeStatusLinks bool
	// ActorID is the member of staff behind a staff action.
	ActorID int64
	// Assign sets the assignee (pointer to 0 for nobody); nil leaves it.
	Assign *int64
	// DueAt moves the deadline; Extended counts it as an extension.
	DueAt    time.Time
	Extended bool
	// OutcomeReason is why a request was rejected.
	OutcomeReason string
	// Download creates an expiring link to the change's (single) file, or
	// to the response file it names.
	Download *NewDownload
	// Identity records an identity check of the requester.
	Identity *IdentityCheck
	// Pause stops the deadline clock at At; Resume clears the pause (the
	// due date has moved by DueAt).
	Pause, Resume bool
	// Rule replaces the rule recorded with the request (a recomputation).
	Rule *deadline.Result
	// DeleteFiles deletes the content of the request's files and their
	// download links with the change, logged as a files_deleted event.
	DeleteFiles bool
}

// ConfirmRepository applies confirmations. Confirm locks the link and its
// request, asks decide what to do, and applies the change atomically; an
// error from decide changes nothing and is returned as is.
type ConfirmRepository interface {
	Confirmation(ctx context.Context, tokenHash []byte) (Request, Confirmation, error)
	Confirm(ctx context.Context, tokenHash []byte, decide func(Request, Confirmation) (Change, error)) (Request, error)
}

// EmailConfirmed is sent when the requester confirms their address.
const EmailConfirmed = "confirmed"

// CheckConfirmation says what a confirmation link can still do at now.
func CheckConfirmation(r Request, c Confirmation, now time.Time) error {
	switch {
	case !c.UsedAt.IsZero():
		return ErrAlreadyConfirmed
	case now.After(c.ExpiresAt):
		return ErrLinkExpired
	}
	return CheckTransition(r.Status, New, ActorRequester)
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
		ch := Change{To: New, Event: "confirmed", Actor: ActorRequester, ConfirmedAt: now, At: now}
		// A rule whose clock starts at confirmation dates the request now.
		in := deadline.Input{Type: string(r.Type), ReceivedAt: r.ReceivedAt}
		if _, err := cf.Deadlines.Due(in); errors.Is(err, deadline.ErrNotStarted) {
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

// ErrNotFound is returned for a link that leads nowhere.
var ErrNotFound = errors.New("not found")

func composeEmail(c Composer, random ioReader, links Links, kind, to string, locale Locale, data map[string]any) (OutboxEmail, error) {
	subject, text, html, err := c.Compose(kind, locale, data)
	if err != nil {
		return OutboxEmail{}, fmt.Errorf("compose %s email: %w", kind, err)
	}
	id, err := NewToken(random)
	if err != nil {
		return OutboxEmail{}, err
	}
	return OutboxEmail{
		Kind: kind, To: to, Locale: locale, Subject: subject, Text: text, HTML: html,
		MessageID: id.Plain[:26] + "@" + links.Host(),
	}, nil
}
