package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
)

// The clean-up drops rate-limit windows older than an hour, idempotency
// keys older than a day and acknowledgement counts of days that ended two
// days ago, and keeps everything younger that a limit still reads.
func TestTheCleanUpDropsOnlyWhatNoLimitReadsAnyMore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, hit := range []time.Time{at.Add(-2 * time.Hour), at.Add(-61 * time.Minute), at.Add(-59 * time.Minute), at} {
		if _, err := f.store.CountHit(ctx, "intake:test", hit, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	r := f.file(t, "aigerim@example.kz", true)
	for i, created := range []time.Time{at.Add(-25 * time.Hour), at.Add(-23 * time.Hour)} {
		if _, err := f.pool.Exec(ctx, `INSERT INTO idempotency_keys (key_hash, request_id, body_hash, created_at) VALUES ($1, $2, 'b', $3)`,
			[]byte{byte(i)}, r.id, created); err != nil {
			t.Fatal(err)
		}
	}
	for _, day := range []string{"2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"} {
		if _, err := f.pool.Exec(ctx, `INSERT INTO acknowledgement_counts (email_index, day, sent) VALUES ('e', $1, 1)`, day); err != nil {
			t.Fatal(err)
		}
	}

	w := &PruneRateLimitsWorker{Store: f.store, Now: fixedNow}
	if res := workOnce(t, f, w, PruneRateLimitsArgs{}); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the clean-up ended %s", res.EventKind)
	}
	if n := f.count(t, `SELECT count(*) FROM rate_limits WHERE window_start >= $1`, at.Add(-time.Hour)); n != 2 ||
		f.count(t, `SELECT count(*) FROM rate_limits`) != 2 {
		t.Errorf("rate-limit windows left: %d of the last hour, %d in all; want the 2 of the last hour", n, f.count(t, `SELECT count(*) FROM rate_limits`))
	}
	if n := f.count(t, `SELECT count(*) FROM idempotency_keys`); n != 1 || f.count(t, `SELECT count(*) FROM idempotency_keys WHERE created_at = $1`, at.Add(-23*time.Hour)) != 1 {
		t.Errorf("%d idempotency keys left, want the one of the last day", n)
	}
	if n := f.count(t, `SELECT count(*) FROM acknowledgement_counts WHERE day >= '2026-02-28'`); n != 3 || f.count(t, `SELECT count(*) FROM acknowledgement_counts`) != 3 {
		t.Errorf("acknowledgement counts left: %d from 28 February on, want those 3 alone", n)
	}
	// A second run finds nothing more to drop.
	workOnce(t, f, w, PruneRateLimitsArgs{})
	if f.count(t, `SELECT count(*) FROM rate_limits`)+f.count(t, `SELECT count(*) FROM idempotency_keys`)+f.count(t, `SELECT count(*) FROM acknowledgement_counts`) != 6 {
		t.Error("a second run at the same time dropped more")
	}
}
