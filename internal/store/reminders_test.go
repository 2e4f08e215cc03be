package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// ReminderCandidatesQuery is the sweep's selection, for the benchmark in
// package store_test to run as bare SQL.
var ReminderCandidatesQuery = reminderCandidatesQuery

// ReminderClaimQuery is the claim of a digest's reminders, for the
// benchmark's plan of it.
var ReminderClaimQuery = reminderClaimQuery

// RemindedStatuses are the statuses the sweep selects, for the benchmark.
var RemindedStatuses = remindedStatuses

// LogPlan logs a query's EXPLAIN (ANALYZE, BUFFERS), for the benchmarks of
// package store_test too.
var LogPlan = logPlan

// countingOutbox stands in for River: it counts the delivery jobs asked for.
type countingOutbox struct{ jobs atomic.Int64 }

func (o *countingOutbox) EnqueueEmails(_ context.Context, _ pgx.Tx, ids []int64) error {
	o.jobs.Add(int64(len(ids)))
	return nil
}

func (o *countingOutbox) DeliveryJob() DeliveryJob { return DeliveryJob{} }

var reminderNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("Asia/Almaty", 5*3600))

func addReminderRequest(t *testing.T, pool *pgxpool.Pool, r testkit.Req) int64 {
	t.Helper()
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = reminderNow.AddDate(0, 0, -20)
	}
	id, err := testkit.AddRequest(context.Background(), pool, r)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func digestEmail(won []ReminderClaim) (request.OutboxEmail, error) {
	return request.OutboxEmail{
		Kind: "reminder_digest", To: "agent@example.kz", Locale: request.Russian,
		MessageID: fmt.Sprintf("digest-%d-%d@test", won[0].RequestID, time.Now().UnixNano()),
		Subject:   "digest", Text: "digest", HTML: "<p>digest</p>",
	}, nil
}

func TestReminderCandidatesAreConfirmedOpenRequestsWithinTheHorizon(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &countingOutbox{}, testkit.Keys())
	agent, err := testkit.AddStaff(ctx, pool, "Айгерим Сапарова", "aigerim@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := testkit.AddStaff(ctx, pool, "Ушедший Сотрудник", "gone@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE staff SET disabled_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	horizon := reminderNow.AddDate(0, 0, 7)
	ids := map[string]int64{
		"mine":          addReminderRequest(t, pool, testkit.Req{AssigneeID: agent, Status: request.InProgress, DueAt: reminderNow.AddDate(0, 0, 3)}),
		"overdue":       addReminderRequest(t, pool, testkit.Req{Status: request.AwaitingRequester, DueAt: reminderNow.AddDate(0, 0, -4)}),
		"disabled":      addReminderRequest(t, pool, testkit.Req{AssigneeID: gone, DueAt: reminderNow.AddDate(0, 0, 1)}),
		"later":         addReminderRequest(t, pool, testkit.Req{AssigneeID: agent, DueAt: horizon.Add(time.Second)}),
		"unverified":    addReminderRequest(t, pool, testkit.Req{Status: request.Unverified, DueAt: reminderNow.AddDate(0, 0, 1)}),
		"completed":     addReminderRequest(t, pool, testkit.Req{Status: request.Completed, AssigneeID: agent, DueAt: reminderNow.AddDate(0, 0, 1), ClosedAt: reminderNow}),
		"withdrawn":     addReminderRequest(t, pool, testkit.Req{Status: request.Withdrawn, DueAt: reminderNow.AddDate(0, 0, -1), ClosedAt: reminderNow}),
		"old_overdue_1": addReminderRequest(t, pool, testkit.Req{Status: request.New, DueAt: reminderNow.AddDate(0, 0, -10)}),
	}
	if _, err := pool.Exec(ctx, `INSERT INTO reminders (request_id, threshold, urgency, reminded_at) VALUES
		($1, '7d', -7, now()), ($2, 'overdue:2026-03-02', 20514, now())`,
		ids["mine"], ids["old_overdue_1"]); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReminderCandidates(ctx, horizon)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]ReminderCandidate{}
	var order []int64
	for _, c := range got {
		byID[c.RequestID] = c
		order = append(order, c.RequestID)
	}
	want := []int64{ids["old_overdue_1"], ids["overdue"], ids["disabled"], ids["mine"]} // by due date
	if !slices.Equal(order, want) {
		t.Fatalf("candidates %v, want %v (ids %v)", order, want, ids)
	}
	if c := byID[ids["mine"]]; c.StaffID != agent || c.StaffName != "Айгерим Сапарова" || c.StaffEmail != "aigerim@example.kz" ||
		c.StaffLocale != request.Russian || c.Type != request.Access || c.Reminded != "7d" {
		t.Errorf("mine: %+v", c)
	}
	if c := byID[ids["disabled"]]; c.StaffID != 0 || c.StaffEmail != "" {
		t.Errorf("a disabled assignee's request must go to the privacy contact: %+v", c)
	}
	if c := byID[ids["old_overdue_1"]]; c.Reminded != "overdue:2026-03-02" {
		t.Errorf("the ledger's key %q, want overdue:2026-03-02", c.Reminded)
	}
	if c := byID[ids["overdue"]]; c.Reminded != "" {
		t.Errorf("never reminded, yet the ledger's key is %q", c.Reminded)
	}
}

