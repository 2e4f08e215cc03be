package request

import (
	"errors"
	"fmt"
	"slices"
)

// Status is where a request is in its lifecycle.
type Status string

// The lifecycle: unverified → new → in_progress ⇄ awaiting_requester →
// completed | rejected; withdrawn from any open state; expired when never
// confirmed. A letter to the privacy mailbox starts in triage, where staff
// confirm the right it asks for (then it goes on as unverified or new, as
// a form's request does) or add it to the request it follows up (merged).
const (
	Triage            Status = "triage"
	Unverified        Status = "unverified"
	New               Status = "new"
	InProgress        Status = "in_progress"
	AwaitingRequester Status = "awaiting_requester"
	Completed         Status = "completed"
	Rejected          Status = "rejected"
	Withdrawn         Status = "withdrawn"
	Expired           Status = "expired"
	Merged            Status = "merged"
)

// AllStatuses lists every status, in the lifecycle's order.
func AllStatuses() []Status {
	return []Status{Triage, Unverified, New, InProgress, AwaitingRequester, Completed, Rejected, Withdrawn, Expired, Merged}
}

// Open reports whether the request still waits for an answer. It is the one
// definition of "open": OpenStatuses and ClosedStatuses follow from it, and
// the store's queries and the requests table's partial indexes are spelled
// from those (internal/store tests that the indexes agree).
func (s Status) Open() bool {
	switch s {
	case Triage, Unverified, New, InProgress, AwaitingRequester:
		return true
	}
	return false
}

// Answered reports whether the request was answered: completed or rejected.
// Only an answer can be on time or late; a withdrawn, expired or merged
// request was owed none.
func (s Status) Answered() bool { return s == Completed || s == Rejected }

// OpenStatuses lists the statuses that are Open, in the lifecycle's order.
func OpenStatuses() []Status {
	return slices.DeleteFunc(AllStatuses(), func(s Status) bool { return !s.Open() })
}

// ClosedStatuses lists the statuses a request ends in (those not Open), in
// the lifecycle's order.
func ClosedStatuses() []Status { return slices.DeleteFunc(AllStatuses(), Status.Open) }

// AnsweredStatuses lists the statuses that are Answered.
func AnsweredStatuses() []Status {
	return slices.DeleteFunc(AllStatuses(), func(s Status) bool { return !s.Answered() })
}

// Actor is who asks for a transition.
type Actor string

// The actors of the lifecycle.
const (
	ActorRequester Actor = "requester"
	ActorStaff     Actor = "staff"
	ActorSystem    Actor = "system"
)

// ErrTransitionNotAllowed is returned for a move the lifecycle does not allow.
var ErrTransitionNotAllowed = errors.New("transition not allowed")

// transitions is the whole lifecycle in one table: from → to → who may.
var transitions = map[Status]map[Status][]Actor{
	Triage: {
		Triage:     {ActorRequester}, // confirming the address while the letter waits for staff
		New:        {ActorStaff},     // triaged: the type confirmed, the address proved (or no proof asked)
		Unverified: {ActorStaff},     // triaged; the address is still to be confirmed
		Rejected:   {ActorStaff},
		Merged:     {ActorStaff}, // a follow-up that did not thread, added to the request it follows
		Withdrawn:  {ActorRequester},
		Expired:    {ActorSystem},
	},
	Unverified: {
		New:       {ActorRequester}, // by confirming the email address
		Expired:   {ActorSystem},
		Withdrawn: {ActorRequester},
	},
	New: {
		InProgress:        {ActorStaff},
		AwaitingRequester: {ActorStaff},
		Completed:         {ActorStaff},
		Rejected:          {ActorStaff},
		Withdrawn:         {ActorRequester},
	},
	InProgress: {
		AwaitingRequester: {ActorStaff},
		Completed:         {ActorStaff},
		Rejected:          {ActorStaff},
		Withdrawn:         {ActorRequester},
	},
	AwaitingRequester: {
		InProgress: {ActorStaff, ActorRequester}, // the requester's reply resumes work
		Completed:  {ActorStaff},
		Rejected:   {ActorStaff},
		Withdrawn:  {ActorRequester},
	},
}

// CheckTransition returns nil when actor may move a request from one status to
// another, and an error wrapping ErrTransitionNotAllowed otherwise.
func CheckTransition(from, to Status, actor Actor) error {
	for _, a := range transitions[from][to] {
		if a == actor {
			return nil
		}
	}
	return fmt.Errorf("%w: %s → %s by %s", ErrTransitionNotAllowed, from, to, actor)
}

// Statuses lists every status, in the lifecycle's order.
func Statuses() []Status { return AllStatuses() }
