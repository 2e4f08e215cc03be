package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// Answering a request from the data map (internal/fulfil): its fulfilments
// (a gathering, or an approved plan's execution), their steps (one per
// system of the map, each a durable job) and the access package a
// gathering builds. Everything that may name the person is sealed.
//
// Starting a fulfilment and retrying a step lock the request first, as
// ChangeRequest does: the desk reads a request's fulfilment while it holds
// that lock to complete the request, so what it reads cannot be replaced
// meanwhile. The steps' own progress (claimed, done, failed) needs no such
// lock: it only ever moves a fulfilment towards done.

// The kinds of fulfilment.
const (
	FulfilGather  = "gather"
	FulfilExecute = "execute"
)

// The states of a step.
const (
	StepPending = "pending" // to run, or to run again after a failure that may pass
	StepRunning = "running"
	StepDone    = "done"
	StepFailed  = "failed"  // failed for good, until staff retry it
	StepWaiting = "waiting" // the operator's system accepted the action and will say how it went
)

// Event kinds of the data map's work, each with ids, names and counts only.
const (
	EventGatheringStarted = "gathering_started"
	EventPlanApproved     = "plan_approved"
	EventStepDone         = "step_done"
	EventStepFailed       = "step_failed"
	EventStepWaiting      = "step_waiting"
	EventStepRetried      = "step_retried"
	EventPackageBuilt     = "access_package_built"
	EventPackageFetched   = "access_package_downloaded"
	EventPlanExecuted     = "plan_executed"
)

// StepQueue enqueues the data map's jobs in the store's transaction, so a
// step exists exactly when its job does (jobs.Outbox).
type StepQueue interface {
	EnqueueSteps(ctx context.Context, tx pgx.Tx, stepIDs []int64) error
	EnqueuePackage(ctx context.Context, tx pgx.Tx, fulfilmentID int64) error
	EnqueuePoll(ctx context.Context, tx pgx.Tx, stepID int64, at time.Time) error
}

// Fulfilments keeps the data map's work; Store.Fulfilments makes one.
type Fulfilments struct {
	s *Store
	q StepQueue
}

// Fulfilments returns the data map's store, enqueueing its jobs through q.
func (s *Store) Fulfilments(q StepQueue) *Fulfilments { return &Fulfilments{s: s, q: q} }

// Fulfilment is one run of the data map's engine for a request.
type Fulfilment struct {
	ID, RequestID int64
	Kind          string
	// Plan is plan.Plan's JSON (the identity rows are matched by
	// included); nil once purged.
	Plan                  []byte
	PlanDigest, MapDigest string
	// Who started it (a gathering) or approved it (an execution): a member
	// of staff or an API key; neither for the automatic gathering.
	StartedBy, StartedAPIKeyID int64
	ApprovedBy, ApprovedAPIKey int64
	ApprovedAt                 time.Time
	ByName                     string // the staff member's or the key's name
	// The access package, once built (its content is read on its own).
	PackageAt     time.Time
	PackageSize   int64
	PackageSHA256 []byte
	// Summary is accesspack.Summary's JSON (counts and first rows).
	Summary      []byte
	CreatedAt    time.Time
	SupersededAt time.Time
	Steps        []Step
}

// Done reports whether every step is done and, for a gathering, the
// package is built.
func (f Fulfilment) Done() bool {
	for _, st := range f.Steps {
		if st.State != StepDone {
			return false
		}
	}
	return f.Kind != FulfilGather || !f.PackageAt.IsZero()
}

// Step is one system's part of a fulfilment.
type Step struct {
	ID, FulfilmentID, RequestID int64
	System                      string
	State                       string
	Attempts, Polls             int
	// LastError is a reason code (connector.Reason), shown in words.
	LastError   string
	LastErrorAt time.Time
	// Detail is what the operator's system said, for staff.
	Detail    string
	Result    StepResult
	UpdatedAt time.Time
	DoneAt    time.Time
}

// StepResult is what a step did: rows gathered or changed per collection,
// and for an HTTP system the state of its answer per collection.
type StepResult struct {
	Rows  map[string]int64  `json:"rows,omitempty"`
	Calls map[string]string `json:"calls,omitempty"`
}

// NewFulfilment is a fulfilment to start.
type NewFulfilment struct {
	Kind                  string
	Plan                  []byte
	PlanDigest, MapDigest string
	Systems               []string
	// By is who starts (or approves) it; the zero value is the system (the
	// automatic gathering).
	By request.StaffActor
	At time.Time
}

