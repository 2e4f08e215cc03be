package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// The data map's jobs (internal/fulfil does the work): one per step of a
// fulfilment, one to build a gathering's access package, one per poll of an
// operator's system that answers later, and the sweep that gathers on its
// own (AUTO_GATHER). They have a queue of their own, so that a slow
// operator system never holds up emails or the sweeps.

// QueueDataMap is the data map's queue.
const QueueDataMap = "datamap"

// StepAttempts bounds the attempts at one step: with the retry policy's
// backoff (1 s doubling, at most RetryMax) a system that is down is tried
// for about eight and a half minutes, then the step fails with its reason and
// waits for staff to retry it.
const StepAttempts = 10

// StepLease is how long a job's claim on a step holds: longer than River
// lets an attempt run (JobTimeout) and than it waits before rescuing a job
// of an instance that died, so a claim outlives only a dead attempt.
const StepLease = RescueStuckAfter

// FulfilStepArgs is the job that works one step of a fulfilment.
type FulfilStepArgs struct {
	StepID int64 `json:"step_id"`
}

// Kind implements river.JobArgs.
func (FulfilStepArgs) Kind() string { return "fulfil_step" }

// InsertOpts puts steps on the data map's queue, with bounded attempts.
func (FulfilStepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDataMap, MaxAttempts: StepAttempts}
}

// BuildPackageArgs is the job that builds a gathering's access package.
type BuildPackageArgs struct {
	FulfilmentID int64 `json:"fulfilment_id"`
}

// Kind implements river.JobArgs.
func (BuildPackageArgs) Kind() string { return "build_access_package" }

// InsertOpts puts the package on the data map's queue.
func (BuildPackageArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDataMap, MaxAttempts: 5}
}

// PollStepArgs is one poll of a step that waits for an operator's system.
type PollStepArgs struct {
	StepID int64 `json:"step_id"`
}

// Kind implements river.JobArgs.
func (PollStepArgs) Kind() string { return "poll_step" }

// InsertOpts puts polls on the data map's queue; a poll that cannot reach
// the system is tried a few times, a poll that finds it still busy
// schedules the next one itself.
func (PollStepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDataMap, MaxAttempts: 5}
}

// EnqueueSteps schedules the steps' jobs in the caller's transaction
// (store.StepQueue).
func (o *Outbox) EnqueueSteps(ctx context.Context, tx pgx.Tx, stepIDs []int64) error {
	params := make([]river.InsertManyParams, len(stepIDs))
	for i, id := range stepIDs {
		params[i] = river.InsertManyParams{Args: FulfilStepArgs{StepID: id}}
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := o.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue steps: %w", err)
	}
	return nil
}

// EnqueuePackage schedules the building of a gathering's package.
func (o *Outbox) EnqueuePackage(ctx context.Context, tx pgx.Tx, fulfilmentID int64) error {
	_, err := o.client.InsertTx(ctx, tx, BuildPackageArgs{FulfilmentID: fulfilmentID}, nil)
	return err
}

// EnqueuePoll schedules a poll of a waiting step at at.
func (o *Outbox) EnqueuePoll(ctx context.Context, tx pgx.Tx, stepID int64, at time.Time) error {
	opts := PollStepArgs{}.InsertOpts()
	opts.ScheduledAt = at
	_, err := o.client.InsertTx(ctx, tx, PollStepArgs{StepID: stepID}, &opts)
	return err
}

// StepRunner is the data map's engine as its jobs drive it (fulfil.Service).
type StepRunner interface {
	// RunStep works a step for the job jobID; last says it is the job's
	// last attempt. An error leaves the job to River's retry.
	RunStep(ctx context.Context, stepID, jobID int64, last bool) error
	// PollStep asks the operator's system how a waiting step went.
	PollStep(ctx context.Context, stepID int64) error
	// BuildPackage builds a gathering's access package.
	BuildPackage(ctx context.Context, fulfilmentID int64) error
	// AutoGather starts the gatherings AUTO_GATHER asks for.
	AutoGather(ctx context.Context) (int, error)
}

// FulfilStepWorker works one step.
type FulfilStepWorker struct {
	river.WorkerDefaults[FulfilStepArgs]
	Runner StepRunner
}

// Work implements river.Worker.
func (w *FulfilStepWorker) Work(ctx context.Context, job *river.Job[FulfilStepArgs]) error {
	return w.Runner.RunStep(ctx, job.Args.StepID, job.ID, job.Attempt >= job.MaxAttempts)
}

// Timeout is JobTimeout: within it River never takes the job for a lost one.
func (w *FulfilStepWorker) Timeout(*river.Job[FulfilStepArgs]) time.Duration { return JobTimeout }

// BuildPackageWorker builds an access package.
type BuildPackageWorker struct {
	river.WorkerDefaults[BuildPackageArgs]
	Runner StepRunner
}

// Work implements river.Worker.
func (w *BuildPackageWorker) Work(ctx context.Context, job *river.Job[BuildPackageArgs]) error {
	return w.Runner.BuildPackage(ctx, job.Args.FulfilmentID)
}

// Timeout is JobTimeout.
func (w *BuildPackageWorker) Timeout(*river.Job[BuildPackageArgs]) time.Duration { return JobTimeout }

// PollStepWorker polls a waiting step.
type PollStepWorker struct {
	river.WorkerDefaults[PollStepArgs]
	Runner StepRunner
}

// Work implements river.Worker.
func (w *PollStepWorker) Work(ctx context.Context, job *river.Job[PollStepArgs]) error {
	return w.Runner.PollStep(ctx, job.Args.StepID)
}

// AutoGatherArgs is the periodic sweep that starts automatic gatherings.
type AutoGatherArgs struct{}

// Kind implements river.JobArgs.
func (AutoGatherArgs) Kind() string { return "auto_gather" }

// AutoGatherWorker runs the sweep (on the leader only; starting a gathering
// locks its request, so two sweeps never start two).
type AutoGatherWorker struct {
	river.WorkerDefaults[AutoGatherArgs]
	Runner StepRunner
}

// Work implements river.Worker.
func (w *AutoGatherWorker) Work(ctx context.Context, _ *river.Job[AutoGatherArgs]) error {
	_, err := w.Runner.AutoGather(ctx)
	return err
}

// AutoGatherEvery schedules the sweep.
func AutoGatherEvery(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return AutoGatherArgs{}, nil },
		&river.PeriodicJobOpts{ID: "auto_gather", RunOnStart: true})
}
