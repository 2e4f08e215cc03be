package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// PruneRateLimitsArgs is the periodic clean-up of old rate-limit windows.
type PruneRateLimitsArgs struct{}

// Kind implements river.JobArgs.
func (PruneRateLimitsArgs) Kind() string { return "prune_rate_limits" }

// RateLimitPruner is what the clean-up needs from the database.
type RateLimitPruner interface {
	PruneRateLimits(ctx context.Context, cutoff time.Time) (int64, error)
	PruneIdempotencyKeys(ctx context.Context, cutoff time.Time) (int64, error)
	PruneAcknowledgementCounts(ctx context.Context, cutoff time.Time) (int64, error)
}

// PruneRateLimitsWorker deletes rate-limit windows older than an hour,
// idempotency keys older than a day and acknowledgement counts two days
// after their day (whatever the operator's time zone, the day is over).
type PruneRateLimitsWorker struct {
	river.WorkerDefaults[PruneRateLimitsArgs]
	Store RateLimitPruner
	Now   func() time.Time
}

// Work implements river.Worker.
func (w *PruneRateLimitsWorker) Work(ctx context.Context, _ *river.Job[PruneRateLimitsArgs]) error {
	if _, err := w.Store.PruneRateLimits(ctx, w.Now().Add(-time.Hour)); err != nil {
		return err
	}
	if _, err := w.Store.PruneIdempotencyKeys(ctx, w.Now().Add(-24*time.Hour)); err != nil {
		return err
	}
	_, err := w.Store.PruneAcknowledgementCounts(ctx, w.Now().Add(-48*time.Hour))
	return err
}

// PruneRateLimitsEvery schedules the clean-up.
func PruneRateLimitsEvery(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return PruneRateLimitsArgs{}, nil },
		&river.PeriodicJobOpts{ID: "prune_rate_limits"})
}
