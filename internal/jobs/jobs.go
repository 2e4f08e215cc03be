// Package jobs runs rightsdesk's background work as River jobs stored in
// PostgreSQL: email delivery now, and the periodic sweeps. Jobs survive
// restarts and crashes, and periodic ones run on one instance at a time.
package jobs

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strings"
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
	lastWake time.Time        // when DeliveryJob last asked to wake the workers
	now      func() time.Time // time.Now; a test's clock
}

// NewOutbox returns an outbox on pool.
func NewOutbox(pool *pgxpool.Pool) (*Outbox, error) {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Middleware: []rivertype.Middleware{&operatorInsert{}}})
	if err != nil {
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	return &Outbox{client: client, now: time.Now}, nil
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
	now := o.now()
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
	Logger       *slog.Logger
	RetryMax     time.Duration // the longest wait between delivery attempts
	EmailWorkers int
	PeriodicJobs []*river.PeriodicJob
	PollInterval time.Duration // 0 = River's default; tests use a short one
	// Instances, when set, gives this instance a lock for its lifetime and
	// lets it find the jobs of instances that died (Runner.Start).
	Instances Instances
	// OrphansEvery is how often this instance looks for them
	// (DefaultOrphansEvery when 0).
	OrphansEvery time.Duration
}

// The timeouts of a job, from the inside out. A delivery sends each email
// within mail.DefaultSMTPTimeout (30 s, connect to QUIT) and starts none
// with less than that left of its own JobTimeout; River cancels a job's
// context at JobTimeout and gives it JobStuckThreshold (10 s) more. Only
// past all that may River's own rescuer presume the instance dead and run
// the job again: RescueStuckAfter is that last resort, for an instance
// whose lock outlived it (docs/operations.md); the lock finds the jobs of
// a dead instance within seconds.
const (
	JobTimeout       = 2 * time.Minute
	RescueStuckAfter = JobTimeout + time.Minute
)

// DefaultOrphansEvery is how often an instance looks for running jobs of
// instances that are gone. An instance is presumed gone once its lock has
// been found free on two looks in a row, so the jobs of an instance that
// died are running again 5 to 10 s after another one (or its own
// replacement) is up, and a live instance whose lock's connection broke
// (PostgreSQL restarting) has a look's time to take it again.
const DefaultOrphansEvery = 5 * time.Second

// instancePrefix starts the River client id of every instance that holds
// an instance lock; jobs of clients without it (versions before the lock)
// are left to River's rescuer.
const instancePrefix = "rd_"

// Instances is what the runner needs to tell live instances from dead ones
// (store.Store).
type Instances interface {
	LockInstance(ctx context.Context, id string) (*store.InstanceLock, error)
	GoneInstances(ctx context.Context, prefix, self string) ([]string, error)
	RescueJobsOf(ctx context.Context, instances []string) (int, error)
}

