package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"rightsdesk/internal/config"
	"rightsdesk/internal/egress"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

func TestRetriesBackOffExponentiallyUpToTheLongestWaitWithSomeJitter(t *testing.T) {
	p := RetryPolicy{Max: 10 * time.Minute, Now: fixedNow}
	for _, tc := range []struct {
		errors int
		wait   time.Duration
	}{
		{0, time.Second}, // River asks before the first error is recorded too
		{1, time.Second},
		{2, 2 * time.Second},
		{5, 16 * time.Second},
		{10, 512 * time.Second},
		{11, 10 * time.Minute}, // 1024 s, capped
		{40, 10 * time.Minute},
	} {
		job := &rivertype.JobRow{Errors: make([]rivertype.AttemptError, tc.errors)}
		for range 20 {
			wait := p.NextRetry(job).Sub(at)
			if wait < tc.wait || wait > tc.wait+tc.wait/10 {
				t.Errorf("after %d errors: retry in %v, want %v plus at most a tenth", tc.errors, wait, tc.wait)
				break
			}
		}
	}
}

// Inserts wake the email workers at once, but at most once per wakeEvery:
// under load they are fetching anyway, and every NOTIFY serialises commits.
func TestDeliveryJobsWakeTheWorkersAtMostOncePerWakeInterval(t *testing.T) {
	f := newFixture(t)
	clock := testkit.NewClock(at)
	f.outbox.now = clock.Now
	job := f.outbox.DeliveryJob()
	args := DeliverEmailArgs{}
	if job.Kind != args.Kind() || job.Queue != QueueEmail || job.MaxAttempts != args.InsertOpts().MaxAttempts || job.IDsField != "email_ids" {
		t.Errorf("the job the intake writes %+v is not DeliverEmailArgs'", job)
	}
	if job.Notify != `{"queue": "email"}` {
		t.Errorf("the first insert does not wake the workers: %q", job.Notify)
	}
	clock.Advance(wakeEvery - time.Millisecond)
	if n := f.outbox.DeliveryJob().Notify; n != "" {
		t.Errorf("an insert within %v of the last wake-up wakes the workers again: %q", wakeEvery, n)
	}
	clock.Advance(time.Millisecond)
	if n := f.outbox.DeliveryJob().Notify; n == "" {
		t.Errorf("an insert %v after the last wake-up does not wake the workers", wakeEvery)
	}
}