const fulfilmentColumns = `f.id, f.request_id, f.kind, f.plan, f.plan_digest, f.map_digest,
	coalesce(f.started_by, 0), coalesce(f.started_api_key_id, 0), coalesce(f.approved_by, 0), coalesce(f.approved_api_key_id, 0),
	f.approved_at, coalesce(s.name, 'API: ' || k.name, ''), f.package_at, coalesce(f.package_size, 0), f.package_sha256,
	f.summary, f.created_at, f.superseded_at`

const fulfilmentFrom = ` FROM fulfilments f
	LEFT JOIN staff s ON s.id = coalesce(f.approved_by, f.started_by)
	LEFT JOIN api_keys k ON k.id = coalesce(f.approved_api_key_id, f.started_api_key_id) `

func (fs *Fulfilments) scanFulfilment(row pgx.Row) (Fulfilment, error) {
	var f Fulfilment
	var plan, summary []byte
	err := row.Scan(&f.ID, &f.RequestID, &f.Kind, &plan, &f.PlanDigest, &f.MapDigest,
		&f.StartedBy, &f.StartedAPIKeyID, &f.ApprovedBy, &f.ApprovedAPIKey, orZero(&f.ApprovedAt), &f.ByName,
		orZero(&f.PackageAt), &f.PackageSize, &f.PackageSHA256, &summary, &f.CreatedAt, orZero(&f.SupersededAt))
	if err != nil {
		return f, err
	}
	if f.Plan, err = fs.s.keys.Open(sealed.FulfilmentPlan, plan); err != nil {
		return f, err
	}
	f.Summary, err = fs.s.keys.Open(sealed.FulfilmentSummary, summary)
	return f, err
}

const stepColumns = `id, fulfilment_id, request_id, system, state, attempts, polls, last_error, last_error_at,
	detail, result, updated_at, done_at`

func (fs *Fulfilments) scanStep(row pgx.Row) (Step, error) {
	var st Step
	var detail, result []byte
	err := row.Scan(&st.ID, &st.FulfilmentID, &st.RequestID, &st.System, &st.State, &st.Attempts, &st.Polls,
		&st.LastError, orZero(&st.LastErrorAt), &detail, &result, &st.UpdatedAt, orZero(&st.DoneAt))
	if err != nil {
		return st, err
	}
	if st.Detail, err = fs.s.openText(sealed.StepDetail, detail); err != nil {
		return st, err
	}
	if err := json.Unmarshal(result, &st.Result); err != nil {
		return st, fmt.Errorf("decode step result: %w", err)
	}
	return st, nil
}

// withSteps reads the steps of f, in the map's order (their ids).
func (fs *Fulfilments) withSteps(ctx context.Context, q pgx.Tx, f *Fulfilment) error {
	var rows pgx.Rows
	var err error
	const query = `SELECT ` + stepColumns + ` FROM fulfilment_steps WHERE fulfilment_id = $1 ORDER BY id`
	if q != nil {
		rows, err = q.Query(ctx, query, f.ID)
	} else {
		rows, err = fs.s.pool.Query(ctx, query, f.ID)
	}
	if err != nil {
		return fmt.Errorf("list steps: %w", err)
	}
	f.Steps, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Step, error) { return fs.scanStep(row) })
	if err != nil {
		return fmt.Errorf("read steps: %w", err)
	}
	return nil
}

// Current returns the request's current fulfilment with its steps, nil
// when it has none.
func (fs *Fulfilments) Current(ctx context.Context, requestID int64) (*Fulfilment, error) {
	return fs.current(ctx, nil, requestID)
}

