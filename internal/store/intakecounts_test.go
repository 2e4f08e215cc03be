package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/opscope"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// The intake's requests are counted by the triggers on requests (their
// search terms, dashboard month and tab count; 00039, 00040, 00070) exactly
// however they arrive. Submitted at once through two
// Stores (two instances, each committing its submissions in batches), for
// two operators, with addresses repeated (possible duplicates), with
// submissions refused by the acknowledgement limit (nothing written, nothing
// counted) and with plain inserts of other code in between (counted by the
// same triggers), every maintained figure equals the figure computed from the
// rows; and again after the requests have changed (confirmed, assigned,
// closed, their search terms rewritten, a type changed) and after a
// deletion.
func TestTheIntakeCountsItsOwnRequestsExactlyThroughTwoStoresAtOnce(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	first := New(pool, &intakeOutbox{}, testkit.Keys())
	second := New(pool, &intakeOutbox{}, testkit.Keys()) // another instance
	agent, err := testkit.AddStaff(ctx, pool, "Ерлан", "erlan@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := first.RecordOperators(ctx, []string{"op2"})
	if err != nil {
		t.Fatal(err)
	}
	ops := []int64{1, recorded["op2"]}
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Add(time.Hour)

	check := func(after string) {
		t.Helper()
		if diff := tallyDiff(ctx, pool); diff != "" {
			t.Errorf("after %s: queue_tally differs from the requests: %s", after, diff)
		}
		for _, op := range ops {
			s := first.For(op)
			for _, year := range []int{2025, 2026} {
				got, err := s.Dashboard(ctx, now, almaty, year)
				if err != nil {
					t.Fatal(err)
				}
				want, err := dashboardOverRows(ctx, s, now, almaty, year)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("after %s, operator %d, year %d:\n rollups %+v\n rows    %+v", after, op, year, got, want)
				}
			}
			// Every request has its terms, as they are on the request, and
			// nothing else has any.
			var wrong, total int
			err := pool.QueryRow(opscope.With(ctx, op), `SELECT count(*) FILTER (WHERE r.id IS NULL OR s.request_id IS NULL
					OR s.search_index IS DISTINCT FROM r.search_index OR s.operator_id <> r.operator_id), count(*)
				FROM requests r FULL JOIN (SELECT * FROM request_search WHERE operator_id = $1) s ON s.request_id = r.id`, op).Scan(&wrong, &total)
			if err != nil {
				t.Fatal(err)
			}
			if wrong != 0 {
				t.Errorf("after %s, operator %d: %d of %d requests' search terms differ from request_search", after, op, wrong, total)
			}
		}
	}
	check("nothing")

	types := []request.Type{request.Access, request.Erasure, request.Objection, request.Rectification}
	var (
		mu      sync.Mutex
		stored  []int64
		refused int
	)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for si, s := range []*Store{first, second} {
		for w := range 6 {
			wg.Go(func() {
				for i := range 10 {
					op := ops[(w+i)%2]
					octx := opscope.With(ctx, op)
					if i == 5 { // other code's insert, counted by the triggers
						if _, err := testkit.AddRequest(octx, pool, testkit.Req{Type: request.Erasure, ReceivedAt: now.AddDate(0, 0, -40)}); err != nil {
							errs <- err
						}
						continue
					}
					n := si*1000 + w*100 + i
					// Three addresses per worker: repeated, so possible duplicates.
					nr := newIntakeRequest(fmt.Sprintf("RD-CNT%04d-AAAA-BBBB", n), fmt.Sprintf("w%d-%d-%d@example.kz", si, w, i%3))
					nr.Request.Type = types[(w+i)%len(types)]
					nr.Request.ReceivedAt = now.AddDate(0, -i%3, 0) // February, January and March
					nr.StatusTokenHash, nr.ConfirmTokenHash = fmt.Appendf(nil, "s%d", n), fmt.Appendf(nil, "c%d", n)
					if w == 0 { // one address, one a day: the later ones are refused
						nr.Request.Email = fmt.Sprintf("limited-%d@example.kz", si)
						nr.AcknowledgementDay, nr.AcknowledgementLimit = "2026-03-02", 1
					}
					r, err := s.CreateRequest(octx, nr)
					mu.Lock()
					switch {
					case errors.Is(err, request.ErrAcknowledgementLimit):
						refused++
					case err != nil:
						errs <- fmt.Errorf("submission %d: %w", n, err)
					default:
						stored = append(stored, r.ID)
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(stored) != 2*6*9-refused || refused == 0 {
		t.Fatalf("%d stored and %d refused, want the limited address refused after its first", len(stored), refused)
	}
	check("concurrent intakes through two stores")

	// Changes after the intake (its requests are RD-CNT…): the triggers on UPDATE count them.
	for _, op := range ops {
		if _, err := pool.Exec(opscope.With(ctx, op), `UPDATE requests SET status = 'new', confirmed_at = $1,
				assignee_id = CASE WHEN id % 4 = 1 THEN $2::bigint END
			WHERE id IN (SELECT id FROM requests WHERE reference LIKE 'RD-CNT%' AND status = 'unverified' ORDER BY id FOR UPDATE)`, now, agent); err != nil {
			t.Fatal(err)
		}
	}
	check("confirmations and assignments")
	for _, op := range ops {
		octx := opscope.With(ctx, op)
		if _, err := pool.Exec(octx, `UPDATE requests SET status = 'completed', closed_at = $1
			WHERE id IN (SELECT id FROM requests WHERE reference LIKE 'RD-CNT%' AND id % 3 = 0 ORDER BY id FOR UPDATE)`, now); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(octx, `UPDATE requests SET type = 'portability', search_index = search_index[1:2]
			WHERE id IN (SELECT id FROM requests WHERE reference LIKE 'RD-CNT%' AND id % 3 = 1 ORDER BY id FOR UPDATE)`); err != nil {
			t.Fatal(err)
		}
		// A request with nothing depending on it yet (other code's): deleted.
		if _, err := pool.Exec(octx, `DELETE FROM requests WHERE id = (SELECT min(id) FROM requests WHERE reference NOT LIKE 'RD-CNT%')`); err != nil {
			t.Fatal(err)
		}
	}
	check("closings, rewritten terms, changed types and a deletion")
}
