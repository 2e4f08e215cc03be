package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"rightsdesk/internal/opscope"
)

// Jobs of several operators (issue 15) share River's tables: a job records
// the operator it was enqueued for in its metadata (operator_id), and each
// kind's worker is one per operator, built with that operator's settings
// and store; Dispatch hands a job to its operator's.

// MetadataOperator is the metadata key that names a job's operator.
const MetadataOperator = "operator_id"

// DefaultOperator is whose a job is when it names none: enqueued by a
// single-operator deployment, or before there could be several.
const DefaultOperator int64 = 1

// operatorInsert records the operator of the context a job is inserted
// with (opscope) in the job's metadata.
type operatorInsert struct{ river.MiddlewareDefaults }

func (*operatorInsert) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	id, ok := opscope.From(ctx)
	if !ok {
		return doInner(ctx)
	}
	for _, p := range params {
		meta := map[string]any{}
		if len(p.Metadata) > 0 {
			if err := json.Unmarshal(p.Metadata, &meta); err != nil {
				return nil, fmt.Errorf("job metadata: %w", err)
			}
		}
		meta[MetadataOperator] = id
		b, err := json.Marshal(meta)
		if err != nil {
			return nil, fmt.Errorf("job metadata: %w", err)
		}
		p.Metadata = b
	}
	return doInner(ctx)
}

// jobOperator reads the operator a job names; ok is false for none.
func jobOperator(job *rivertype.JobRow) (id int64, ok bool, err error) {
	if len(job.Metadata) == 0 {
		return 0, false, nil
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(job.Metadata, &meta); err != nil {
		return 0, false, fmt.Errorf("job %d metadata: %w", job.ID, err)
	}
	raw, ok := meta[MetadataOperator]
	if !ok {
		return 0, false, nil
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		return 0, false, fmt.Errorf("job %d operator: %w", job.ID, err)
	}
	return id, true, nil
}

// Workers collects the workers of one deployment, per operator, before
// River's are made: one operator's are River's as they are, several
// operators' become one dispatching worker per kind.
type Workers struct {
	order    []string
	byKind   map[string]map[int64]any
	register map[string]func(*river.Workers, map[int64]any)
}

// NewWorkers returns an empty collection.
func NewWorkers() *Workers {
	return &Workers{byKind: map[string]map[int64]any{}, register: map[string]func(*river.Workers, map[int64]any){}}
}

// Add registers operator's worker for its kind. A sweep (a periodic job:
// reminders, expiry, retention) names no operator and runs for each.
func Add[T river.JobArgs](ws *Workers, operator int64, w river.Worker[T], sweep bool) {
	var args T
	kind := args.Kind()
	if _, seen := ws.byKind[kind]; !seen {
		ws.order = append(ws.order, kind)
		ws.byKind[kind] = map[int64]any{}
		ws.register[kind] = func(rw *river.Workers, perOperator map[int64]any) {
			if len(perOperator) == 1 {
				for _, only := range perOperator {
					river.AddWorker(rw, only.(river.Worker[T]))
				}
				return
			}
			d := &dispatch[T]{workers: map[int64]river.Worker[T]{}, sweep: sweep}
			for id, w := range perOperator {
				d.workers[id] = w.(river.Worker[T])
				d.order = append(d.order, id)
			}
			river.AddWorker(rw, d)
		}
	}
	ws.byKind[kind][operator] = w
}

// River returns River's workers.
func (ws *Workers) River() *river.Workers {
	rw := river.NewWorkers()
	for _, kind := range ws.order {
		ws.register[kind](rw, ws.byKind[kind])
	}
	return rw
}

// dispatch is one kind's worker for several operators.
type dispatch[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	workers map[int64]river.Worker[T]
	order   []int64
	sweep   bool
}

func (d *dispatch[T]) pick(job *river.Job[T]) (river.Worker[T], error) {
	id, ok, err := jobOperator(job.JobRow)
	if err != nil {
		return nil, err
	}
	if !ok {
		id = DefaultOperator
	}
	w, ok := d.workers[id]
	if !ok {
		// Left for a retry, visible in River's tables, rather than dropped.
		return nil, fmt.Errorf("job %d (%s) is operator %d's, which this deployment does not serve", job.ID, job.Kind, id)
	}
	return w, nil
}

func (d *dispatch[T]) Work(ctx context.Context, job *river.Job[T]) error {
	if _, named, err := jobOperator(job.JobRow); err == nil && !named && d.sweep {
		// A periodic sweep is every operator's, each with its own settings.
		var errs []error
		for _, id := range sortedIDs(d.order) {
			if err := d.workers[id].Work(ctx, job); err != nil {
				errs = append(errs, fmt.Errorf("operator %d: %w", id, err))
			}
		}
		return errors.Join(errs...)
	}
	w, err := d.pick(job)
	if err != nil {
		return err
	}
	return w.Work(ctx, job)
}

func (d *dispatch[T]) Timeout(job *river.Job[T]) time.Duration {
	if w, err := d.pick(job); err == nil {
		return w.Timeout(job)
	}
	return 0
}

func (d *dispatch[T]) NextRetry(job *river.Job[T]) time.Time {
	if w, err := d.pick(job); err == nil {
		return w.NextRetry(job)
	}
	return time.Time{}
}

func sortedIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