func (fs *Fulfilments) current(ctx context.Context, tx pgx.Tx, requestID int64) (*Fulfilment, error) {
	const query = `SELECT ` + fulfilmentColumns + fulfilmentFrom + `WHERE f.request_id = $1 AND f.superseded_at IS NULL`
	var row pgx.Row
	if tx != nil {
		row = tx.QueryRow(ctx, query, requestID)
	} else {
		row = fs.s.pool.QueryRow(ctx, query, requestID)
	}
	f, err := fs.scanFulfilment(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read fulfilment: %w", err)
	}
	if err := fs.withSteps(ctx, tx, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Executions lists every approved execution of the request, oldest first,
// replaced ones included, with their steps: together they are what
// answering it changed.
func (fs *Fulfilments) Executions(ctx context.Context, requestID int64) ([]Fulfilment, error) {
	rows, err := fs.s.pool.Query(ctx, `SELECT `+fulfilmentColumns+fulfilmentFrom+`
		WHERE f.request_id = $1 AND f.kind = 'execute' ORDER BY f.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Fulfilment, error) { return fs.scanFulfilment(row) })
	if err != nil {
		return nil, fmt.Errorf("read executions: %w", err)
	}
	for i := range out {
		if err := fs.withSteps(ctx, nil, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lockForFulfilment locks the request named by reference (as ChangeRequest
// does) and reads what the fulfilment rules need of it.
func (fs *Fulfilments) lockForFulfilment(ctx context.Context, tx pgx.Tx, reference string) (request.Request, request.IdentityProof, error) {
	var proof request.IdentityProof
	r, err := fs.s.scanRequestWith(tx.QueryRow(ctx, `SELECT `+requestColumns+`,
		EXISTS (SELECT FROM confirmations c WHERE c.request_id = r.id AND c.used_at IS NOT NULL)`+
		requestFrom+`WHERE r.reference = $1`+lockRequest, reference), &proof.AddressConfirmed)
	return r, proof, err
}

// Start starts a fulfilment of the request named by reference: with the
// request locked, decide sees it, its current fulfilment (nil for none)
// and how its identifiers were proven, and says what to start. The new
// fulfilment replaces the current one (whose gathered rows and package are
// deleted), its steps are written with their jobs, and its event is logged,
// all in one transaction. An error from decide changes nothing.
func (fs *Fulfilments) Start(ctx context.Context, reference string,
	decide func(r request.Request, current *Fulfilment, proof request.IdentityProof) (NewFulfilment, error)) (Fulfilment, error) {
	var out Fulfilment
	err := fs.s.inTx(ctx, func(tx pgx.Tx) error {
		r, proof, err := fs.lockForFulfilment(ctx, tx, reference)
		if err != nil {
			return err
		}
		cur, err := fs.current(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		nf, err := decide(r, cur, proof)
		if err != nil {
			return err
		}
		data := map[string]any{"kind": nf.Kind, "systems": nf.Systems}
		if cur != nil {
			if err := supersede(ctx, tx, []int64{cur.ID}, nf.At); err != nil {
				return err
			}
			data["replaces"] = cur.ID
		}
		approved := nf.Kind == FulfilExecute
		var approvedAt time.Time
		var approvedBy, approvedKey, startedBy, startedKey int64
		if approved {
			approvedAt, approvedBy, approvedKey = nf.At, nf.By.StaffID, nf.By.APIKeyID
		} else {
			startedBy, startedKey = nf.By.StaffID, nf.By.APIKeyID
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO fulfilments (request_id, kind, plan, plan_digest, map_digest, started_by, started_api_key_id,
				approved_at, approved_by, approved_api_key_id, created_at)
			VALUES ($1, $2, $3, $4, $5, nullif($6, 0), nullif($7, 0), $8, nullif($9, 0), nullif($10, 0), $11)
			RETURNING id`,
			r.ID, nf.Kind, fs.s.keys.Seal(sealed.FulfilmentPlan, nf.Plan), nf.PlanDigest, nf.MapDigest,
			startedBy, startedKey, orNull(approvedAt), approvedBy, approvedKey, nf.At).Scan(&out.ID)
		if err != nil {
			return fmt.Errorf("insert fulfilment: %w", err)
		}
		rows, err := tx.Query(ctx, `
			INSERT INTO fulfilment_steps (fulfilment_id, request_id, system, created_at, updated_at)
			SELECT $1, $2, s.name, $3, $3 FROM unnest($4::text[]) WITH ORDINALITY AS s(name, n) ORDER BY s.n
			RETURNING id`, out.ID, r.ID, nf.At, nf.Systems)
		if err != nil {
			return fmt.Errorf("insert steps: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("insert steps: %w", err)
		}
		data["fulfilment_id"] = out.ID
		kind := EventGatheringStarted
		if approved {
			kind = EventPlanApproved
			data["plan_digest"], data["map_digest"] = nf.PlanDigest, nf.MapDigest
		}
		if err := insertActorEvent(ctx, tx, r.ID, kind, nf.By, data, nf.At); err != nil {
			return err
		}
		if err := fs.q.EnqueueSteps(fs.s.pool.scope(ctx), tx, ids); err != nil {
			return fmt.Errorf("enqueue steps: %w", err)
		}
		cur2, err := fs.current(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		out = *cur2
		return nil
	})
	return out, err
}

// insertActorEvent logs an event of a request by a StaffActor (the system
// when it is zero): a member of staff as the actor, an API key by its id in
// the event's data, as the desk's changes do.
func insertActorEvent(ctx context.Context, tx pgx.Tx, requestID int64, kind string, by request.StaffActor, data map[string]any, at time.Time) error {
	actor := request.ActorSystem
	if by.StaffID != 0 || by.APIKeyID != 0 {
		actor = request.ActorStaff
	}
	if by.APIKeyID != 0 {
		data["api_key_id"] = by.APIKeyID
	}
	_, err := insertEvent(ctx, tx, event{RequestID: requestID, Kind: kind, Actor: actor, ActorID: by.StaffID, Data: data, At: at})
	return err
}

// supersede marks fulfilments replaced and deletes what they gathered and
// built; their plans stay (sealed) as the record of what was approved.
func supersede(ctx context.Context, tx pgx.Tx, ids []int64, at time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE fulfilments SET superseded_at = coalesce(superseded_at, $2),
		package = NULL, summary = NULL WHERE id = ANY($1)`, ids, at); err != nil {
		return fmt.Errorf("replace fulfilment: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE fulfilment_steps SET rows = NULL, poll_url = NULL WHERE fulfilment_id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("replace fulfilment steps: %w", err)
	}
	return nil
}

// Retry has a step of the request's current fulfilment run again: with the
// request locked, check sees the request, the fulfilment and the step and
// says whether it may; the step is then pending again with a new job, and
// the retry is logged.
func (fs *Fulfilments) Retry(ctx context.Context, reference string, stepID int64, by request.StaffActor, at time.Time,
	check func(r request.Request, f Fulfilment, st Step) error) error {
	return fs.s.inTx(ctx, func(tx pgx.Tx) error {
		r, _, err := fs.lockForFulfilment(ctx, tx, reference)
		if err != nil {
			return err
		}
		cur, err := fs.current(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return ErrNotFound
		}
		var st *Step
		for i := range cur.Steps {
			if cur.Steps[i].ID == stepID {
				st = &cur.Steps[i]
			}
		}
		if st == nil {
			return ErrNotFound
		}
		if err := check(r, *cur, *st); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE fulfilment_steps SET state = 'pending', polls = 0, job_id = NULL,
			lease_until = NULL, updated_at = $2 WHERE id = $1`, stepID, at); err != nil {
			return fmt.Errorf("retry step: %w", err)
		}
		if err := insertActorEvent(ctx, tx, r.ID, EventStepRetried, by,
			map[string]any{"fulfilment_id": cur.ID, "step_id": stepID, "system": st.System}, at); err != nil {
			return err
		}
		return fs.q.EnqueueSteps(fs.s.pool.scope(ctx), tx, []int64{stepID})
	})
}

