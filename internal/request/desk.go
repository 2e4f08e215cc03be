package request

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"rightsdesk/internal/deadline"
)

// StaffMember is a member of staff as the desk needs them.
type StaffMember struct {
	ID     int64
	Name   string
	Email  string
	Locale Locale
	Active bool
	// CanWork says the member's role may work requests (an auditor's may
	// not): only they can be given one.
	CanWork bool
}

// StaffDirectory finds staff members.
type StaffDirectory interface {
	StaffMember(ctx context.Context, id int64) (StaffMember, error)
}

// Extender is the deadline policy as the desk and the requester's replies
// use it: what an extension would give, how a paused clock moves the due
// date, and the plain due date of a request.
type Extender interface {
	Extension(in deadline.Input, current deadline.Result, now time.Time) (deadline.Result, error)
	Resume(current deadline.Result, pausedAt, resumedAt time.Time) (deadline.Result, error)
	Due(in deadline.Input) (deadline.Result, error)
}

// Errors of staff actions, each shown to staff in their language.
var (
	ErrTextRequired    = errors.New("a text is required")
	ErrReasonRequired  = errors.New("a reason is required")
	ErrUnknownStaff    = errors.New("no such active staff member")
	ErrNotAssignable   = errors.New("this member of staff cannot work requests")
	ErrNoExtensionLeft = errors.New("the deadline cannot be extended")
	ErrDeadlinePassed  = errors.New("the deadline has passed")
	// ErrPreviewChanged refuses to send an answer whose email is no longer
	// the one staff previewed (Prepared.Digest): what they typed, or the
	// request, changed since. Nothing was sent; they see the new one.
	ErrPreviewChanged = errors.New("the email changed since its preview")
)

// DeskConfig is how a deployment answers requests.
type DeskConfig struct {
	OrgName      string
	DownloadFor  time.Duration // how long a response download link works
	ComplaintURL string        // where to complain, shown with a rejection
	// ComplaintText replaces the built-in sentence on complaining, per language.
	ComplaintText map[Locale]string
	// PauseWhileAwaiting stops the deadline clock while staff wait for the
	// requester (PAUSE_WHILE_AWAITING).
	PauseWhileAwaiting bool
	// Preset is the deployment's deadline preset (DEADLINE_PRESET): the rule
	// set of records that do not name their own.
	Preset string
	// Identity says which answers need a staff-recorded identity check
	// (IDENTITY_CHECK).
	Identity IdentityRule
	// Types are the request types the deployment offers (ENABLED_TYPES):
	// the ones staff may give a letter's request in triage.
	Types []Type
}

// Desk carries out what staff do to a request. Every action checks what
// staff typed, then, with the request locked, whether the request allows
// it (the lifecycle table and the deployment's rules), and is logged with
// the StaffActor behind it. An action that emails is worked out first as a
// Prepared (the change and the exact email), so that a preview shows what
// the action sends.
type Desk struct {
	Repo      ChangeRepository
	Staff     StaffDirectory
	Notes     NoteRepository
	Letters   LetterMerger
	Deadlines Extender
	Composer  Composer
	Clock     Clock
	Links     Links
	Config    DeskConfig
	Random    ioReader
	// Fulfilment reads how answering a request from the data map stands;
	// nil when no data map is configured.
	Fulfilment FulfilmentReader
}

// act carries out an action on the request named by reference, as by:
// prepare works it out against the request, locked, at now; its email goes
// with its links. With previewed set, the action is carried out only if
// what it sends is still the Prepared of that Digest (ErrPreviewChanged).
func (d *Desk) act(ctx context.Context, reference string, by StaffActor, previewed string, prepare func(r Request, now time.Time) (Prepared, error)) (Request, error) {
	if err := by.check(); err != nil {
		return Request{}, err
	}
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		p, err := prepare(r, now)
		if err != nil {
			return Change{}, err
		}
		if previewed != "" && p.Digest() != previewed {
			return Change{}, ErrPreviewChanged
		}
		ch, err := d.withLinks(p)
		if err != nil {
			return Change{}, err
		}
		return by.stamp(ch), nil
	})
}

// data is what every email about r can say.
func (d *Desk) data(r Request) map[string]any {
	return map[string]any{
		"Org": d.Config.OrgName, "Reference": r.Reference, "Type": string(r.Type),
		"DueAt": r.DueAt, "StaffURL": d.Links.Staff(r.Reference),
		"StatusURL": d.Links.Status(SecretPlaceholder(SecretStatus)), "ComplaintURL": d.Config.ComplaintURL,
		"ComplaintText": d.Config.ComplaintText[r.Locale],
	}
}

