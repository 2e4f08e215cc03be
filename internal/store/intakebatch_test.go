package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// holdIntake takes every slot of s's batches, so that the submissions made
// meanwhile queue up and are sent as one batch when release is called.
func holdIntake(s *Store) (release func()) {
	for range intakeInFlight {
		s.intake.slots <- struct{}{}
	}
	return func() {
		for range intakeInFlight {
			<-s.intake.slots
		}
	}
}

// waitQueued returns once n submissions wait in s's queue for no operator.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for {
		s.intake.mu.Lock()
		have := 0
		if q := s.intake.queues[noScope]; q != nil {
			have = len(q.items)
		}
		s.intake.mu.Unlock()
		if have >= n {
			return
		}
		time.Sleep(time.Millisecond) // polls a condition: no deadline depends on it
	}
}

// batchSubmission is a distinct submission n from email.
func batchSubmission(n int, email string) request.NewRequest {
	nr := newIntakeRequest(fmt.Sprintf("RD-BTCH-%04d-AAAA", n), email)
	nr.StatusTokenHash, nr.ConfirmTokenHash = fmt.Appendf(nil, "batch-status-%d", n), fmt.Appendf(nil, "batch-confirm-%d", n)
	return nr
}

type outcome struct {
	r   request.Request
	err error
}

// submitHeld makes the submissions concurrently while s's batches are
// held, waits until all of them are queued, releases them as one batch and
// returns each one's outcome, in order.
func submitHeld(t *testing.T, ctx context.Context, s *Store, nrs []request.NewRequest) []outcome {
	t.Helper()
	release := holdIntake(s)
	out := make([]outcome, len(nrs))
	var wg sync.WaitGroup
	for i, nr := range nrs {
		wg.Go(func() {
			r, err := s.CreateRequest(ctx, nr)
			out[i] = outcome{r, err}
		})
		waitQueued(t, s, i+1) // in this order in the batch
	}
	release()
	wg.Wait()
	return out
}

// rowsOf counts what the intake wrote for request id: the request, its
// event, status link, confirmation, emails and delivery job.
func rowsOf(t *testing.T, ctx context.Context, s *Store, id int64) [6]int {
	t.Helper()
	var n [6]int
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM requests WHERE id = $1), (SELECT count(*) FROM events WHERE request_id = $1),
		(SELECT count(*) FROM status_links WHERE request_id = $1), (SELECT count(*) FROM confirmations WHERE request_id = $1),
		(SELECT count(*) FROM emails WHERE request_id = $1),
		(SELECT count(*) FROM river_job WHERE args->'email_ids' @> (SELECT jsonb_agg(id) FROM emails WHERE request_id = $1))`,
		id).Scan(&n[0], &n[1], &n[2], &n[3], &n[4], &n[5])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// transactions is how many transactions wrote the requests ids.
func transactions(t *testing.T, ctx context.Context, s *Store, ids []int64) (n int) {
	t.Helper()
	if err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM requests WHERE id = ANY($1)`, ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Concurrent submissions are committed in one transaction, each with all
// its rows; among several from one address, every one points at the
// oldest open request of the address, also when that one is in the same
// commit.
func TestConcurrentSubmissionsAreCommittedTogetherWithAllTheirRows(t *testing.T) {
	ctx := context.Background()
	s := New(testkit.DB(t), &intakeOutbox{}, testkit.Keys())
	older, err := s.CreateRequest(ctx, batchSubmission(0, "older@example.kz"))
	if err != nil {
		t.Fatal(err)
	}
	var nrs []request.NewRequest
	for i := 1; i <= 12; i++ {
		email := fmt.Sprintf("person%d@example.kz", i)
		if i%3 == 0 {
			email = "older@example.kz"
		}
		if i%4 == 0 {
			email = "together@example.kz"
		}
		nrs = append(nrs, batchSubmission(i, email))
	}
	out := submitHeld(t, ctx, s, nrs)
	var ids []int64
	firstTogether := int64(0)
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("submission %d: %v", i+1, o.err)
		}
		ids = append(ids, o.r.ID)
		if got, want := rowsOf(t, ctx, s, o.r.ID), [6]int{1, 1, 1, 1, 2, 1}; got != want {
			t.Errorf("submission %d: rows (request, event, link, confirmation, emails, job) %v, want %v", i+1, got, want)
		}
		want := int64(0)
		switch nrs[i].Request.Email {
		case "older@example.kz":
			want = older.ID
		case "together@example.kz":
			if firstTogether == 0 {
				firstTogether = o.r.ID
			} else {
				want = firstTogether
			}
		}
		if o.r.DuplicateOf != want {
			t.Errorf("submission %d (%s): duplicate of %d, want %d", i+1, nrs[i].Request.Email, o.r.DuplicateOf, want)
		}
	}
	if n := transactions(t, ctx, s, ids); n != 1 {
		t.Errorf("12 concurrent submissions were committed in %d transactions, want 1", n)
	}
}