// StepWork is a step claimed by a job, with what working it needs.
type StepWork struct {
	Step
	Kind      string
	Plan      []byte
	MapDigest string
	Reference string
	Locale    request.Locale
}

// Claim claims a step for the job jobID until the lease runs out (lease:
// longer than the job's own timeout): a pending step, or one running for
// this very job (River ran it again after a crash) or for a job whose lease
// ran out (its instance died). The attempt is counted. ErrNotFound: nothing
// to do here (done, failed, waiting, replaced, or another live job has it).
func (fs *Fulfilments) Claim(ctx context.Context, stepID, jobID int64, lease time.Duration, at time.Time) (StepWork, error) {
	var w StepWork
	var plan, detail, result []byte
	err := fs.s.pool.QueryRow(ctx, `
		UPDATE fulfilment_steps s SET state = 'running', attempts = s.attempts + 1, job_id = $2,
			lease_until = now() + make_interval(secs => $3), updated_at = $4
		FROM fulfilments f, requests r
		WHERE s.id = $1 AND f.id = s.fulfilment_id AND f.superseded_at IS NULL AND r.id = s.request_id
		  AND (s.state = 'pending' OR s.state = 'running' AND (s.job_id = $2 OR s.lease_until < now()))
		RETURNING s.id, s.fulfilment_id, s.request_id, s.system, s.state, s.attempts, s.polls, s.last_error,
			s.last_error_at, s.detail, s.result, s.updated_at, s.done_at, f.kind, f.plan, f.map_digest, r.reference, r.locale`,
		stepID, jobID, lease.Seconds(), at).Scan(&w.ID, &w.FulfilmentID, &w.RequestID, &w.System, &w.State, &w.Attempts, &w.Polls,
		&w.LastError, orZero(&w.LastErrorAt), &detail, &result, &w.UpdatedAt, orZero(&w.DoneAt), &w.Kind, &plan, &w.MapDigest,
		&w.Reference, &w.Locale)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ErrNotFound
	}
	if err != nil {
		return w, fmt.Errorf("claim step: %w", err)
	}
	if w.Plan, err = fs.s.keys.Open(sealed.FulfilmentPlan, plan); err != nil {
		return w, err
	}
	return w, nil
}