// toRequester prepares ch with the email of kind to r's requester, which
// carries a status link of its own (added when it is sent).
func (d *Desk) toRequester(ch Change, kind string, r Request, extra map[string]any) (Prepared, error) {
	data := d.data(r)
	for k, v := range extra {
		data[k] = v
	}
	mail, err := composeEmail(d.Composer, d.Random, d.Links, kind, r.Email, r.Locale, data)
	if err != nil {
		return Prepared{}, err
	}
	return Prepared{Email: &mail, change: ch, statusLink: true}, nil
}

// staffChange is a transition made by staff; leaving a paused wait for the
// requester restarts the clock.
func (d *Desk) staffChange(r Request, to Status, event string, now time.Time) (Change, error) {
	if err := CheckTransition(r.Status, to, ActorStaff); err != nil {
		return Change{}, err
	}
	return resumeClock(d.Deadlines, r, Change{To: to, Event: event, Actor: ActorStaff, At: now})
}

// resumeClock moves the due date by the days a paused request waited for the
// requester, and marks the pause over; a request that is not paused is left
// as it is.
func resumeClock(dl Extender, r Request, ch Change) (Change, error) {
	if r.PausedAt.IsZero() || r.Status != AwaitingRequester || ch.To == AwaitingRequester {
		return ch, nil
	}
	res, err := dl.Resume(deadline.Result{DueAt: r.DueAt, Rule: r.Rule}, r.PausedAt, ch.At)
	if err != nil {
		return Change{}, err
	}
	ch.Resume, ch.DueAt = true, res.DueAt
	if ch.Data == nil {
		ch.Data = map[string]any{}
	}
	ch.Data["clock_resumed"], ch.Data["due_at"] = true, res.DueAt
	return ch, nil
}

// Assign gives the request to a member of staff (or to nobody when to is
// 0) and emails them, unless they gave it to themselves. Assignment never
// changes the state. Only an active member whose role works requests can
// be given one: an auditor holding a request would be asked to act on it
// and could not, and its deadline would be nobody's.
func (d *Desk) Assign(ctx context.Context, reference string, by StaffActor, to int64) (Request, error) {
	var member StaffMember
	if to != 0 {
		var err error
		member, err = d.Staff.StaffMember(ctx, to)
		if errors.Is(err, ErrNotFound) || err == nil && !member.Active {
			return Request{}, ErrUnknownStaff
		}
		if err != nil {
			return Request{}, err
		}
		if !member.CanWork {
			return Request{}, ErrNotAssignable
		}
	}
	return d.act(ctx, reference, by, "", func(r Request, now time.Time) (Prepared, error) {
		ch := Change{To: r.Status, Event: "assigned", At: now, Assign: &to, Data: map[string]any{"from": r.AssigneeID, "to": to}}
		if to == 0 || to == by.StaffID {
			return Prepared{change: ch}, nil
		}
		mail, err := composeEmail(d.Composer, d.Random, d.Links, EmailAssigned, member.Email, member.Locale, d.data(r))
		if err != nil {
			return Prepared{}, err
		}
		return Prepared{Email: &mail, change: ch}, nil
	})
}

// Start moves a new request into work.
func (d *Desk) Start(ctx context.Context, reference string, by StaffActor) (Request, error) {
	return d.act(ctx, reference, by, "", func(r Request, now time.Time) (Prepared, error) {
		ch, err := d.staffChange(r, InProgress, "started", now)
		return Prepared{change: ch}, err
	})
}

// AskForInformation sends the requester a message and waits for their
// answer on the status page; with PauseWhileAwaiting the clock stops until
// they answer.
func (d *Desk) AskForInformation(ctx context.Context, reference string, by StaffActor, message string) (Request, error) {
	message = StaffText(message)
	if message == "" || utf8.RuneCountInString(message) > MaxReplyLength {
		return Request{}, ErrTextRequired
	}
	return d.act(ctx, reference, by, "", func(r Request, now time.Time) (Prepared, error) {
		ch, err := d.staffChange(r, AwaitingRequester, "information_requested", now)
		if err != nil {
			return Prepared{}, err
		}
		if d.Config.PauseWhileAwaiting {
			ch.Pause = true
			ch.Data = map[string]any{"clock_paused": true}
		}
		ch.Messages = []NewMessage{{Author: ActorStaff, Body: message}}
		return d.toRequester(ch, EmailInformationRequested, r, map[string]any{"Message": message})
	})
}

// CanExtend is what extending r would give now (the new date and how it is
// counted), or why r cannot be extended: it is closed or unconfirmed
// (ErrTransitionNotAllowed), its deadline has passed (ErrDeadlinePassed),
// or its rule allows no more (ErrNoExtensionLeft). Extend grants exactly
// this.
func (d *Desk) CanExtend(r Request) (deadline.Result, error) {
	return d.extension(r, d.Clock.Now())
}