func TestARecordedReminderIsNeverClaimedAgain(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	outbox := &countingOutbox{}
	s := New(pool, outbox, testkit.Keys())
	a := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, 2)})
	b := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, -1)})
	digest := ReminderDigest{Claims: []ReminderClaim{
		{RequestID: b, Key: "overdue:2026-03-02"},
		{RequestID: a, Key: "3d"},
	}}
	composed := 0
	compose := func(won []ReminderClaim) (request.OutboxEmail, error) {
		composed++
		if len(won) != 2 || won[0].RequestID != b || won[1].RequestID != a {
			t.Errorf("compose got %+v, want both in the digest's order", won)
		}
		return digestEmail(won)
	}
	won, err := s.RecordReminders(ctx, reminderNow, digest, compose)
	if err != nil || len(won) != 2 {
		t.Fatalf("first: %v, %v", won, err)
	}
	won, err = s.RecordReminders(ctx, reminderNow, digest, compose)
	if err != nil || len(won) != 0 {
		t.Fatalf("second at the same instant: %v, %v", won, err)
	}
	if composed != 1 || outbox.jobs.Load() != 1 {
		t.Errorf("composed %d digests, enqueued %d jobs; want 1 and 1", composed, outbox.jobs.Load())
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM reminders`); n != 2 {
		t.Errorf("%d ledger rows, want 2 (one per request)", n)
	}
	if n := count(`SELECT count(*) FROM emails WHERE kind = 'reminder_digest' AND request_id IS NULL`); n != 1 {
		t.Errorf("%d digest emails", n)
	}
	if n := count(`SELECT count(*) FROM events e JOIN emails m ON m.id = (e.data->>'email_id')::bigint
		WHERE e.kind = 'reminded' AND e.actor = 'system' AND e.request_id = $1 AND e.data->>'threshold' = '3d'`, a); n != 1 {
		t.Errorf("%d reminded events on request a pointing at the digest", n)
	}
	if n := count(`SELECT count(*) FROM events WHERE kind = 'reminded'`); n != 2 {
		t.Errorf("%d reminded events, want 2", n)
	}
	// A passed threshold is never sent later, but the next day's overdue key
	// is, and the ledger then holds it.
	won, err = s.RecordReminders(ctx, reminderNow, ReminderDigest{Claims: []ReminderClaim{
		{RequestID: a, Key: "7d"}, {RequestID: b, Key: "overdue:2026-03-03"},
	}}, digestEmail)
	if err != nil || len(won) != 1 || won[0].RequestID != b {
		t.Errorf("later: %+v, %v; want only b's next overdue day", won, err)
	}
	var key string
	var urgency int
	if err := pool.QueryRow(ctx, `SELECT threshold, urgency FROM reminders WHERE request_id = $1`, b).Scan(&key, &urgency); err != nil ||
		key != "overdue:2026-03-03" || urgency != 20515 {
		t.Errorf("b's ledger row: %q, %d (%v); want overdue:2026-03-03, 20515", key, urgency, err)
	}
}

func TestConcurrentSweepsClaimEachReminderOnce(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	outbox := &countingOutbox{}
	s := New(pool, outbox, testkit.Keys())
	var digest ReminderDigest
	for i := range 40 {
		id := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, i%5-1)})
		digest.Claims = append(digest.Claims, ReminderClaim{RequestID: id, Key: "3d"})
	}
	const sweeps = 6
	won := make([]int, sweeps)
	errs := make([]error, sweeps)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range sweeps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each sweep lists the digest in its own order; the store
			// claims in one order whatever the caller's.
			d := ReminderDigest{Claims: slices.Clone(digest.Claims)}
			if i%2 == 1 {
				slices.Reverse(d.Claims)
			}
			got, err := s.RecordReminders(ctx, reminderNow, d, digestEmail)
			won[i], errs[i] = len(got), err
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := range sweeps {
		if errs[i] != nil {
			t.Fatalf("sweep %d: %v", i, errs[i])
		}
		switch won[i] {
		case 0:
		case len(digest.Claims):
			winners++
		default:
			t.Errorf("sweep %d won %d of %d reminders: the digest was split", i, won[i], len(digest.Claims))
		}
	}
	var ledger, dup, emails int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT request_id) FROM reminders`).Scan(&ledger, &dup); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM emails WHERE kind = 'reminder_digest'`).Scan(&emails); err != nil {
		t.Fatal(err)
	}
	if winners != 1 || emails != 1 || outbox.jobs.Load() != 1 || ledger != 40 || dup != 0 {
		t.Errorf("winners %d, digests %d, jobs %d, ledger rows %d (%d duplicates); want 1, 1, 1, 40, 0",
			winners, emails, outbox.jobs.Load(), ledger, dup)
	}
}

func TestARequestClosedSinceTheSelectionIsNotReminded(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &countingOutbox{}, testkit.Keys())
	open := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, 1)})
	closed := addReminderRequest(t, pool, testkit.Req{Status: request.Completed, ClosedAt: reminderNow, DueAt: reminderNow.AddDate(0, 0, 1)})
	won, err := s.RecordReminders(ctx, reminderNow, ReminderDigest{Claims: []ReminderClaim{
		{RequestID: open, Key: "1d"}, {RequestID: closed, Key: "1d"},
	}}, digestEmail)
	if err != nil || len(won) != 1 || won[0].RequestID != open {
		t.Fatalf("won %+v, %v; want the open one only", won, err)
	}
	// A digest whose every request closed writes no email.
	won, err = s.RecordReminders(ctx, reminderNow, ReminderDigest{Claims: []ReminderClaim{{RequestID: closed, Key: "3d"}}},
		func([]ReminderClaim) (request.OutboxEmail, error) {
			t.Error("compose called with nothing won")
			return request.OutboxEmail{}, nil
		})
	if err != nil || len(won) != 0 {
		t.Errorf("won %+v, %v", won, err)
	}
}

func TestAFailedDigestRecordsNoReminder(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &countingOutbox{}, testkit.Keys())
	id := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, 1)})
	claims := ReminderDigest{Claims: []ReminderClaim{{RequestID: id, Key: "1d"}}}
	_, err := s.RecordReminders(ctx, reminderNow, claims, func([]ReminderClaim) (request.OutboxEmail, error) {
		return request.OutboxEmail{}, fmt.Errorf("the template broke")
	})
	if err == nil {
		t.Fatal("want the compose error")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM reminders`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d ledger rows after a failed digest (%v): the reminder would be lost", n, err)
	}
	if won, err := s.RecordReminders(ctx, reminderNow, claims, digestEmail); err != nil || len(won) != 1 {
		t.Errorf("retry: %+v, %v", won, err)
	}
}

