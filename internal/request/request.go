package request

import (
	"errors"
	"io"
	"time"

	"rightsdesk/internal/deadline"
)

// Request is a stored request as the rest of the application sees it.
type Request struct {
	ID           int64
	Reference    string
	Type         Type
	Status       Status
	Locale       Locale
	ReceivedAt   time.Time
	ConfirmedAt  time.Time
	DueAt        time.Time
	Rule         string
	LegalRef     string
	RuleBasis    string // how the deadline was counted: deadline.Terms, encoded (English text in older records)
	FullName     string
	Email        string
	Phone        string
	AccountID    string
	Details      string
	OnBehalf     bool
	SubjectName  string
	Relationship Relationship
	AccessScope  string
	Correction   string
	Processing   string
	DuplicateOf  int64 // 0 when the request is not linked to an earlier one
	// The assignee, when there is one: who hears of the requester's actions.
	AssigneeID     int64
	AssigneeName   string
	AssigneeEmail  string
	AssigneeLocale Locale
	// Extensions counts deadline extensions; OriginalDueAt is the first date given.
	Extensions    int
	OriginalDueAt time.Time
	OutcomeReason string
	// PausedAt is when the clock stopped while staff wait for the requester.
	PausedAt time.Time
	// Identity is the check of who the requester is, when one was recorded.
	Identity IdentityCheck
}

// RuleSet is the preset whose rules dated r: as its stored terms say, else
// as its rule id says, else fallback (the deployment's preset) for the
// operator's own rules in records from before terms named it.
func (r Request) RuleSet(fallback string) string {
	if t, ok := deadline.DecodeTerms(r.RuleBasis); ok && t.RuleSet != "" {
		return t.RuleSet
	}
	if set := deadline.RuleSetOf(r.Rule); set != "" {
		return set
	}
	return fallback
}

// deadlineInput is what the deadline policy needs to know of r.
func (r Request) deadlineInput() deadline.Input {
	return deadline.Input{Type: string(r.Type), ReceivedAt: r.ReceivedAt, ConfirmedAt: r.ConfirmedAt}
}

// ErrNotFound is returned for a request, a link or a file that leads
// nowhere.
var ErrNotFound = errors.New("not found")

// Clock tells the time; tests pass a fixed one.
type Clock interface{ Now() time.Time }

// Deadlines gives the due date of a request.
type Deadlines interface {
	Due(in deadline.Input) (deadline.Result, error)
}

// ioReader is a source of randomness; nil means crypto/rand.
type ioReader = io.Reader
