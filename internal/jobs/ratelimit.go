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
	PruneLetters(ctx context.Context, cutoff time.Time) (int64, error)
}

// PruneRateLimitsWorker deletes rate-limit windows older than an hour,
// idempotency keys older than a day, acknowledgement counts two days
// after their day (whatever the operator's time zone, the day is over) and
// what identified letters that became nothing (auto-replies, list mail,
// bounces of no email of ours) after LetterMemory.
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
	if _, err := w.Store.PruneAcknowledgementCounts(ctx, w.Now().Add(-48*time.Hour)); err != nil {
		return err
	}
	_, err := w.Store.PruneLetters(ctx, w.Now().Add(-LetterMemory))
	return err
}

// LetterMemory is how long a letter that became nothing is remembered, so
// that a copy of it coming again is known: longer than a sending server
// keeps retrying (five days is the usual limit) and than a letter stays in
// a mailbox that could not be reached.
const LetterMemory = 30 * 24 * time.Hour

// PruneRateLimitsEvery schedules the clean-up.
func PruneRateLimitsEvery(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return PruneRateLimitsArgs{}, nil },
		&river.PeriodicJobOpts{ID: "prune_rate_limits"})
}
