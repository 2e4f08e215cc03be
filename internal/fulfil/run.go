package fulfil

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"rightsdesk/internal/accesspack"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/store"
)

// RunStep works one step for the job jobID: it claims the step (nothing
// to do when it is done, replaced, or another live job holds it), reads
// (a gathering) or changes (a plan) the step's system, and records the
// outcome with its event. A failure that may pass (the system is down,
// busy, slow) is recorded and returned, so that River tries again with
// backoff; on the job's last attempt, or for a failure retrying cannot
// pass, the step fails for good with its reason, for staff to retry.
//
// A step done is never worked again, so a retry or a crash never gathers
// a finished system twice; an execution that ran but was not recorded
// (a crash in between) runs again and changes nothing more, since every
// statement only touches rows that still need it.
func (s *Service) RunStep(ctx context.Context, stepID, jobID int64, last bool) error {
	w, err := s.Store.Claim(ctx, stepID, jobID, s.Config.StepLease, s.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var p plan.Plan
	if err := json.Unmarshal(w.Plan, &p); err != nil {
		return s.fail(ctx, w, jobID, connector.ReasonOther, fmt.Errorf("decode plan: %w", err))
	}
	m := s.Map()
	if p.MapDigest != m.Digest || w.MapDigest != m.Digest {
		return s.fail(ctx, w, jobID, connector.ReasonStale, plan.ErrStale)
	}
	if m.System(w.System) == nil {
		return s.fail(ctx, w, jobID, connector.ReasonNotConfigured, fmt.Errorf("no system %q", w.System))
	}
	var out store.StepOutcome
	switch w.Kind {
	case store.FulfilGather:
		out, err = s.gatherSystem(ctx, p, w.System)
	default:
		out, err = s.executeSystem(ctx, p, w)
	}
	if err != nil {
		reason := connector.Reason(err)
		if connector.IsRetryable(err) && !last {
			out = store.StepOutcome{State: store.StepPending, Reason: reason, At: s.Clock.Now()}
			if ferr := s.Store.Finish(ctx, stepID, jobID, out); ferr != nil && !errors.Is(ferr, store.ErrNotFound) {
				return ferr
			}
			// River logs what is returned: the reason and the system, never
			// the driver's text, which may quote the person's values.
			return fmt.Errorf("step %d (%s): %s, tried again later", stepID, w.System, reason)
		}
		return s.fail(ctx, w, jobID, reason, err)
	}
	out.At = s.Clock.Now()
	if err := s.Store.Finish(ctx, stepID, jobID, out); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// fail records a step failed for good.
func (s *Service) fail(ctx context.Context, w store.StepWork, jobID int64, reason string, cause error) error {
	attrs := []any{"step_id", w.ID, "system", w.System, "reason", reason}
	if reason != connector.ReasonConstraint && reason != connector.ReasonValue {
		// Those two may quote a value of the person's rows; the others name
		// hosts, users, tables at most.
		attrs = append(attrs, "error", cause)
	}
	s.log().WarnContext(ctx, "data map step failed", attrs...)
	err := s.Store.Finish(ctx, w.ID, jobID, store.StepOutcome{State: store.StepFailed, Reason: reason, At: s.Clock.Now()})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// gatheredRows is what a gathering step keeps: each collection's rows, in
// the order of its fields (connector.Row).
type gatheredRows map[string][]connector.Row

// gatherSystem reads every row of the person in one system's collections,
// in one snapshot.
func (s *Service) gatherSystem(ctx context.Context, p plan.Plan, system string) (store.StepOutcome, error) {
	sys := s.Map().System(system)
	r := s.Systems.Read(p.Identity)
	defer r.Close()
	rows := gatheredRows{}
	res := store.StepResult{Rows: map[string]int64{}}
	for _, c := range sys.Collections {
		list := []connector.Row{}
		n, err := r.Rows(ctx, c, func(row connector.Row) error {
			list = append(list, row)
			return nil
		})
		if err != nil {
			return store.StepOutcome{}, err
		}
		rows[c.Name] = list
		res.Rows[c.Name] = n
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return store.StepOutcome{}, fmt.Errorf("encode gathered rows: %w", err)
	}
	return store.StepOutcome{State: store.StepDone, Result: res, Rows: b}, nil
}

// executeSystem runs the plan's part for one system: a database's changes
// in one transaction, or an HTTP system's actions, which are done when
// every one is, failed when one is refused and waiting while one is
// pending.
func (s *Service) executeSystem(ctx context.Context, p plan.Plan, w store.StepWork) (store.StepOutcome, error) {
	opts := plan.Options{StepID: CallID(w.Reference, w.System, w.ID), CallbackURL: s.CallbackURL(w.System)}
	res, err := plan.ExecuteSystem(ctx, s.Systems, p, w.System, opts)
	if err != nil {
		return store.StepOutcome{}, err
	}
	if s.Map().System(w.System).Kind != datamap.HTTP {
		rows := res.Rows
		if rows == nil {
			rows = map[string]int64{}
		}
		return store.StepOutcome{State: store.StepDone, Result: store.StepResult{Rows: rows}}, nil
	}
	out := store.StepOutcome{State: store.StepDone, Result: store.StepResult{Calls: map[string]string{}}}
	for c, ar := range res.Calls {
		out.Result.Calls[c] = string(ar.State)
		switch {
		case ar.State == connector.ActionFailed:
			out.State, out.Reason, out.Detail = store.StepFailed, connector.ReasonRefused, ar.Detail
		case ar.State == connector.ActionPending && out.State != store.StepFailed:
			out.State = store.StepWaiting
			if out.PollURL == "" && ar.PollURL != "" {
				out.PollURL, out.PollAt = ar.PollURL, time.Now().Add(s.pollWait(0))
			}
		}
	}
	return out, nil
}

// pollWait is how long to wait before poll n+1: PollFirst doubling, at
// most PollMax. Polls are scheduled by River in real time.
func (s *Service) pollWait(n int) time.Duration {
	first, most := s.Config.PollFirst, s.Config.PollMax
	if first <= 0 {
		first = 30 * time.Second
	}
	if most <= 0 {
		most = time.Hour
	}
	wait := first
	for i := 0; i < n && wait < most; i++ {
		wait *= 2
	}
	return min(wait, most)
}

func (s *Service) maxPolls() int {
	if s.Config.MaxPolls > 0 {
		return s.Config.MaxPolls
	}
	return 40
}

// PollStep asks the operator's system how a waiting step went, when it
// gave a place to ask: the outcome is recorded when it has one; while it
// is still pending the next poll is scheduled, up to MaxPolls, after which
// the step fails with "no answer" for staff to retry.
func (s *Service) PollStep(ctx context.Context, stepID int64) error {
	w, err := s.Store.WaitingStep(ctx, stepID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	h, err := s.Systems.HTTP(w.System)
	if err != nil {
		return s.polled(ctx, stepID, store.StepOutcome{State: store.StepFailed, Reason: connector.Reason(err)})
	}
	ar, err := h.Poll(ctx, w.PollURL)
	switch {
	case connector.IsRetryable(err):
		return fmt.Errorf("poll step %d (%s): %s", stepID, w.System, connector.Reason(err))
	case err != nil:
		return s.polled(ctx, stepID, store.StepOutcome{State: store.StepFailed, Reason: connector.ReasonBadAnswer})
	}
	switch ar.State {
	case connector.ActionDone:
		return s.polled(ctx, stepID, store.StepOutcome{State: store.StepDone, Result: store.StepResult{Calls: map[string]string{}}})
	case connector.ActionFailed:
		return s.polled(ctx, stepID, store.StepOutcome{State: store.StepFailed, Reason: connector.ReasonRefused, Detail: ar.Detail})
	}
	if w.Polls+1 >= s.maxPolls() {
		return s.polled(ctx, stepID, store.StepOutcome{State: store.StepFailed, Reason: connector.ReasonNoAnswer})
	}
	next := w.PollURL
	if ar.PollURL != "" {
		next = ar.PollURL
	}
	return s.polled(ctx, stepID, store.StepOutcome{State: store.StepWaiting, PollURL: next, PollAt: time.Now().Add(s.pollWait(w.Polls + 1))})
}

func (s *Service) polled(ctx context.Context, stepID int64, out store.StepOutcome) error {
	out.At = s.Clock.Now()
	err := s.Store.Polled(ctx, stepID, out)
	if errors.Is(err, store.ErrNotFound) {
		return nil // answered meanwhile (a callback), or retried
	}
	return err
}

// CallID is the id an HTTP system's step sends: the same on every retry of
// the step, another for every other step ("<reference>/<system>/<step>").
func CallID(reference, system string, stepID int64) string {
	return reference + "/" + system + "/" + strconv.FormatInt(stepID, 10)
}

// CallbackPath is where an HTTP system POSTs a late outcome (the route
// table's /datamap/callback/:system).
func CallbackPath(system string) string { return "/datamap/callback/" + url.PathEscape(system) }

// CallbackURL is CallbackPath on the portal's address.
func (s *Service) CallbackURL(system string) string { return s.Config.BaseURL + CallbackPath(system) }

// Callback takes the outcome an operator's HTTP system POSTed for one of its
// steps. Nothing in the body is trusted before the signature, under that
// system's secret and within its age, verifies (ErrForged); then the step
// it names must be one of that system's that waits for its outcome
// (ErrNoStepWaits). A "pending" outcome is no news and changes nothing.
func (s *Service) Callback(ctx context.Context, system string, header http.Header, body []byte) error {
	sys := s.Map().System(system)
	if sys == nil || sys.Kind != datamap.HTTP {
		return ErrNoStepWaits
	}
	h, err := s.Systems.HTTP(system)
	if err != nil {
		return err
	}
	cb, err := h.VerifyCallback(header, body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrForged, err)
	}
	ref, rest, ok := strings.Cut(cb.ID, "/")
	name, idText, ok2 := strings.Cut(rest, "/")
	stepID, err := strconv.ParseInt(idText, 10, 64)
	if !ok || !ok2 || err != nil || name != system || stepID <= 0 {
		return ErrNoStepWaits
	}
	out := store.StepOutcome{At: s.Clock.Now(), Result: store.StepResult{Calls: map[string]string{}}}
	switch cb.Result.State {
	case connector.ActionDone:
		out.State = store.StepDone
	case connector.ActionFailed:
		out.State, out.Reason, out.Detail = store.StepFailed, connector.ReasonRefused, cb.Result.Detail
	default:
		return nil
	}
	if err := s.Store.Callback(ctx, stepID, ref+"/"+system, out); errors.Is(err, store.ErrNotFound) {
		return ErrNoStepWaits
	} else if err != nil {
		return err
	}
	return nil
}

// BuildPackage builds the access package of a gathering whose steps are
// done, from the rows they kept, in the requester's language, and keeps it
// as the request's draft answer file. Nothing to do when the gathering was
// replaced or has its package; a gathering made under another data map is
// left without one (the request page asks for a new gathering).
func (s *Service) BuildPackage(ctx context.Context, fulfilmentID int64) error {
	w, err := s.Store.GatheringToPack(ctx, fulfilmentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m := s.Map()
	if w.MapDigest != m.Digest {
		s.log().WarnContext(ctx, "access package not built: the data map changed since the gathering", "fulfilment_id", w.ID)
		return nil
	}
	src, err := readGathered(w.Rows)
	if err != nil {
		return err
	}
	now := s.Clock.Now()
	var buf bytes.Buffer
	sum, err := s.Packages.Write(ctx, &buf, accesspack.Input{
		Map: m, Source: src, Printer: s.Catalog.Printer(w.Locale), Org: s.Config.Org, Now: now, Location: s.Config.Location,
	})
	if err != nil {
		return fmt.Errorf("build access package: %w", err)
	}
	summary, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	sha := sha256.Sum256(buf.Bytes())
	err = s.Store.SavePackage(ctx, w.ID, buf.Bytes(), sha[:], summary, sum.Rows, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// storedRows serves the rows the steps kept to the package builder, the
// same rows on every pass (accesspack.Source).
type storedRows map[string]map[string][]connector.Row

func readGathered(bySystem map[string][]byte) (storedRows, error) {
	out := storedRows{}
	for system, b := range bySystem {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // ids and amounts keep every digit
		var rows map[string][][]any
		if err := dec.Decode(&rows); err != nil {
			return nil, fmt.Errorf("decode gathered rows of %s: %w", system, err)
		}
		out[system] = map[string][]connector.Row{}
		for c, list := range rows {
			conv := make([]connector.Row, len(list))
			for i, r := range list {
				conv[i] = connector.Row(r)
			}
			out[system][c] = conv
		}
	}
	return out, nil
}

// Rows implements accesspack.Source.
func (r storedRows) Rows(ctx context.Context, c *datamap.Collection, fn func(connector.Row) error) (int64, error) {
	var n int64
	for _, row := range r[c.System.Name][c.Name] {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if len(row) != len(c.Fields) {
			return n, fmt.Errorf("gathered rows of %s have %d fields, the map %d", c, len(row), len(c.Fields))
		}
		n++
		if err := fn(row); err != nil {
			return n, err
		}
	}
	return n, nil
}