func (d *Desk) extension(r Request, now time.Time) (deadline.Result, error) {
	if !r.Status.Open() || r.Status == Unverified || r.Status == Triage {
		// Unconfirmed, or its type (and so its rule) not confirmed yet.
		return deadline.Result{}, fmt.Errorf("%w: %s cannot be extended", ErrTransitionNotAllowed, r.Status)
	}
	if d.Deadlines == nil {
		return deadline.Result{}, ErrNoExtensionLeft
	}
	ext, err := d.Deadlines.Extension(r.deadlineInput(),
		deadline.Result{DueAt: r.DueAt, Rule: r.Rule, LegalRef: r.LegalRef, Extensions: r.Extensions}, now)
	switch {
	case errors.Is(err, deadline.ErrExtensionAfterDeadline):
		return deadline.Result{}, ErrDeadlinePassed
	case errors.Is(err, deadline.ErrNoExtension), errors.Is(err, deadline.ErrExtensionLimit):
		return deadline.Result{}, ErrNoExtensionLeft
	}
	return ext, err
}

// Extend moves the deadline as the policy allows (CanExtend), with a
// reason; the requester is told the new date and why.
func (d *Desk) Extend(ctx context.Context, reference string, by StaffActor, reason string) (Request, error) {
	reason = StaffText(reason)
	if reason == "" {
		return Request{}, ErrReasonRequired
	}
	return d.act(ctx, reference, by, "", func(r Request, now time.Time) (Prepared, error) {
		ext, err := d.extension(r, now)
		if err != nil {
			return Prepared{}, err
		}
		ch := Change{
			To: r.Status, Event: "extended", At: now,
			Data:  map[string]any{"due_at": ext.DueAt, "rule": ext.Rule},
			Text:  reason,
			DueAt: ext.DueAt, Extended: true,
		}
		r.DueAt = ext.DueAt
		return d.toRequester(ch, EmailExtended, r, map[string]any{"Reason": reason})
	})
}

// CanRecompute returns nil when r may be dated again: while it is open and
// its type confirmed (triage dates a letter's request by its type).
func (d *Desk) CanRecompute(r Request) error {
	if !r.Status.Open() || r.Status == Triage {
		return fmt.Errorf("%w: %s is %s", ErrTransitionNotAllowed, r.Reference, r.Status)
	}
	return nil
}

// Recompute dates an open request again under the policy in force now. A
// policy change never moves a request by itself; an admin does it here,
// with a reason, and the old and new dates are logged. Extensions already
// granted are not replayed: the request gets the policy's plain date.
func (d *Desk) Recompute(ctx context.Context, reference string, by StaffActor, reason string) (Request, error) {
	reason = StaffText(reason)
	if reason == "" {
		return Request{}, ErrReasonRequired
	}
	return d.act(ctx, reference, by, "", func(r Request, now time.Time) (Prepared, error) {
		if err := d.CanRecompute(r); err != nil {
			return Prepared{}, err
		}
		in := r.deadlineInput()
		due, err := d.Deadlines.Due(in)
		if errors.Is(err, deadline.ErrNotStarted) {
			in.ConfirmedAt = r.ReceivedAt
			due, err = d.Deadlines.Due(in)
		}
		if err != nil {
			return Prepared{}, err
		}
		return Prepared{change: Change{
			To: r.Status, Event: "deadline_recomputed", At: now,
			DueAt: due.DueAt, Rule: &due,
			Data: map[string]any{"old_due_at": r.DueAt, "old_rule": r.Rule, "due_at": due.DueAt, "rule": due.Rule},
			Text: reason,
		}}, nil
	})
}

// RecordIdentityCheck records that staff established who the requester
// is, how, with a note (which may name the person, so it is kept sealed
// beside the log). A request is checked once, while it is open and its
// address confirmed (CanCheckIdentity).
func (d *Desk) RecordIdentityCheck(ctx context.Context, reference string, by StaffActor, method IdentityMethod, note string) (Request, error) {
	note, err := checkIdentityInput(method, note)
	if err != nil {
		return Request{}, err
	}
	return d.act(ctx, reference, by, "", func(r Request, now time.Time) (Prepared, error) {
		ch, err := identityChange(r, method, note, now)
		return Prepared{change: ch}, err
	})
}

// CanCheckIdentity returns nil when an identity check can be recorded on
// r: open, its address confirmed, and not checked before.
func (d *Desk) CanCheckIdentity(r Request) error { return identityCheckable(r) }

// IdentityState says whether r needs an identity check and has one.
func (d *Desk) IdentityState(r Request) IdentityState { return d.Config.Identity.State(r) }

// CheckAnswer returns nil when r may be completed now: the lifecycle
// allows it and, where the deployment wants one (IDENTITY_CHECK), a check
// of who the requester is has been recorded. Data leaves, or is destroyed,
// only for a requester proven as the deployment requires. Rejecting stays
// possible without a check: "identity not confirmed" is one of its grounds.
func (d *Desk) CheckAnswer(r Request) error {
	if err := CheckTransition(r.Status, Completed, ActorStaff); err != nil {
		return err
	}
	return d.Config.Identity.AllowsAnswer(r)
}
