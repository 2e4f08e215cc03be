package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// ExpireUnconfirmedArgs is the periodic sweep that closes requests whose
// confirmation link ran out.
type ExpireUnconfirmedArgs struct{}

// Kind implements river.JobArgs.
func (ExpireUnconfirmedArgs) Kind() string { return "expire_unconfirmed" }

// Sweeper runs one sweep and says how many requests it changed.
type Sweeper interface {
	Sweep(ctx context.Context) (int, error)
}

// ExpireUnconfirmedWorker runs the expiry sweep. River runs periodic jobs
// on the elected leader only, and the sweep itself skips rows another
// transaction holds, so several instances never expire a request twice.
type ExpireUnconfirmedWorker struct {
	river.WorkerDefaults[ExpireUnconfirmedArgs]
	Sweeper Sweeper
}

// Work implements river.Worker.
func (w *ExpireUnconfirmedWorker) Work(ctx context.Context, _ *river.Job[ExpireUnconfirmedArgs]) error {
	_, err := w.Sweeper.Sweep(ctx)
	return err
}

// ExpireUnconfirmedEvery schedules the sweep.
func ExpireUnconfirmedEvery(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return ExpireUnconfirmedArgs{}, nil },
		&river.PeriodicJobOpts{ID: "expire_unconfirmed", RunOnStart: true})
}
