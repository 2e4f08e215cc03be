package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/config"
	"rightsdesk/internal/store"
)

// RetentionStore is what the retention sweep needs from the database.
type RetentionStore interface {
	PurgeFiles(ctx context.Context, cutoff, now time.Time, limit int) (store.FilesBatch, error)
	PurgePersonalData(ctx context.Context, cutoff, now time.Time, limit int) (store.PurgeBatch, error)
}

// RetentionBatchSize is how many requests one transaction of the sweep
// handles: small enough that locks and WAL stay short, large enough that a
// backlog (the first run on an old database) clears in minutes.
const RetentionBatchSize = 500

// RetentionSweep deletes the files of requests closed longer than Files and
// purges the personal data of those closed longer than Personal
// (FILE_RETENTION and RETENTION_PERIOD), keeping what the statistics count.
type RetentionSweep struct {
	Store     RetentionStore
	Files     config.Age
	Personal  config.Age
	Logger    *slog.Logger
	BatchSize int // RetentionBatchSize when 0
}

// RetentionResult is what one run did.
type RetentionResult struct {
	FilesRequests int // requests whose files were deleted
	FilesDeleted  int
	Purged        store.PurgeBatch // summed over the batches
}

// Run sweeps at now, batch after batch until none is left. Personal data
// goes first: a request past both periods is purged in one go (its files
// with it) rather than logged twice. A second run at the same now changes
// nothing. Only counts are logged, never a reference or a name.
func (s *RetentionSweep) Run(ctx context.Context, now time.Time) (RetentionResult, error) {
	var res RetentionResult
	limit := s.BatchSize
	if limit <= 0 {
		limit = RetentionBatchSize
	}
	cutoff := s.Personal.Before(now)
	for {
		b, err := s.Store.PurgePersonalData(ctx, cutoff, now, limit)
		if err != nil {
			return res, err
		}
		res.Purged.Requests += b.Requests
		res.Purged.Messages += b.Messages
		res.Purged.Files += b.Files
		res.Purged.Emails += b.Emails
		res.Purged.Notes += b.Notes
		res.Purged.Events += b.Events
		if b.Requests < limit {
			break
		}
	}
	cutoff = s.Files.Before(now)
	for {
		b, err := s.Store.PurgeFiles(ctx, cutoff, now, limit)
		if err != nil {
			return res, err
		}
		res.FilesRequests += b.Requests
		res.FilesDeleted += b.Files
		if b.Requests < limit {
			break
		}
	}
	if s.Logger != nil && (res.Purged.Requests > 0 || res.FilesRequests > 0) {
		s.Logger.InfoContext(ctx, "retention sweep",
			"requests_purged", res.Purged.Requests, "files_deleted", res.FilesDeleted+res.Purged.Files,
			"requests_files_deleted", res.FilesRequests)
	}
	return res, nil
}

// RetentionArgs is the daily retention sweep.
type RetentionArgs struct{}

// Kind implements river.JobArgs.
func (RetentionArgs) Kind() string { return "retention" }

// RetentionWorker runs the sweep. River runs periodic jobs on the elected
// leader only; SKIP LOCKED in each batch makes an overlapping run harmless.
type RetentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	Sweep *RetentionSweep
	Now   func() time.Time
}

// Work implements river.Worker.
func (w *RetentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	_, err := w.Sweep.Run(ctx, w.Now())
	return err
}

// Timeout gives a backlog more than the default job time; each batch
// commits on its own, so a run cut short keeps what it did.
func (w *RetentionWorker) Timeout(*river.Job[RetentionArgs]) time.Duration {
	return 30 * time.Minute
}

// RetentionEvery schedules the sweep (daily in production), and runs it
// when an instance becomes the leader.
func RetentionEvery(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
		&river.PeriodicJobOpts{ID: "retention", RunOnStart: true})
}
