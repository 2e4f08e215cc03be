package store_test

import (
	"context"
	"testing"

	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// TestOnlyTheJobsOfAnInstanceWhoseLockIsFreeAreRescued: a job running under
// a live instance is never taken, however long it runs; once that
// instance's session ends, its job is available again at once, with the
// rescue recorded; an instance never lists itself, and jobs of clients
// without an instance lock are left to River.
func TestOnlyTheJobsOfAnInstanceWhoseLockIsFreeAreRescued(t *testing.T) {
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	ctx := context.Background()
	job := func(owner string) int64 {
		t.Helper()
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, attempt, attempted_at, attempted_by)
			VALUES ('{}', 'deliver_email', 500, 'email', 'running', 1, 1, now() - interval '1 hour', ARRAY['rd_old_client', $1])
			RETURNING id`, owner).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	state := func(id int64) (st string, errs int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT state, coalesce(cardinality(errors), 0) FROM river_job WHERE id = $1`, id).Scan(&st, &errs); err != nil {
			t.Fatal(err)
		}
		return st, errs
	}
	live, err := s.LockInstance(ctx, "rd_alive_1")
	if err != nil {
		t.Fatal(err)
	}
	self, err := s.LockInstance(ctx, "rd_self_2")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Release(ctx)
	ofLive, ofSelf, ofOld := job("rd_alive_1"), job("rd_self_2"), job("host_2026_01_01T00_00_00_000000")

	gone, err := s.GoneInstances(ctx, "rd_", "rd_self_2")
	if err != nil || len(gone) != 0 {
		t.Fatalf("with every instance alive: %v, %v; want none gone", gone, err)
	}
	if n, err := s.RescueJobsOf(ctx, []string{"rd_alive_1", "rd_self_2"}); err != nil || n != 0 {
		t.Fatalf("rescuing live instances' jobs: %d, %v; want none taken", n, err)
	}
	if _, err := s.LockInstance(ctx, "rd_alive_1"); err == nil {
		t.Fatal("a second session took a live instance's lock")
	}

	live.Release(ctx) // as at the end of a graceful stop; a dead process's session ends a moment after it
	gone, err = s.GoneInstances(ctx, "rd_", "rd_self_2")
	if err != nil || len(gone) != 1 || gone[0] != "rd_alive_1" {
		t.Fatalf("after the instance's session ended: %v, %v; want it gone", gone, err)
	}
	if n, err := s.RescueJobsOf(ctx, gone); err != nil || n != 1 {
		t.Fatalf("rescue: %d, %v; want its one job", n, err)
	}
	if st, errs := state(ofLive); st != "available" || errs != 1 {
		t.Errorf("the rescued job is %s with %d errors, want available with the rescue recorded", st, errs)
	}
	for _, id := range []int64{ofSelf, ofOld} {
		if st, _ := state(id); st != "running" {
			t.Errorf("job %d is %s, want it left running", id, st)
		}
	}
	// Rescued once: a second look finds nothing more to do.
	if n, err := s.RescueJobsOf(ctx, gone); err != nil || n != 0 {
		t.Errorf("second rescue: %d, %v", n, err)
	}
}
