package request

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"rightsdesk/internal/deadline"
)

// Triage is what staff do with a letter's request: confirm the right it
// asks for (or choose another), after which it goes on as a request from
// the form does, or merge it into the request it follows up.

// Errors of triage and merging, each shown to staff in their language.
var (
	// ErrTypeNotOffered refuses a type the deployment does not offer (or
	// an access request without its kind of access).
	ErrTypeNotOffered = errors.New("request type not offered")
	// ErrMergeTarget refuses a merge into the letter's own request, into a
	// closed one or into one that does not exist.
	ErrMergeTarget = errors.New("cannot merge into that request")
)

// EventTriaged and EventMerged are the events of triage: the type
// confirmed, and a letter's request merged into another (logged on both).
const (
	EventTriaged      = "triaged"
	EventMerged       = "merged"
	EventLetterMerged = "letter_merged"
)

// LetterMerger merges one request into another: it locks both (in a fixed
// order, so two merges never wait on each other), asks decide, and applies
// both changes in one transaction; the letters and files of from move to
// into with the change on into (its message). An error from decide
// changes nothing.
type LetterMerger interface {
	MergeRequest(ctx context.Context, from, into string, decide func(from, into Request) (Change, Change, error)) (Request, error)
}

// CanTriage returns nil when r waits for staff to confirm its type.
func (d *Desk) CanTriage(r Request) error {
	return CheckTransition(r.Status, triagedStatus(r), ActorStaff)
}

// triagedStatus is where a letter's request goes once triaged: on as new
// when its address is confirmed (or no proof is asked), else unverified,
// waiting for the confirmation link the acknowledgement carried.
func triagedStatus(r Request) Status {
	if r.ConfirmedAt.IsZero() {
		return Unverified
	}
	return New
}

// checkRetype accepts a type the deployment offers, with a kind of access
// for access (information or a copy) and none for the other types.
func (d *Desk) checkRetype(t Retype) (Retype, error) {
	if !t.Type.Valid() || len(d.Config.Types) > 0 && !slices.Contains(d.Config.Types, t.Type) {
		return Retype{}, ErrTypeNotOffered
	}
	if t.Type != Access {
		t.AccessScope = ""
	} else if t.AccessScope != "information" && t.AccessScope != "copy" {
		return Retype{}, ErrTypeNotOffered
	}
	return t, nil
}

// Triage confirms the type of a letter's request (t: the suggested one or
// another) and dates it by that type's rule from its receipt, as if it had
// come with that type; it then goes on as new (or unverified, until the
// sender confirms the address). The suggestion and the date it replaces
// are logged.
func (d *Desk) Triage(ctx context.Context, reference string, by StaffActor, t Retype) (Request, error) {
	t, err := d.checkRetype(t)
	if err != nil {
		return Request{}, err
	}
	return d.act(ctx, reference, by, "", func(r Request, now time.Time) (Prepared, error) {
		to := triagedStatus(r)
		if err := CheckTransition(r.Status, to, ActorStaff); err != nil {
			return Prepared{}, err
		}
		in := deadline.Input{Type: string(t.Type), ReceivedAt: r.ReceivedAt, ConfirmedAt: r.ConfirmedAt}
		due, err := d.Deadlines.Due(in)
		if errors.Is(err, deadline.ErrNotStarted) {
			// The rule counts from confirmation, which is still to come:
			// until then the earliest date it can give (confirming dates it).
			in.ConfirmedAt = r.ReceivedAt
			due, err = d.Deadlines.Due(in)
		}
		if err != nil {
			return Prepared{}, fmt.Errorf("due date for %s: %w", t.Type, err)
		}
		return Prepared{change: Change{
			To: to, Event: EventTriaged, At: now, Retype: &t, DueAt: due.DueAt, Rule: &due,
			Data: map[string]any{"type": t.Type, "from_type": r.Type, "due_at": due.DueAt, "rule": due.Rule, "old_due_at": r.DueAt},
		}}, nil
	})
}

// CanMerge returns nil when r is a letter's request staff may merge into
// another.
func (d *Desk) CanMerge(r Request) error { return CheckTransition(r.Status, Merged, ActorStaff) }

// Merge adds a letter that followed up a request without threading onto it
// (its request, reference) to that request (into): the letter's text
// becomes a message from the requester on into's conversation, its files
// and the letter itself move there, and its own request closes as merged,
// pointing at into. Both requests log it. As a reply does, it resumes work
// on a request that was waiting for the requester.
func (d *Desk) Merge(ctx context.Context, reference string, by StaffActor, into string) (Request, error) {
	if err := by.check(); err != nil {
		return Request{}, err
	}
	target, err := ParseReference(into)
	if err != nil || target == reference {
		return Request{}, ErrMergeTarget
	}
	now := d.Clock.Now()
	return d.Letters.MergeRequest(ctx, reference, target, func(from, to Request) (Change, Change, error) {
		if err := CheckTransition(from.Status, Merged, ActorStaff); err != nil {
			return Change{}, Change{}, err
		}
		if !to.Status.Open() || to.ID == from.ID {
			return Change{}, Change{}, ErrMergeTarget
		}
		closing := Change{To: Merged, Event: EventMerged, At: now,
			Data: map[string]any{"into": to.ID, "into_reference": to.Reference}}
		next := to.Status
		if to.Status == AwaitingRequester {
			next = InProgress
		}
		if err := checkStay(to.Status, next); err != nil {
			return Change{}, Change{}, err
		}
		joined, err := resumeClock(d.Deadlines, to, Change{
			To: next, Event: EventLetterMerged, At: now,
			Data:     map[string]any{"from": from.ID, "from_reference": from.Reference},
			Messages: []NewMessage{{Author: ActorRequester, Body: cutText(from.Details, MaxReplyLength)}},
		})
		if err != nil {
			return Change{}, Change{}, err
		}
		return by.stamp(closing), by.stamp(joined), nil
	})
}

// checkStay allows a change that keeps the status, and checks one that
// moves it.
func checkStay(from, to Status) error {
	if from == to {
		return nil
	}
	return CheckTransition(from, to, ActorStaff)
}