// Pausing holds delivery on every instance, in the database: it needs an
// instance to have served the email queue, and resuming lets it go.
func TestDeliveryIsPausedAndResumedInTheDatabase(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if at, err := f.outbox.DeliveryPausedAt(ctx); err != nil || !at.IsZero() {
		t.Fatalf("before any instance: paused at %v (%v), want not paused", at, err)
	}
	if err := f.outbox.PauseDelivery(ctx); !errors.Is(err, river.ErrNotFound) {
		t.Errorf("pausing a queue no instance has served: %v, want river.ErrNotFound", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &PruneRateLimitsWorker{Store: f.store, Now: fixedNow})
	f.runner(t, workers, RunnerConfig{})
	deadline := time.Now().Add(10 * time.Second)
	for err := f.outbox.PauseDelivery(ctx); err != nil; err = f.outbox.PauseDelivery(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("pause: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the runner records its queues as it starts
	}
	if at, err := f.outbox.DeliveryPausedAt(ctx); err != nil || at.IsZero() {
		t.Errorf("after the pause: paused at %v (%v)", at, err)
	}
	if err := f.outbox.ResumeDelivery(ctx); err != nil {
		t.Fatal(err)
	}
	if at, err := f.outbox.DeliveryPausedAt(ctx); err != nil || !at.IsZero() {
		t.Errorf("after the resume: paused at %v (%v), want not paused", at, err)
	}
}

// running records a job as River does while instance works it.
func (f *fixture) running(t *testing.T, instance string) int64 {
	t.Helper()
	var id int64
	if err := f.pool.QueryRow(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, attempt, attempted_at, attempted_by)
		VALUES ('{}', 'prune_rate_limits', 25, 'default', 'running', 1, 1, now(), ARRAY[$1])
		RETURNING id`, instance).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) jobState(t *testing.T, id int64) string {
	t.Helper()
	var s string
	if err := f.pool.QueryRow(context.Background(), `SELECT state FROM river_job WHERE id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// The orphan watch runs again the jobs of an instance whose lock has been
// free on two looks in a row, never those of a live instance nor its own,
// and does nothing while it does not hold its own lock.
func TestTheOrphanWatchRescuesOnlyJobsOfInstancesGoneForTwoLooks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, &PruneRateLimitsWorker{Store: f.store, Now: fixedNow})
	r, err := NewRunner(f.pool, workers, RunnerConfig{Logger: quiet(), Instances: f.store})
	if err != nil {
		t.Fatal(err)
	}
	if r.lock, err = f.store.LockInstance(ctx, r.ID()); err != nil {
		t.Fatal(err)
	}
	live, err := f.store.LockInstance(ctx, "rd_live_1")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release(ctx)
	ofDead, ofLive, ofSelf, ofOld := f.running(t, "rd_dead_1"), f.running(t, "rd_live_1"), f.running(t, r.ID()), f.running(t, "host_without_lock")

	suspects, held := r.lookForOrphans(ctx, map[string]bool{})
	if !held || len(suspects) != 1 || !suspects["rd_dead_1"] || f.jobState(t, ofDead) != "running" {
		t.Fatalf("first look: suspects %v (held %v), dead job %s; want rd_dead_1 suspected, nothing rescued yet", suspects, held, f.jobState(t, ofDead))
	}
	suspects, _ = r.lookForOrphans(ctx, suspects)
	if f.jobState(t, ofDead) != "available" || len(suspects) != 0 {
		t.Errorf("second look: the dead instance's job is %s (suspects %v), want available again", f.jobState(t, ofDead), suspects)
	}
	for name, id := range map[string]int64{"a live instance": ofLive, "this instance": ofSelf, "a client without a lock": ofOld} {
		if s := f.jobState(t, id); s != "running" {
			t.Errorf("the job of %s is %s, want left running", name, s)
		}
	}

	// Without its own lock (another session took it) it looks at nothing.
	ofDead2 := f.running(t, "rd_dead_2")
	r.lock.Release(ctx)
	thief, err := f.store.LockInstance(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Release(ctx)
	for range 2 {
		if suspects, held = r.lookForOrphans(ctx, map[string]bool{"rd_dead_2": true}); held || len(suspects) != 0 {
			t.Errorf("without its lock: held %v, suspects %v", held, suspects)
		}
	}
	if s := f.jobState(t, ofDead2); s != "running" {
		t.Errorf("a watch without its own lock rescued a job: %s", s)
	}
}

// A running instance finishes the jobs an instance that died left running.
func TestARunnerFinishesTheJobsOfAnInstanceThatDied(t *testing.T) {
	f := newFixture(t)
	orphan := f.running(t, "rd_died_1")
	workers := river.NewWorkers()
	river.AddWorker(workers, &PruneRateLimitsWorker{Store: f.store, Now: fixedNow})
	f.runner(t, workers, RunnerConfig{Instances: f.store, OrphansEvery: 50 * time.Millisecond})
	if _, attempt := f.waitForJob(t, orphan, "completed"); attempt != 2 {
		t.Errorf("the orphan completed at attempt %d, want 2 (the dead instance's, then this one's)", attempt)
	}
	var errs []string
	if err := f.pool.QueryRow(context.Background(), `SELECT array(SELECT e->>'error' FROM river_job, unnest(errors) e WHERE id = $1)`, orphan).Scan(&errs); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "rescued: ") {
		t.Errorf("the job's recorded errors %q, want the rescue", errs)
	}
}

// Every worker that meets a database it cannot reach returns an error, so
// that River tries the job again later: none drops its work.
func TestEveryWorkerLeavesItsJobForARetryWhenTheDatabaseIsDown(t *testing.T) {
	f := newFixture(t)
	down, err := pgxpool.NewWithConfig(context.Background(), f.pool.Config())
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	st := store.New(down, f.outbox, testkit.Keys())
	smtp := testkit.StartSMTP(t)
	var logs testkit.Buffer
	email := deliveryWorker(f, smtp, outcomes{})
	email.Store = st
	expiry := &request.Expirer{Repo: st, Composer: composer(t), Clock: testkit.NewClock(at), Links: request.Links{BaseURL: "https://portal.example.kz"}}
	reminders := reminderSweep(f, t, "privacy@school.example.kz", &logs)
	reminders.Store = st
	retention := &RetentionSweep{Store: st, Files: config.Age{Days: 120}, Personal: config.Age{Years: 3}}
	for name, run := range map[string]func() (bool, error){
		"delivery": func() (bool, error) {
			res, err := work(t, f, email, DeliverEmailArgs{EmailIDs: []int64{1}})
			return retried(res), err
		},
		"webhooks": func() (bool, error) {
			res, err := work(t, f, &DeliverWebhookWorker{Store: st, Egress: egress.Policy{}, Now: fixedNow}, DeliverWebhookArgs{DeliveryID: 1})
			return retried(res), err
		},
		"rate-limit clean-up": func() (bool, error) {
			res, err := work(t, f, &PruneRateLimitsWorker{Store: st, Now: fixedNow}, PruneRateLimitsArgs{})
			return retried(res), err
		},
		"expiry": func() (bool, error) {
			res, err := work(t, f, &ExpireUnconfirmedWorker{Sweeper: expiry}, ExpireUnconfirmedArgs{})
			return retried(res), err
		},
		"reminders": func() (bool, error) {
			res, err := work(t, f, &SendRemindersWorker{Sweep: reminders, Now: fixedNow}, SendRemindersArgs{})
			return retried(res), err
		},
		"retention": func() (bool, error) {
			res, err := work(t, f, &RetentionWorker{Sweep: retention, Now: fixedNow}, RetentionArgs{})
			return retried(res), err
		},
	} {
		if again, err := run(); err == nil || !again {
			t.Errorf("%s with the database down: error %v, tried again %v; want an error and a retry", name, err, again)
		}
	}
}
