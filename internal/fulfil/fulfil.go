// Package fulfil answers requests from the operator's own systems, inside
// the request's life: it wires the data map's engine (internal/plan,
// internal/connector, internal/accesspack) to the request's rules
// (request.IdentityRule.CheckFulfilment), the store and the jobs.
//
// An access or portability request is answered by a gathering: one durable
// step per database system of the map reads every row of the person, keeps
// them sealed, and once every step is done the access package is built from
// what the steps kept, in the requester's language, as a draft that staff
// review and send with the answer. An erasure, rectification, restriction
// or consent withdrawal is answered by a plan: staff see what it would do,
// approve exactly that (by its digest), and each system's part then runs as
// a durable step, idempotently, the rows changed logged per collection.
//
// Nothing is read or changed for a requester whose identity the request has
// not established, and only by the identifiers the request has proven.
package fulfil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"rightsdesk/internal/accesspack"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// Store is what the service keeps (store.Fulfilments).
type Store interface {
	Start(ctx context.Context, reference string, decide func(r request.Request, current *store.Fulfilment, proof request.IdentityProof) (store.NewFulfilment, error)) (store.Fulfilment, error)
	Retry(ctx context.Context, reference string, stepID int64, by request.StaffActor, at time.Time, check func(r request.Request, f store.Fulfilment, st store.Step) error) error
	Claim(ctx context.Context, stepID, jobID int64, lease time.Duration, at time.Time) (store.StepWork, error)
	Finish(ctx context.Context, stepID, jobID int64, out store.StepOutcome) error
	Callback(ctx context.Context, stepID int64, owner string, out store.StepOutcome) error
	Polled(ctx context.Context, stepID int64, out store.StepOutcome) error
	WaitingStep(ctx context.Context, stepID int64) (store.PollWork, error)
	GatheringToPack(ctx context.Context, fulfilmentID int64) (store.PackageWork, error)
	SavePackage(ctx context.Context, fulfilmentID int64, zip, sha, summary []byte, rows int64, at time.Time) error
	Package(ctx context.Context, requestID int64) ([]byte, error)
	StaffPackage(ctx context.Context, requestID, staffID int64, at time.Time) ([]byte, error)
	Current(ctx context.Context, requestID int64) (*store.Fulfilment, error)
	Executions(ctx context.Context, requestID int64) ([]store.Fulfilment, error)
	Proof(ctx context.Context, requestID int64) (request.IdentityProof, error)
	AutoGatherCandidates(ctx context.Context, types []request.Type, after int64, limit int) ([]store.Candidate, error)
}

// Requests reads requests (store.Store).
type Requests interface {
	RequestByReference(ctx context.Context, reference string) (request.Request, error)
}

// Config is how a deployment answers from its data map.
type Config struct {
	// Identity is IDENTITY_CHECK: which answers need a staff-recorded check.
	Identity request.IdentityRule
	Org      string
	Location *time.Location
	// BaseURL is the portal's address, for the HTTP systems' callback URLs.
	BaseURL string
	// AutoGather lists the types gathered without staff asking, once the
	// requester's identity is established (AUTO_GATHER).
	AutoGather []request.Type
	// StepLease is how long a job's claim on a step holds (jobs.StepLease).
	StepLease time.Duration
	// PollMax is the longest wait between two polls of an operator's system
	// (the first is PollFirst, doubling); MaxPolls bounds them.
	PollFirst, PollMax time.Duration
	MaxPolls           int
}

// Service answers requests from the data map.
type Service struct {
	Systems  *connector.Systems
	Store    Store
	Requests Requests
	Packages *accesspack.Builder
	Catalog  *i18n.Catalog
	Clock    request.Clock
	Logger   *slog.Logger
	Config   Config
}

// Errors the service refuses with, each shown to staff in their language.
var (
	// ErrNotCovered: the data map has nothing to do for this request type.
	ErrNotCovered = errors.New("the data map has nothing for this request type")
	// ErrStepsRunning refuses a new plan while steps of the current one
	// have not finished: what they change must be known first.
	ErrStepsRunning = errors.New("the steps of the current plan are not finished")
	// ErrPlanChanged refuses an approval of a plan that is no longer what
	// it would do: staff see the new one and approve that.
	ErrPlanChanged = errors.New("the plan changed since it was shown")
	// ErrNotRetryable: only a step that failed, or that waits for an
	// operator's system, can be tried again.
	ErrNotRetryable = errors.New("the step has not failed")
	// ErrForged is a callback whose signature does not verify.
	ErrForged = errors.New("callback: bad or stale signature")
	// ErrNoStepWaits is a callback for a step that does not wait for one
	// (unknown, replaced, or answered before).
	ErrNoStepWaits = errors.New("callback: no step waits for it")
)

// SystemUnavailable is a plan that could not be made because a system did
// not answer as it should; Reason is a connector.Reason code.
type SystemUnavailable struct {
	System string
	Reason string
	Err    error
}

func (e *SystemUnavailable) Error() string {
	return fmt.Sprintf("system %s: %s: %v", e.System, e.Reason, e.Err)
}

func (e *SystemUnavailable) Unwrap() error { return e.Err }

// Map is the data map the service answers from.
func (s *Service) Map() *datamap.Map { return s.Systems.Map() }

// PlanType is the engine's type for a request type; ok is false for a type
// the engine does not answer (objection).
func PlanType(t request.Type) (plan.Type, bool) {
	for _, pt := range plan.Types() {
		if string(pt) == string(t) {
			return pt, true
		}
	}
	return "", false
}

// Gathers reports whether requests of type t are answered by a gathering
// (access, portability) rather than by a plan.
func Gathers(t request.Type) bool {
	pt, ok := PlanType(t)
	return ok && !pt.Changes()
}

// Covers reports whether the data map has something to do for requests of
// type t: the request page offers its actions only then.
func (s *Service) Covers(t request.Type) bool {
	pt, ok := PlanType(t)
	if !ok {
		return false
	}
	m := s.Map()
	switch pt {
	case plan.Access, plan.Portability:
		return len(sqlSystems(m)) > 0
	case plan.Restriction, plan.ConsentWithdrawal:
		for _, c := range m.Collections {
			if c.Action(string(pt)) != nil {
				return true
			}
		}
		return false
	}
	return len(m.Collections) > 0
}

func sqlSystems(m *datamap.Map) []string {
	var out []string
	for _, s := range m.Systems {
		if s.Kind.SQL() {
			out = append(out, s.Name)
		}
	}
	return out
}

// identity is who r's rows belong to, under the rule, read outside any lock
// (for a plan shown to staff; Start checks again with the request locked).
func (s *Service) identity(ctx context.Context, r request.Request) (request.IdentityProof, error) {
	return s.Store.Proof(ctx, r.ID)
}

// CheckFulfilment is the rule for r now, with what the store knows of its
// proof: nil when the systems may be touched for its requester.
func (s *Service) CheckFulfilment(ctx context.Context, r request.Request) error {
	proof, err := s.identity(ctx, r)
	if err != nil {
		return err
	}
	_, err = s.Config.Identity.CheckFulfilment(r, proof)
	return err
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
