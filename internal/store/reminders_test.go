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
	if _, err := pool.Exec(ctx, `INSERT INTO reminders (request_id, threshold, reminded_at) VALUES
		($1, '7d', now()), ($2, 'overdue:2026-03-01', now()), ($2, 'overdue:2026-03-02', now()), ($2, '1d', now())`,
		ids["mine"], ids["old_overdue_1"]); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReminderCandidates(ctx, horizon, "overdue:2026-03-02")
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
		c.StaffLocale != request.Russian || c.Type != request.Access || !slices.Equal(c.Done, []string{"7d"}) {
		t.Errorf("mine: %+v", c)
	}
	if c := byID[ids["disabled"]]; c.StaffID != 0 || c.StaffEmail != "" {
		t.Errorf("a disabled assignee's request must go to the privacy contact: %+v", c)
	}
	// Only today's overdue key can hold a reminder back; yesterday's is left out.
	if c := byID[ids["old_overdue_1"]]; !sameSet(c.Done, []string{"1d", "overdue:2026-03-02"}) {
		t.Errorf("done keys %v", c.Done)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestARecordedReminderIsNeverClaimedAgain(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	outbox := &countingOutbox{}
	s := New(pool, outbox, testkit.Keys())
	a := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, 2)})
	b := addReminderRequest(t, pool, testkit.Req{DueAt: reminderNow.AddDate(0, 0, -1)})
	digest := ReminderDigest{Claims: []ReminderClaim{
		{RequestID: b, Key: "overdue:2026-03-02", Passed: []string{"1d", "3d", "7d"}},
		{RequestID: a, Key: "3d", Passed: []string{"7d"}},
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
	if n := count(`SELECT count(*) FROM reminders`); n != 6 {
		t.Errorf("%d ledger rows, want 6 (2 reminders + 4 passed thresholds)", n)
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
	// A passed threshold is never sent later, but the next day's overdue key is.
	won, err = s.RecordReminders(ctx, reminderNow, ReminderDigest{Claims: []ReminderClaim{
		{RequestID: a, Key: "7d"}, {RequestID: b, Key: "overdue:2026-03-03"},
	}}, digestEmail)
	if err != nil || len(won) != 1 || won[0].RequestID != b {
		t.Errorf("later: %+v, %v; want only b's next overdue day", won, err)
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
		digest.Claims = append(digest.Claims, ReminderClaim{RequestID: id, Key: "3d", Passed: []string{"7d"}})
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
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT (request_id, threshold)) FROM reminders`).Scan(&ledger, &dup); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM emails WHERE kind = 'reminder_digest'`).Scan(&emails); err != nil {
		t.Fatal(err)
	}
	if winners != 1 || emails != 1 || outbox.jobs.Load() != 1 || ledger != 80 || dup != 0 {
		t.Errorf("winners %d, digests %d, jobs %d, ledger rows %d (%d duplicates); want 1, 1, 1, 80, 0",
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
	claims := ReminderDigest{Claims: []ReminderClaim{{RequestID: id, Key: "1d", Passed: []string{"3d", "7d"}}}}
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