// Runner works the queues.
type Runner struct {
	client *river.Client[pgx.Tx]
	id     string
	cfg    RunnerConfig

	lock    *store.InstanceLock
	stopped chan struct{} // closed when the orphan watch has stopped
	cancel  context.CancelFunc
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
	if cfg.OrphansEvery == 0 {
		cfg.OrphansEvery = DefaultOrphansEvery
	}
	id, err := instanceID()
	if err != nil {
		return nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:     id,
		Logger: cfg.Logger,
		Queues: map[string]river.QueueConfig{
			QueueDefault: {MaxWorkers: 2},
			QueueEmail:   {MaxWorkers: cfg.EmailWorkers},
			QueueDataMap: {MaxWorkers: 4},
		},
		Workers:           workers,
		Middleware:        []rivertype.Middleware{&operatorInsert{}},
		PeriodicJobs:      cfg.PeriodicJobs,
		RetryPolicy:       RetryPolicy{Max: cfg.RetryMax},
		FetchPollInterval: cfg.PollInterval,
		// River fetches at most once per cooldown (100 ms by default), which
		// capped delivery at MaxWorkers per 100 ms - measured: 50 emails/s
		// against 100/s offered by 50 submissions/s (docs/benchmarks.md).
		FetchCooldown:        10 * time.Millisecond,
		RescueStuckJobsAfter: RescueStuckAfter,
		JobTimeout:           JobTimeout,
		ErrorHandler:         errorLogger{cfg.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return &Runner{client: client, id: id, cfg: cfg}, nil
}

// instanceID names this instance for River (its client id, recorded on
// every job it takes) and for its lock: the host, for people reading
// river_job, and 64 random bits, for uniqueness.
func instanceID() (string, error) {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 8)
	if _, err := crand.Read(b); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return instancePrefix + host + "_" + hex.EncodeToString(b), nil
}

// ID is this instance's River client id.
func (r *Runner) ID() string { return r.id }

// Start takes the instance's lock, begins working jobs, and watches for
// jobs that instances which died left running; it returns once the client
// is running. The lock is taken before the first job is: every job this
// instance ever runs is covered by it.
func (r *Runner) Start(ctx context.Context) error {
	if r.cfg.Instances != nil {
		lock, err := r.cfg.Instances.LockInstance(ctx, r.id)
		if err != nil {
			return err
		}
		r.lock = lock
	}
	if err := r.client.Start(ctx); err != nil {
		if r.lock != nil {
			r.lock.Release(context.WithoutCancel(ctx))
		}
		return err
	}
	if r.lock != nil {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r.cancel, r.stopped = cancel, make(chan struct{})
		go r.watchOrphans(wctx)
	}
	return nil
}

// Stop finishes the jobs in hand and stops fetching new ones, then gives
// the instance's lock up.
func (r *Runner) Stop(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		<-r.stopped
	}
	err := r.client.Stop(ctx)
	if r.lock != nil && err == nil {
		// With jobs still running (the stop timed out) the lock stays until
		// the process ends, so nobody runs them twice meanwhile.
		r.lock.Release(context.WithoutCancel(ctx))
	}
	return err
}

// watchOrphans looks for instances that are gone at once and then every
// OrphansEvery, and makes their running jobs available again once an
// instance's lock was free on two looks in a row. It looks only while it
// holds its own lock; a lost lock is taken again within a second, well
// inside the two looks another instance needs to presume this one gone.
func (r *Runner) watchOrphans(ctx context.Context) {
	defer close(r.stopped)
	suspects := map[string]bool{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		var held bool
		suspects, held = r.lookForOrphans(ctx, suspects)
		next := r.cfg.OrphansEvery
		if !held {
			next = min(time.Second, next)
		}
		timer.Reset(next)
	}
}

// lookForOrphans is one look; it says whether this instance's own lock is
// held.
func (r *Runner) lookForOrphans(ctx context.Context, suspects map[string]bool) (map[string]bool, bool) {
	if err := r.lock.Check(ctx); err != nil {
		if ctx.Err() == nil {
			r.warn(ctx, "instance lock lost; taking it again", err)
		}
		return map[string]bool{}, false
	}
	free, err := r.cfg.Instances.GoneInstances(ctx, instancePrefix, r.id)
	if err != nil {
		if ctx.Err() == nil {
			r.warn(ctx, "look for jobs of instances that are gone", err)
		}
		return suspects, true
	}
	var gone []string
	next := map[string]bool{}
	for _, id := range free {
		if suspects[id] {
			gone = append(gone, id)
		} else {
			next[id] = true
		}
	}
	if len(gone) == 0 {
		return next, true
	}
	n, err := r.cfg.Instances.RescueJobsOf(ctx, gone)
	if err != nil {
		if ctx.Err() == nil {
			r.warn(ctx, "rescue the jobs of instances that are gone", err)
		}
		return suspects, true
	}
	if r.cfg.Logger != nil {
		r.cfg.Logger.InfoContext(ctx, "rescued the jobs of instances that are gone", "instances", gone, "jobs", n)
	}
	return next, true
}

func (r *Runner) warn(ctx context.Context, msg string, err error) {
	if r.cfg.Logger != nil {
		r.cfg.Logger.WarnContext(ctx, msg, "error", err)
	}
}

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