// StepOutcome is how an attempt at a step ended.
type StepOutcome struct {
	// State is StepDone, StepFailed (for good), StepPending (a failure
	// that may pass: River tries again) or StepWaiting.
	State  string
	Reason string // a connector.Reason code, for failures
	Detail string // the operator's own words, if any
	Result StepResult
	// Rows is what a gathering step read (JSON), sealed here.
	Rows []byte
	// PollAt, with PollURL, schedules a poll of a waiting step.
	PollURL string
	PollAt  time.Time
	At      time.Time
}

// Finish records how the job jobID's attempt at a step ended, with its
// event, and what follows: a poll of a waiting step, the package once every
// step of a gathering is done, the executed event once every step of a plan
// is. ErrNotFound: the job no longer holds the step (replaced, or taken
// over); nothing is recorded.
func (fs *Fulfilments) Finish(ctx context.Context, stepID, jobID int64, out StepOutcome) error {
	return fs.s.inTx(ctx, func(tx pgx.Tx) error {
		return fs.finish(ctx, tx, `s.state = 'running' AND s.job_id = $9`, stepID, jobID, out)
	})
}

// finish writes out to the step if cond holds ($9 is its argument).
func (fs *Fulfilments) finish(ctx context.Context, tx pgx.Tx, cond string, stepID int64, condArg any, out StepOutcome) error {
	result, err := json.Marshal(out.Result)
	if err != nil {
		return fmt.Errorf("encode step result: %w", err)
	}
	var rows, detail, poll []byte
	if out.Rows != nil {
		rows = fs.s.keys.Seal(sealed.StepRows, out.Rows)
	}
	if out.Detail != "" {
		detail = fs.s.keys.SealString(sealed.StepDetail, out.Detail)
	}
	if out.PollURL != "" {
		poll = fs.s.keys.SealString(sealed.StepPollURL, out.PollURL)
	}
	failed := out.State == StepFailed || out.State == StepPending && out.Reason != ""
	// The steps of one fulfilment finish one at a time: each takes its
	// fulfilment's row first, so that whichever finishes last sees every
	// other step done (afterStepDone) and starts what follows. Without it two
	// steps committing at once each saw the other still running, and the
	// plan was never marked executed, nor the package built.
	if _, err := tx.Exec(ctx, `SELECT FROM fulfilments f JOIN fulfilment_steps s ON s.fulfilment_id = f.id
		WHERE s.id = $1 FOR UPDATE OF f`, stepID); err != nil {
		return fmt.Errorf("lock the step's fulfilment: %w", err)
	}
	var st Step
	var fulfilmentID int64
	var kind string
	err = tx.QueryRow(ctx, `
		UPDATE fulfilment_steps s SET state = $2, updated_at = $3,
			last_error = CASE WHEN $4 THEN $5 WHEN $2 = 'done' THEN '' ELSE s.last_error END,
			last_error_at = CASE WHEN $4 THEN $3 ELSE s.last_error_at END,
			detail = coalesce($6, s.detail),
			result = CASE
				-- An HTTP system's outcome given later (a callback, a poll)
				-- names no collection: every call it was asked becomes done.
				WHEN $2 = 'done' AND $7::jsonb = '{}' AND s.result ? 'calls' THEN jsonb_build_object('calls',
					(SELECT jsonb_object_agg(c, to_jsonb('done'::text)) FROM jsonb_object_keys(s.result->'calls') c))
				WHEN $2 = 'done' THEN $7::jsonb
				-- A step that waits keeps what each call answered so far.
				WHEN $2 = 'waiting' AND $7::jsonb <> '{}' THEN $7::jsonb
				ELSE s.result END,
			rows = coalesce($8, s.rows),
			poll_url = CASE WHEN $2 = 'waiting' THEN coalesce($10, s.poll_url) ELSE NULL END,
			polls = CASE WHEN $2 = 'waiting' AND $10::bytea IS NOT NULL AND s.state = 'waiting' THEN s.polls + 1 ELSE s.polls END,
			done_at = CASE WHEN $2 = 'done' THEN $3 ELSE NULL END,
			job_id = NULL, lease_until = NULL
		FROM fulfilments f
		WHERE s.id = $1 AND f.id = s.fulfilment_id AND f.superseded_at IS NULL AND `+cond+`
		RETURNING s.request_id, s.system, s.attempts, s.polls, s.fulfilment_id, f.kind, s.result`,
		stepID, out.State, out.At, failed, out.Reason, detail, result, rows, condArg, poll).
		Scan(&st.RequestID, &st.System, &st.Attempts, &st.Polls, &fulfilmentID, &kind, &st.Result)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("finish step: %w", err)
	}
	data := map[string]any{"fulfilment_id": fulfilmentID, "step_id": stepID, "system": st.System}
	switch out.State {
	case StepDone:
		if st.Result.Rows != nil {
			data["rows"] = st.Result.Rows
		}
		if st.Result.Calls != nil {
			data["calls"] = st.Result.Calls
		}
		data["kind"] = kind
		if err := insertActorEvent(ctx, tx, st.RequestID, EventStepDone, request.StaffActor{}, data, out.At); err != nil {
			return err
		}
		return fs.afterStepDone(ctx, tx, st.RequestID, fulfilmentID, kind, out.At)
	case StepFailed:
		data["reason"], data["attempts"] = out.Reason, st.Attempts
		return insertActorEvent(ctx, tx, st.RequestID, EventStepFailed, request.StaffActor{}, data, out.At)
	case StepWaiting:
		if st.Polls == 0 {
			// The first time only: polls that find it still pending are no news.
			if err := insertActorEvent(ctx, tx, st.RequestID, EventStepWaiting, request.StaffActor{}, data, out.At); err != nil {
				return err
			}
		}
		if out.PollURL != "" {
			return fs.q.EnqueuePoll(fs.s.pool.scope(ctx), tx, stepID, out.PollAt)
		}
	}
	return nil
}

