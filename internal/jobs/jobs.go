// Package jobs runs rightsdesk's background work as River jobs stored in
// PostgreSQL: email delivery now, and the periodic sweeps. Jobs survive
// restarts and crashes, and periodic ones run on one instance at a time.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"rightsdesk/internal/store"
)

// Queues.
const (
	QueueDefault = river.QueueDefault
	QueueEmail   = "email"
)

// Outbox enqueues jobs inside the caller's transaction. It uses an
// insert-only River client, so the store can be built before the workers.
type Outbox struct {
	client *river.Client[pgx.Tx]

	mu       sync.Mutex
	lastWake time.Time // when DeliveryJob last asked to wake the workers
}

// NewOutbox returns an outbox on pool.
func NewOutbox(pool *pgxpool.Pool) (*Outbox, error) {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	return &Outbox{client: client}, nil
}

// wakeEvery is how often inserts wake the email workers at most, as River's
// own insert client does (its FetchCooldown): under load they are busy
// fetching anyway, and every NOTIFY serialises commits in PostgreSQL.
const wakeEvery = 100 * time.Millisecond

// DeliveryJob describes the job DeliverEmailArgs makes, for the intake to
// write in SQL (store.DeliveryJob), and says whether to wake the workers.
func (o *Outbox) DeliveryJob() store.DeliveryJob {
	args := DeliverEmailArgs{}
	opts := args.InsertOpts()
	job := store.DeliveryJob{Kind: args.Kind(), Queue: opts.Queue, MaxAttempts: opts.MaxAttempts, IDsField: "email_ids"}
	now := time.Now()
	o.mu.Lock()
	if now.Sub(o.lastWake) >= wakeEvery {
		o.lastWake = now
		// River's insert notification (its producers listen on river_insert).
		job.Notify = fmt.Sprintf(`{"queue": %q}`, opts.Queue)
	}
	o.mu.Unlock()
	return job
}

// EnqueueEmails schedules the delivery of the emails one change recorded,
// as one job: a submission's acknowledgement and notice are fetched,
// delivered and recorded together, which halves the queue's work per
// submission (docs/benchmarks.md).
func (o *Outbox) EnqueueEmails(ctx context.Context, tx pgx.Tx, emailIDs []int64) error {
	if len(emailIDs) == 0 {
		return nil
	}
	_, err := o.client.InsertTx(ctx, tx, DeliverEmailArgs{EmailIDs: emailIDs}, nil)
	return err
}

// PauseDelivery stops every instance from taking email deliveries until
// ResumeDelivery: emails are still recorded and queued, and wait. River
// keeps the pause in the database (instances started later honour it) and
// tells running instances at once. It fails with river.ErrNotFound when no
// instance has served the email queue yet.
func (o *Outbox) PauseDelivery(ctx context.Context) error {
	if err := o.client.QueuePause(ctx, QueueEmail, nil); err != nil {
		return fmt.Errorf("pause the %s queue: %w", QueueEmail, err)
	}
	return nil
}

// ResumeDelivery undoes PauseDelivery.
func (o *Outbox) ResumeDelivery(ctx context.Context) error {
	if err := o.client.QueueResume(ctx, QueueEmail, nil); err != nil {
		return fmt.Errorf("resume the %s queue: %w", QueueEmail, err)
	}
	return nil
}

// DeliveryPausedAt says since when delivery is paused; zero when it is not.
func (o *Outbox) DeliveryPausedAt(ctx context.Context) (time.Time, error) {
	q, err := o.client.QueueGet(ctx, QueueEmail)
	if errors.Is(err, river.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read the %s queue: %w", QueueEmail, err)
	}
	if q.PausedAt == nil {
		return time.Time{}, nil
	}
	return *q.PausedAt, nil
}

// RetryPolicy backs off exponentially from one second up to Max, with
// jitter so that a returning SMTP server is not hit by every job at once.
type RetryPolicy struct {
	Max time.Duration
	Now func() time.Time
}

// NextRetry implements river.ClientRetryPolicy.
func (p RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	attempt := max(len(job.Errors), 1)
	wait := time.Duration(math.Min(math.Pow(2, float64(attempt-1)), p.Max.Seconds()) * float64(time.Second))
	wait = min(wait, p.Max)
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1)) // #nosec G404 -- retry jitter, not a secret
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return now().Add(wait)
}

// RunnerConfig is how the job runner works.
type RunnerConfig struct {
	Logger        *slog.Logger
	RetryMax      time.Duration // the longest wait between delivery attempts
	EmailWorkers  int
	PeriodicJobs  []*river.PeriodicJob
	PollInterval  time.Duration // 0 = River's default; tests use a short one
	RescueStuckIn time.Duration // a job running longer is presumed lost with its instance
}

// Runner works the queues.
type Runner struct {
	client *river.Client[pgx.Tx]
}

// NewRunner builds the River client that executes jobs with workers.
func NewRunner(pool *pgxpool.Pool, workers *river.Workers, cfg RunnerConfig) (*Runner, error) {
	if cfg.EmailWorkers == 0 {
		// Deliveries wait on the SMTP server, not on the CPU: enough of them
		// in flight keeps up with a burst of submissions (two emails each).
		cfg.EmailWorkers = 20
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 10 * time.Minute
	}
	if cfg.RescueStuckIn == 0 {
		cfg.RescueStuckIn = 5 * time.Minute
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: cfg.Logger,
		Queues: map[string]river.QueueConfig{
			QueueDefault: {MaxWorkers: 2},
			QueueEmail:   {MaxWorkers: cfg.EmailWorkers},
		},
		Workers:           workers,
		PeriodicJobs:      cfg.PeriodicJobs,
		RetryPolicy:       RetryPolicy{Max: cfg.RetryMax},
		FetchPollInterval: cfg.PollInterval,
		// River fetches at most once per cooldown (100 ms by default), which
		// capped delivery at MaxWorkers per 100 ms - measured: 50 emails/s
		// against 100/s offered by 50 submissions/s (docs/benchmarks.md).
		FetchCooldown:        10 * time.Millisecond,
		RescueStuckJobsAfter: cfg.RescueStuckIn,
		JobTimeout:           2 * time.Minute,
		ErrorHandler:         errorLogger{cfg.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return &Runner{client: client}, nil
}

// Start begins working jobs; it returns once the client is running.
func (r *Runner) Start(ctx context.Context) error { return r.client.Start(ctx) }

// Stop finishes the jobs in hand and stops fetching new ones.
func (r *Runner) Stop(ctx context.Context) error { return r.client.Stop(ctx) }

// Client exposes the River client (for retrying a job from the staff UI).
func (r *Runner) Client() *river.Client[pgx.Tx] { return r.client }

// errorLogger logs job failures without their arguments (which may one day
// hold personal data) and lets River's retry policy decide what follows.
type errorLogger struct{ log *slog.Logger }

func (h errorLogger) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if h.log != nil {
		h.log.WarnContext(ctx, "job failed", "kind", job.Kind, "job_id", job.ID, "attempt", job.Attempt, "error", err)
	}
	return nil
}

func (h errorLogger) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	if h.log != nil {
		h.log.ErrorContext(ctx, "job panicked", "kind", job.Kind, "job_id", job.ID, "panic", fmt.Sprint(panicVal), "trace", trace)
	}
	return nil
}