// The ledger holds one key per request, and a sweep (another instance)
// claiming a key while a first one holds the request's row waits for it:
// once the first commits a more urgent key, the less urgent one is not
// sent (it was passed); a more urgent key than the first's still is; and
// when the first rolls back, the second sends what it claimed.
func TestASweepWaitingOnAnotherSendsOnlyWhatIsMoreUrgentThanItsClaim(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	first := New(pool, &countingOutbox{}, testkit.Keys())
	second := New(pool, &countingOutbox{}, testkit.Keys()) // another instance
	for _, c := range []struct {
		name          string
		held, waiting string
		fail          bool   // the first sweep's digest fails and rolls back
		want          string // what the waiting sweep wins, "" nothing
		ledger        string
	}{
		{"a passed threshold", "1d", "3d", false, "", "1d"},
		{"the same key", "3d", "3d", false, "", "3d"},
		{"an overdue day held, a threshold waiting", "overdue:2026-03-02", "1d", false, "", "overdue:2026-03-02"},
		{"a more urgent threshold", "3d", "1d", false, "1d", "1d"},
		{"the next overdue day", "overdue:2026-03-02", "overdue:2026-03-03", false, "overdue:2026-03-03", "overdue:2026-03-03"},
		{"the first rolls back", "1d", "3d", true, "3d", "3d"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, 1)})
			holding, release := make(chan struct{}), make(chan struct{})
			firstDone := make(chan error, 1)
			go func() {
				_, err := first.RecordReminders(ctx, reminderNow, ReminderDigest{Claims: []ReminderClaim{{RequestID: id, Key: c.held}}},
					func(won []ReminderClaim) (request.OutboxEmail, error) {
						close(holding) // the row is claimed, not committed
						<-release
						if c.fail {
							return request.OutboxEmail{}, fmt.Errorf("the template broke")
						}
						return digestEmail(won)
					})
				firstDone <- err
			}()
			<-holding
			type result struct {
				won []ReminderClaim
				err error
			}
			secondDone := make(chan result, 1)
			go func() {
				won, err := second.RecordReminders(ctx, reminderNow, ReminderDigest{Claims: []ReminderClaim{{RequestID: id, Key: c.waiting}}}, digestEmail)
				secondDone <- result{won, err}
			}()
			waitForALockWait(t, pool)
			close(release)
			if err := <-firstDone; (err != nil) != c.fail {
				t.Fatalf("the first sweep: %v", err)
			}
			r := <-secondDone
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := ""
			if len(r.won) == 1 {
				got = r.won[0].Key
			}
			if len(r.won) > 1 || got != c.want {
				t.Errorf("the waiting sweep won %+v, want %q", r.won, c.want)
			}
			var ledger string
			var n int
			if err := pool.QueryRow(ctx, `SELECT max(threshold), count(*) FROM reminders WHERE request_id = $1`, id).Scan(&ledger, &n); err != nil {
				t.Fatal(err)
			}
			if ledger != c.ledger || n != 1 {
				t.Errorf("the ledger holds %q in %d rows, want %q in 1", ledger, n, c.ledger)
			}
			var events int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE request_id = $1 AND kind = 'reminded'`, id).Scan(&events); err != nil {
				t.Fatal(err)
			}
			want := len(r.won)
			if !c.fail {
				want++
			}
			if events != want {
				t.Errorf("%d reminded events, want %d", events, want)
			}
		})
	}
}

// waitForALockWait returns once a session of the test's database waits for
// a lock: the second sweep has reached the first one's row.
func waitForALockWait(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			t.Fatalf("no session waited for a lock: %v", err)
		}
		if n > 0 {
			return
		}
	}
}