// afterStepDone starts what follows the last step of a fulfilment.
func (fs *Fulfilments) afterStepDone(ctx context.Context, tx pgx.Tx, requestID, fulfilmentID int64, kind string, at time.Time) error {
	var left int
	var totals []byte
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state <> 'done'),
		coalesce((SELECT jsonb_object_agg(k, v) FROM (SELECT k, sum(v::bigint) AS v
			FROM fulfilment_steps, jsonb_each_text(coalesce(result->'rows', '{}')) AS e(k, v)
			WHERE fulfilment_id = $1 GROUP BY k) t), '{}')
		FROM fulfilment_steps WHERE fulfilment_id = $1`, fulfilmentID).Scan(&left, &totals); err != nil {
		return fmt.Errorf("count steps left: %w", err)
	}
	if left > 0 {
		return nil
	}
	if kind == FulfilGather {
		return fs.q.EnqueuePackage(fs.s.pool.scope(ctx), tx, fulfilmentID)
	}
	var rows map[string]any
	if err := json.Unmarshal(totals, &rows); err != nil {
		return fmt.Errorf("decode totals: %w", err)
	}
	return insertActorEvent(ctx, tx, requestID, EventPlanExecuted, request.StaffActor{},
		map[string]any{"fulfilment_id": fulfilmentID, "rows": rows}, at)
}

// Callback records the outcome an operator's HTTP system sent for a step
// that is running or waiting for it; owner is "<reference>/<system>", which
// the step must belong to. ErrNotFound: no such step waits (unknown, of
// another request or system, replaced, or answered before), and nothing
// changes.
func (fs *Fulfilments) Callback(ctx context.Context, stepID int64, owner string, out StepOutcome) error {
	return fs.s.inTx(ctx, func(tx pgx.Tx) error {
		return fs.finish(ctx, tx, `s.state IN ('running', 'waiting')
			AND $9 = (SELECT r.reference FROM requests r WHERE r.id = s.request_id) || '/' || s.system`, stepID, owner, out)
	})
}

// Polled records what a poll of a waiting step found: the outcome when
// the operator's system has one, otherwise (State StepWaiting, PollAt set)
// the next poll. ErrNotFound: the step no longer waits.
func (fs *Fulfilments) Polled(ctx context.Context, stepID int64, out StepOutcome) error {
	return fs.s.inTx(ctx, func(tx pgx.Tx) error {
		return fs.finish(ctx, tx, `s.state = 'waiting' AND $9::bigint = s.id`, stepID, stepID, out)
	})
}

// PollWork is a waiting step to poll.
type PollWork struct {
	StepID    int64
	System    string
	PollURL   string
	Polls     int
	Reference string
}

// WaitingStep returns a waiting step with its poll URL. ErrNotFound: it
// does not wait (any more) or has nowhere to ask.
func (fs *Fulfilments) WaitingStep(ctx context.Context, stepID int64) (PollWork, error) {
	var w PollWork
	var poll []byte
	err := fs.s.pool.QueryRow(ctx, `SELECT s.id, s.system, s.poll_url, s.polls, r.reference
		FROM fulfilment_steps s JOIN fulfilments f ON f.id = s.fulfilment_id JOIN requests r ON r.id = s.request_id
		WHERE s.id = $1 AND s.state = 'waiting' AND s.poll_url IS NOT NULL AND f.superseded_at IS NULL`, stepID).
		Scan(&w.StepID, &w.System, &poll, &w.Polls, &w.Reference)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ErrNotFound
	}
	if err != nil {
		return w, fmt.Errorf("read waiting step: %w", err)
	}
	w.PollURL, err = fs.s.openText(sealed.StepPollURL, poll)
	return w, err
}

// PackageWork is a gathering whose steps are done, with what building its
// package needs: the rows each system's step read.
type PackageWork struct {
	Fulfilment
	Reference string
	Locale    request.Locale
	// Rows is each step's gathered rows (JSON), by system.
	Rows map[string][]byte
}

// GatheringToPack returns a current gathering whose steps are all done and
// whose package is not built yet. ErrNotFound: none such.
func (fs *Fulfilments) GatheringToPack(ctx context.Context, fulfilmentID int64) (PackageWork, error) {
	var w PackageWork
	f, err := fs.scanFulfilment(fs.s.pool.QueryRow(ctx, `SELECT `+fulfilmentColumns+fulfilmentFrom+`
		WHERE f.id = $1 AND f.kind = 'gather' AND f.superseded_at IS NULL AND f.package IS NULL
		  AND NOT EXISTS (SELECT FROM fulfilment_steps s WHERE s.fulfilment_id = f.id AND s.state <> 'done')`, fulfilmentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ErrNotFound
	}
	if err != nil {
		return w, fmt.Errorf("read gathering: %w", err)
	}
	w.Fulfilment = f
	if err := fs.s.pool.QueryRow(ctx, `SELECT reference, locale FROM requests WHERE id = $1`, f.RequestID).Scan(&w.Reference, &w.Locale); err != nil {
		return w, fmt.Errorf("read request: %w", err)
	}
	rows, err := fs.s.pool.Query(ctx, `SELECT system, rows FROM fulfilment_steps WHERE fulfilment_id = $1`, f.ID)
	if err != nil {
		return w, fmt.Errorf("read gathered rows: %w", err)
	}
	w.Rows = map[string][]byte{}
	var system string
	var sealedRows []byte
	_, err = pgx.ForEachRow(rows, []any{&system, &sealedRows}, func() error {
		plain, err := fs.s.keys.Open(sealed.StepRows, sealedRows)
		w.Rows[system] = plain
		return err
	})
	if err != nil {
		return w, fmt.Errorf("read gathered rows: %w", err)
	}
	return w, nil
}

// SavePackage keeps a gathering's access package (a ZIP) and its summary
// (JSON), sealed, and logs it with the rows it holds. ErrNotFound: the
// gathering was replaced meanwhile, or has its package already.
func (fs *Fulfilments) SavePackage(ctx context.Context, fulfilmentID int64, zip []byte, sha []byte, summary []byte, rows int64, at time.Time) error {
	return fs.s.inTx(ctx, func(tx pgx.Tx) error {
		var requestID int64
		err := tx.QueryRow(ctx, `UPDATE fulfilments SET package = $2, package_sha256 = $3, package_size = $4,
			summary = $5, package_at = $6
			WHERE id = $1 AND superseded_at IS NULL AND package IS NULL RETURNING request_id`,
			fulfilmentID, fs.s.keys.Seal(sealed.FulfilmentPackage, zip), sha, len(zip),
			fs.s.keys.Seal(sealed.FulfilmentSummary, summary), at).Scan(&requestID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("save package: %w", err)
		}
		return insertActorEvent(ctx, tx, requestID, EventPackageBuilt, request.StaffActor{},
			map[string]any{"fulfilment_id": fulfilmentID, "rows": rows, "size": len(zip)}, at)
	})
}

// Package returns the current access package of a request (ZIP content),
// without logging: for the desk, which sends it as the answer's file.
// ErrNotFound when none is built.
func (fs *Fulfilments) Package(ctx context.Context, requestID int64) ([]byte, error) {
	var content []byte
	err := fs.s.pool.QueryRow(ctx, `SELECT package FROM fulfilments
		WHERE request_id = $1 AND superseded_at IS NULL AND package IS NOT NULL`, requestID).Scan(&content)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read package: %w", err)
	}
	return fs.s.keys.Open(sealed.FulfilmentPackage, content)
}

// StaffPackage returns the current access package of a request to a member
// of staff and logs the download with their id, in one transaction.
func (fs *Fulfilments) StaffPackage(ctx context.Context, requestID, staffID int64, at time.Time) ([]byte, error) {
	var out []byte
	err := fs.s.inTx(ctx, func(tx pgx.Tx) error {
		var id int64
		var content []byte
		err := tx.QueryRow(ctx, `SELECT id, package FROM fulfilments
			WHERE request_id = $1 AND superseded_at IS NULL AND package IS NOT NULL`, requestID).Scan(&id, &content)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read package: %w", err)
		}
		if out, err = fs.s.keys.Open(sealed.FulfilmentPackage, content); err != nil {
			return err
		}
		return insertActorEvent(ctx, tx, requestID, EventPackageFetched, request.ByStaff(staffID),
			map[string]any{"fulfilment_id": id}, at)
	})
	return out, err
}

// stepFailedCondition holds for a request ("r") whose current fulfilment
// has a step that failed for good.
const stepFailedCondition = `EXISTS (SELECT FROM fulfilment_steps s JOIN fulfilments f ON f.id = s.fulfilment_id
	WHERE s.request_id = r.id AND s.state = 'failed' AND f.superseded_at IS NULL)`

// StuckSteps names, per request of ids, the systems whose step of its
// current fulfilment failed or still waits for the operator's system: the
// reminders say so.
func (fs *Fulfilments) StuckSteps(ctx context.Context, ids []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := fs.s.pool.Query(ctx, `SELECT s.request_id, s.system FROM fulfilment_steps s
		JOIN fulfilments f ON f.id = s.fulfilment_id
		WHERE s.request_id = ANY($1) AND s.state IN ('failed', 'waiting') AND f.superseded_at IS NULL
		ORDER BY s.request_id, s.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("stuck steps: %w", err)
	}
	var id int64
	var system string
	_, err = pgx.ForEachRow(rows, []any{&id, &system}, func() error {
		out[id] = append(out[id], system)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stuck steps: %w", err)
	}
	return out, nil
}

