package fulfil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"rightsdesk/internal/connector"
	"rightsdesk/internal/identifier"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// Gather starts gathering the requester's rows for an access or
// portability request, as by: one step per database system of the map.
// A gathering replaces the request's earlier one, and its package (logged).
// Refused (the request unchanged) when the request is not one the map
// gathers for, or its requester's identity is not established.
func (s *Service) Gather(ctx context.Context, reference string, by request.StaffActor) (store.Fulfilment, error) {
	return s.gather(ctx, reference, by, false)
}

func (s *Service) gather(ctx context.Context, reference string, by request.StaffActor, auto bool) (store.Fulfilment, error) {
	now := s.Clock.Now()
	m := s.Map()
	return s.Store.Start(ctx, reference, func(r request.Request, cur *store.Fulfilment, proof request.IdentityProof) (store.NewFulfilment, error) {
		if !Gathers(r.Type) || !s.Covers(r.Type) {
			return store.NewFulfilment{}, ErrNotCovered
		}
		id, err := s.Config.Identity.CheckFulfilment(r, proof)
		if err != nil {
			return store.NewFulfilment{}, err
		}
		if auto && cur != nil {
			return store.NewFulfilment{}, errAlreadyStarted
		}
		pt, _ := PlanType(r.Type)
		// What a gathering reads is the map's to say, system by system;
		// its plan records whose rows, under which map.
		p := plan.Plan{Type: pt, MapDigest: m.Digest, Identity: id, Systems: []plan.System{}}
		for _, sys := range m.Systems {
			if sys.Kind.SQL() {
				p.Systems = append(p.Systems, plan.System{Name: sys.Name, Kind: string(sys.Kind), Collections: []plan.Collection{}})
			}
		}
		return newFulfilment(store.FulfilGather, p, by, now)
	})
}

// errAlreadyStarted: the automatic gathering never replaces one.
var errAlreadyStarted = errors.New("a gathering was started already")

// newFulfilment is the fulfilment that runs p, one step per system.
func newFulfilment(kind string, p plan.Plan, by request.StaffActor, now time.Time) (store.NewFulfilment, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return store.NewFulfilment{}, fmt.Errorf("encode plan: %w", err)
	}
	nf := store.NewFulfilment{Kind: kind, Plan: b, PlanDigest: p.Digest(), MapDigest: p.MapDigest, By: by, At: now}
	for _, sys := range p.Systems {
		nf.Systems = append(nf.Systems, sys.Name)
	}
	return nf, nil
}

// unfinished reports a fulfilment with a step that has not finished:
// pending, running, or waiting for an operator's system.
func unfinished(f store.Fulfilment) bool {
	for _, st := range f.Steps {
		switch st.State {
		case store.StepPending, store.StepRunning, store.StepWaiting:
			return true
		}
	}
	return false
}

// PreparePlan works out the plan for r now, without changing anything:
// per system and collection the rows, the fields and what happens to each,
// what is kept and why. corrections are a rectification's (nil for the
// other types). This is what Approve runs, if it is still the same.
func (s *Service) PreparePlan(ctx context.Context, r request.Request, corrections []plan.Correction) (plan.Plan, error) {
	pt, ok := PlanType(r.Type)
	if !ok || !pt.Changes() || !s.Covers(r.Type) {
		return plan.Plan{}, ErrNotCovered
	}
	proof, err := s.identity(ctx, r)
	if err != nil {
		return plan.Plan{}, err
	}
	id, err := s.Config.Identity.CheckFulfilment(r, proof)
	if err != nil {
		return plan.Plan{}, err
	}
	if pt != plan.Rectification {
		corrections = nil
	}
	return s.makePlan(ctx, pt, id, corrections)
}

// makePlan counts what a plan would do in the operator's systems; a system
// that cannot be read is a *SystemUnavailable with its reason.
func (s *Service) makePlan(ctx context.Context, pt plan.Type, id identifier.Identity, corrections []plan.Correction) (plan.Plan, error) {
	p, err := plan.Make(ctx, s.Systems, pt, id, corrections)
	var se *connector.SystemError
	switch {
	case errors.As(err, &se):
		return plan.Plan{}, &SystemUnavailable{System: se.System, Reason: connector.Reason(err), Err: err}
	case err != nil:
		return plan.Plan{}, err
	}
	return p, nil
}