// One bad submission in a batch (its reference is taken) is refused as it
// would have been alone, and every other one of its batch is stored.
func TestABadSubmissionInABatchFailsAloneAndTheOthersAreStored(t *testing.T) {
	ctx := context.Background()
	s := New(testkit.DB(t), &intakeOutbox{}, testkit.Keys())
	taken, err := s.CreateRequest(ctx, batchSubmission(0, "first@example.kz"))
	if err != nil {
		t.Fatal(err)
	}
	var nrs []request.NewRequest
	for i := 1; i <= 8; i++ {
		nrs = append(nrs, batchSubmission(i, fmt.Sprintf("p%d@example.kz", i)))
	}
	bad := 4
	nrs[bad].Request.Reference = taken.Reference
	out := submitHeld(t, ctx, s, nrs)
	for i, o := range out {
		if i == bad {
			if !errors.Is(o.err, request.ErrReferenceTaken) {
				t.Errorf("the submission with a taken reference: %v, want ErrReferenceTaken", o.err)
			}
			continue
		}
		if o.err != nil {
			t.Errorf("submission %d, batched with a bad one: %v", i+1, o.err)
			continue
		}
		if got, want := rowsOf(t, ctx, s, o.r.ID), [6]int{1, 1, 1, 1, 2, 1}; got != want {
			t.Errorf("submission %d: rows %v, want %v", i+1, got, want)
		}
	}
	var requests, emails, jobs int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM emails), (SELECT count(*) FROM river_job)`).
		Scan(&requests, &emails, &jobs); err != nil {
		t.Fatal(err)
	}
	if requests != 8 || emails != 16 || jobs != 8 {
		t.Errorf("stored %d requests, %d emails, %d jobs; want 8, 16 and 8 (the first and the 7 good ones, nothing twice)", requests, emails, jobs)
	}
}

// A submission whose requester has gone while it waits in the queue is
// never written; the others of its batch are.
func TestASubmissionCancelledWhileQueuedIsNotStored(t *testing.T) {
	ctx := context.Background()
	s := New(testkit.DB(t), &intakeOutbox{}, testkit.Keys())
	release := holdIntake(s)
	gone, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() {
		_, err := s.CreateRequest(gone, batchSubmission(1, "gone@example.kz"))
		cancelled <- err
	}()
	waitQueued(t, s, 1)
	stayed := make(chan outcome, 1)
	go func() {
		r, err := s.CreateRequest(ctx, batchSubmission(2, "stayed@example.kz"))
		stayed <- outcome{r, err}
	}()
	waitQueued(t, s, 2)
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled submission: %v, want context.Canceled", err)
	}
	release()
	o := <-stayed
	if o.err != nil {
		t.Fatal(o.err)
	}
	var refs []string
	if err := s.pool.QueryRow(ctx, `SELECT array_agg(reference ORDER BY id) FROM requests`).Scan(&refs); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != "RD-BTCH-0002-AAAA" {
		t.Errorf("stored %v, want only the submission that stayed", refs)
	}
}

// The connection dies in the middle of a batch, after its first
// submission's statement and while the second's waits on a lock: nothing
// of either is stored, both are told so (an error, never a reference), and
// none is written again behind their backs; the next submission is stored.
func TestABatchWhoseConnectionDiesMidwayStoresNothing(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &intakeOutbox{}, testkit.Keys())
	first, second := batchSubmission(1, "one@example.kz"), batchSubmission(2, "two@example.kz")
	second.IdempotencyKeyHash, second.BodyHash = []byte("held-key"), []byte("body")
	// Another submission with the same key, not committed yet: the second
	// statement of the batch waits for it on the key's index.
	blocker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback(ctx) }()
	held := batchSubmission(9, "held@example.kz")
	held.IdempotencyKeyHash, held.BodyHash = second.IdempotencyKeyHash, second.BodyHash
	if _, err := s.insertRequest(ctx, blocker, held); err != nil {
		t.Fatal(err)
	}
	out := make(chan error, 2)
	release := holdIntake(s)
	for i, nr := range []request.NewRequest{first, second} {
		go func() {
			_, err := s.CreateRequest(ctx, nr)
			out <- err
		}()
		waitQueued(t, s, i+1)
	}
	release()
	var pid int
	for {
		err := pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%WITH acknowledged%'`).Scan(&pid)
		if err == nil {
			break
		}
		time.Sleep(time.Millisecond) // polls a condition: no deadline depends on it
	}
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-out; err == nil {
			t.Error("a submission of the batch whose connection died was answered as stored")
		}
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM emails) + (SELECT count(*) FROM river_job)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows (requests, emails, jobs) stored by a batch whose connection died before its commit", n)
	}
	if _, err := s.CreateRequest(ctx, batchSubmission(3, "three@example.kz")); err != nil {
		t.Errorf("the next submission: %v", err)
	}
}
