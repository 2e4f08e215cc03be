package store

import (
	"context"
	"testing"
	"time"

	"rightsdesk/internal/testkit"
)

// Two systems' steps of one approved plan finish at the same moment, each
// in its own transaction (two job workers): whichever commits last must see
// the other done and mark the plan executed, once. The first step's
// transaction is held open here until the second has either finished or is
// waiting for it, so the test does not depend on timing.
func TestTheLastOfTwoStepsFinishingAtOnceMarksThePlanExecutedOnce(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &intakeOutbox{}, testkit.Keys())
	agent, err := testkit.AddStaff(ctx, pool, "Ерлан", "erlan@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRequest(ctx, newIntakeRequest("RD-TEST-0000-0001", "aigerim@example.kz"))
	if err != nil {
		t.Fatal(err)
	}
	var fulfilmentID int64
	if err := pool.QueryRow(ctx, `INSERT INTO fulfilments (request_id, kind, plan_digest, map_digest, approved_at, approved_by, created_at)
		VALUES ($1, 'execute', 'plan', 'map', now(), $2, now()) RETURNING id`, r.ID, agent).Scan(&fulfilmentID); err != nil {
		t.Fatal(err)
	}
	step := func(system string, job int64) int64 {
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO fulfilment_steps (fulfilment_id, request_id, system, state, job_id, created_at, updated_at)
			VALUES ($1, $2, $3, 'running', $4, now(), now()) RETURNING id`, fulfilmentID, r.ID, system, job).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	lms, archive := step("lms", 1), step("archive", 2)
	fs := s.Fulfilments(nil)
	done := func(rows int64) StepOutcome {
		return StepOutcome{State: StepDone, At: time.Now(), Result: StepResult{Rows: map[string]int64{"students": rows}}}
	}

	first, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Rollback(ctx) }()
	if err := fs.finish(ctx, first, `s.state = 'running' AND s.job_id = $9`, lms, int64(1), done(1)); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- fs.Finish(ctx, archive, 2, done(1)) }()
	// The second either finishes (it did not wait for the first) or waits
	// for the first's lock.
	finishedAlone := false
	for waiting, tries := 0, 0; waiting == 0 && !finishedAlone; tries++ {
		if tries == 1000 {
			t.Fatal("the second step neither finished nor waited for the first")
		}
		select {
		case err := <-second:
			if err != nil {
				t.Fatal(err)
			}
			finishedAlone = true
		case <-time.After(10 * time.Millisecond):
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
				WHERE NOT l.granted AND a.datname = current_database()`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !finishedAlone {
		if err := <-second; err != nil {
			t.Fatal(err)
		}
	}
	var executed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE kind = $1 AND request_id = $2`, EventPlanExecuted, r.ID).Scan(&executed); err != nil {
		t.Fatal(err)
	}
	if executed != 1 {
		t.Errorf("%d plan_executed events after both steps finished, want 1", executed)
	}
}