// Candidate is a request the automatic gathering may start for.
type Candidate struct {
	ID        int64
	Reference string
}

// AutoGatherCandidates lists, by id after after, up to limit open requests
// of types that were never gathered and whose requester proved something
// (the address, or an identity check): AUTO_GATHER then asks the identity
// rule about each.
func (fs *Fulfilments) AutoGatherCandidates(ctx context.Context, types []request.Type, after int64, limit int) ([]Candidate, error) {
	if len(types) == 0 {
		return nil, nil
	}
	ts := make([]string, len(types))
	for i, t := range types {
		ts[i] = string(t)
	}
	rows, err := fs.s.pool.Query(ctx, `SELECT r.id, r.reference FROM requests r
		WHERE `+openStatuses+` AND r.status <> 'unverified' AND r.type = ANY($1) AND r.id > $2
		  AND NOT EXISTS (SELECT FROM fulfilments f WHERE f.request_id = r.id)
		  AND (r.identity_checked_at IS NOT NULL
			OR EXISTS (SELECT FROM confirmations c WHERE c.request_id = r.id AND c.used_at IS NOT NULL))
		ORDER BY r.id LIMIT $3`, ts, after, limit)
	if err != nil {
		return nil, fmt.Errorf("auto-gather candidates: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Candidate, error) {
		var c Candidate
		err := row.Scan(&c.ID, &c.Reference)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("auto-gather candidates: %w", err)
	}
	return out, nil
}

// Proof says how the request's identifiers were proven beyond its fields:
// whether its confirmation link was used.
func (fs *Fulfilments) Proof(ctx context.Context, requestID int64) (request.IdentityProof, error) {
	var p request.IdentityProof
	err := fs.s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM confirmations WHERE request_id = $1 AND used_at IS NOT NULL)`, requestID).
		Scan(&p.AddressConfirmed)
	if err != nil {
		return p, fmt.Errorf("read identity proof: %w", err)
	}
	return p, nil
}

// purgeFulfilments deletes, for the requests ids, everything their
// fulfilments hold about the person: gathered rows, packages, summaries,
// operators' answers and, with plans, the plans (which hold the
// identifiers). Counts, states and digests stay for the record.
func purgeFulfilments(ctx context.Context, tx pgx.Tx, ids []int64, plans bool) error {
	stmt := `UPDATE fulfilments SET package = NULL, summary = NULL WHERE request_id = ANY($1)`
	if plans {
		stmt = `UPDATE fulfilments SET package = NULL, summary = NULL, plan = NULL WHERE request_id = ANY($1)`
	}
	if _, err := tx.Exec(ctx, stmt, ids); err != nil {
		return fmt.Errorf("purge fulfilments: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE fulfilment_steps SET rows = NULL, detail = NULL, poll_url = NULL
		WHERE request_id = ANY($1) AND (rows IS NOT NULL OR detail IS NOT NULL OR poll_url IS NOT NULL)`, ids); err != nil {
		return fmt.Errorf("purge fulfilment steps: %w", err)
	}
	return nil
}