// Approve records the approval of the plan staff were shown (by its
// digest) and starts its execution: one durable step per system. It works
// the plan out again first; if it is no longer the one shown (a row more
// to erase, another map, other corrections) nothing is approved and the
// error is ErrPlanChanged. Refused as well for a closed request, a
// requester whose identity is not established, and while steps of an
// earlier plan still run.
func (s *Service) Approve(ctx context.Context, reference string, by request.StaffActor, corrections []plan.Correction, digest string) (store.Fulfilment, error) {
	r, err := s.Requests.RequestByReference(ctx, reference)
	if err != nil {
		return store.Fulfilment{}, err
	}
	p, err := s.PreparePlan(ctx, r, corrections)
	if err != nil {
		return store.Fulfilment{}, err
	}
	if p.Digest() != digest {
		return store.Fulfilment{}, ErrPlanChanged
	}
	now := s.Clock.Now()
	return s.Store.Start(ctx, reference, func(r request.Request, cur *store.Fulfilment, proof request.IdentityProof) (store.NewFulfilment, error) {
		// The request as it is now, locked: the same rule again.
		id, err := s.Config.Identity.CheckFulfilment(r, proof)
		if err != nil {
			return store.NewFulfilment{}, err
		}
		if id != p.Identity {
			return store.NewFulfilment{}, ErrPlanChanged
		}
		if cur != nil && unfinished(*cur) {
			return store.NewFulfilment{}, ErrStepsRunning
		}
		return newFulfilment(store.FulfilExecute, p, by, now)
	})
}

// Retry has a step of the request's current fulfilment run again now: one
// that failed (for good, after its attempts or for a reason retrying could
// not pass) or that waits for an operator's system. The request must still
// be one staff can answer, for a requester whose identity is established.
func (s *Service) Retry(ctx context.Context, reference string, by request.StaffActor, stepID int64) error {
	return s.Store.Retry(ctx, reference, stepID, by, s.Clock.Now(), func(r request.Request, f store.Fulfilment, st store.Step) error {
		proof := request.IdentityProof{}
		var err error
		if proof, err = s.identity(ctx, r); err != nil {
			return err
		}
		if _, err := s.Config.Identity.CheckFulfilment(r, proof); err != nil {
			return err
		}
		if st.State != store.StepFailed && st.State != store.StepWaiting {
			return ErrNotRetryable
		}
		return nil
	})
}

// autoGatherBatch is how many candidates the sweep reads at a time.
const autoGatherBatch = 100

// AutoGather starts a gathering for every open request of the types
// AUTO_GATHER names whose requester's identity is now established and that
// was never gathered, and says how many it started. It never replaces a
// gathering staff started (or one it started before).
func (s *Service) AutoGather(ctx context.Context) (int, error) {
	if len(s.Config.AutoGather) == 0 {
		return 0, nil
	}
	started := 0
	var after int64
	for {
		cands, err := s.Store.AutoGatherCandidates(ctx, s.Config.AutoGather, after, autoGatherBatch)
		if err != nil {
			return started, err
		}
		for _, c := range cands {
			after = c.ID
			r, err := s.Requests.RequestByReference(ctx, c.Reference)
			if err != nil {
				return started, err
			}
			if err := s.CheckFulfilment(ctx, r); err != nil {
				continue // not yet: asked again on the next sweep
			}
			_, err = s.gather(ctx, c.Reference, request.StaffActor{}, true)
			switch {
			case err == nil:
				started++
			case errors.Is(err, errAlreadyStarted), errors.Is(err, request.ErrIdentityNotEstablished),
				errors.Is(err, request.ErrTransitionNotAllowed), errors.Is(err, ErrNotCovered):
				// Changed since it was read: nothing to do.
			default:
				return started, err
			}
		}
		if len(cands) < autoGatherBatch {
			return started, nil
		}
	}
}
