package request

import (
	"errors"
	"fmt"
)

// Status is where a request is in its lifecycle.
type Status string

// The lifecycle: unverified → new → in_progress ⇄ awaiting_requester →
// completed | rejected; withdrawn from any open state; expired when never
// confirmed.
const (
	Unverified        Status = "unverified"
	New               Status = "new"
	InProgress        Status = "in_progress"
	AwaitingRequester Status = "awaiting_requester"
	Completed         Status = "completed"
	Rejected          Status = "rejected"
	Withdrawn         Status = "withdrawn"
	Expired           Status = "expired"
)

// Open reports whether the request still waits for an answer.
func (s Status) Open() bool {
	switch s {
	case Unverified, New, InProgress, AwaitingRequester:
		return true
	}
	return false
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
func Statuses() []Status {
	return []Status{Unverified, New, InProgress, AwaitingRequester, Completed, Rejected, Withdrawn, Expired}
}
