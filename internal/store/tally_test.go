package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/opscope"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// The tab counts read queue_tally (migration 00070), which triggers keep as
// requests change. After every kind of change (intake, confirmation,
// assignment, transitions, a type changed, closing, a purge, a deletion, a
// batch, another operator's requests, and random changes from several
// connections at once), the tally equals a count of the requests, operator by
// operator, and each tab's count under each filter equals the live count of
// what that tab lists (QueueCount, which never reads the tally).
func TestQueueTallyMatchesTheRequestsThroughEveryChange(t *testing.T) {
	d := newChangeDesk(t)
	ctx, pool, reader, writer, agent, now := d.ctx, d.pool, d.reader, d.writer, d.agent, d.now
	other, err := testkit.AddStaff(ctx, pool, "Айгерим", "aigerim@example.kz")
	if err != nil {
		t.Fatal(err)
	}

	filters := map[string]QueueFilter{
		"none":           {},
		"erasure":        {Types: []request.Type{request.Erasure}},
		"access, object": {Types: []request.Type{request.Access, request.Objection}},
		"assignee":       {AssigneeID: agent},
		"unassigned":     {Unassigned: true},
		"nobody, access": {Unassigned: true, Types: []request.Type{request.Access}},
		"in progress":    {Statuses: []request.Status{request.InProgress}},
		"closed ones":    {Statuses: []request.Status{request.Completed, request.Rejected}},
	}
	check := func(after string, stores ...*Store) {
		t.Helper()
		if diff := tallyDiff(ctx, pool); diff != "" {
			t.Errorf("after %s: queue_tally differs from the requests: %s", after, diff)
		}
		if len(stores) == 0 {
			stores = []*Store{reader}
		}
		for _, s := range stores {
			for name, f := range filters {
				f.Now, f.StaffID = now, agent
				counts, err := s.QueueCounts(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, tab := range Tabs() {
					f.Tab = tab
					live, err := s.QueueCount(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if counts[tab] != live {
						t.Errorf("after %s, operator %d, filter %s: the %s tab counts %d, live %d", after, s.Operator(), name, tab, counts[tab], live)
					}
				}
			}
		}
	}
	check("nothing")

	var added []int64
	for _, r := range []testkit.Req{
		{Type: request.Access, Status: request.Completed, ReceivedAt: now.AddDate(0, -2, 0), ClosedAt: now.AddDate(0, -1, 0), AssigneeID: agent},
		{Type: request.Erasure, Status: request.Rejected, ReceivedAt: now.AddDate(0, -2, 0), ClosedAt: now.AddDate(0, -1, 0)},
		{Type: request.Access, Status: request.InProgress, ReceivedAt: now.AddDate(0, 0, -40), AssigneeID: other},
		{Type: request.Objection, Status: request.New, ReceivedAt: now.AddDate(0, 0, -3)},
		{Type: request.Access, Status: request.AwaitingRequester, ReceivedAt: now.AddDate(0, 0, -10), AssigneeID: agent},
	} {
		id, err := testkit.AddRequest(ctx, pool, r)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, id)
	}
	check("requests added as they stand")

	d.check = func(after string) { check(after) }
	ids := d.intake("TLY", request.Erasure, request.Erasure, request.Access, request.Objection)
	check("intake")

	change := d.change
	for _, id := range ids {
		change("confirmation", id, func(_ request.Request, ch *request.Change) { ch.To, ch.ConfirmedAt = request.New, now })
	}
	change("assignment", ids[0], func(_ request.Request, ch *request.Change) { ch.Assign = &agent })
	change("assignment to another", ids[2], func(_ request.Request, ch *request.Change) { ch.Assign = &other })
	change("reassignment", ids[2], func(_ request.Request, ch *request.Change) { ch.Assign = &agent })
	change("work", ids[0], func(_ request.Request, ch *request.Change) { ch.To = request.InProgress })
	change("waiting for the requester", ids[1], func(_ request.Request, ch *request.Change) { ch.To = request.AwaitingRequester })
	nobody := int64(0)
	change("unassignment", ids[2], func(_ request.Request, ch *request.Change) { ch.Assign = &nobody })
	change("the requester's answer", ids[1], func(_ request.Request, ch *request.Change) { ch.To = request.InProgress })
	change("completion", ids[0], func(_ request.Request, ch *request.Change) { ch.To = request.Completed })
	change("rejection", ids[3], func(_ request.Request, ch *request.Change) {
		ch.To, ch.OutcomeReason = request.Rejected, "manifestly_unfounded"
	})
	// Statements of any code count, not only the store's own.
	if _, err := pool.Exec(ctx, `UPDATE requests SET type = 'erasure' WHERE id = $1`, added[3]); err != nil {
		t.Fatal(err)
	}
	check("a type changed")
	if _, err := writer.PurgePersonalData(ctx, now.Add(time.Minute), now, 100); err != nil {
		t.Fatal(err)
	}
	check("purging the closed requests' personal data")
	if _, err := pool.Exec(ctx, `DELETE FROM requests WHERE id = $1`, added[3]); err != nil {
		t.Fatal(err)
	}
	check("a deletion")
	if _, err := pool.Exec(ctx, `UPDATE requests SET assignee_id = $1 WHERE closed_at IS NULL`, other); err != nil {
		t.Fatal(err)
	}
	check("a batch of assignments")

	// A second operator: its requests are its own tally's, and neither
	// operator's counts see the other's.
	recorded, err := reader.RecordOperators(ctx, []string{"op2"})
	if err != nil {
		t.Fatal(err)
	}
	op2 := recorded["op2"]
	scoped := opscope.With(ctx, op2)
	for _, r := range []testkit.Req{
		{Type: request.Access, Status: request.New, ReceivedAt: now.AddDate(0, 0, -3)},
		{Type: request.Access, Status: request.New, ReceivedAt: now.AddDate(0, 0, -2)},
		{Type: request.Erasure, Status: request.Completed, ReceivedAt: now.AddDate(0, -2, 0), ClosedAt: now.AddDate(0, -1, 0)},
	} {
		if _, err := testkit.AddRequest(scoped, pool, r); err != nil {
			t.Fatal(err)
		}
	}
	check("another operator's requests", reader.For(1), reader.For(op2))
	if c, err := reader.For(op2).QueueCounts(ctx, QueueFilter{Now: now}); err != nil || c[TabOpen] != 2 || c[TabClosed] != 1 {
		t.Fatalf("the second operator's counts: %v %v, want its 2 open and 1 closed", c, err)
	}

	// Random changes from several connections at once, one statement or a
	// batch at a time (a batch locks its requests in id order, as two
	// batches over the same requests otherwise deadlock on the requests
	// themselves, tally or not): the tally takes its buckets in key order and spreads
	// the intake's over slots, so none of them may fail (no deadlock) and
	// the sums stay exact.
	// With two operators, a connection must name its own (row-level security).
	op1 := opscope.With(ctx, 1)
	statuses := []string{"new", "in_progress", "awaiting_requester", "completed", "rejected"}
	types := []string{"access", "erasure", "objection"}
	for range 30 {
		if _, err := testkit.AddRequest(op1, pool, testkit.Req{Type: request.Access, ReceivedAt: now.AddDate(0, 0, -5)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 16))
			for range 25 {
				st := statuses[rng.IntN(len(statuses))]
				assignee := []any{nil, agent, other}[rng.IntN(3)]
				var err error
				switch rng.IntN(4) {
				case 0: // one request
					_, err = pool.Exec(op1, `UPDATE requests SET status = $1, assignee_id = $2, type = $3,
						closed_at = CASE WHEN $1 IN ('completed', 'rejected') THEN coalesce(closed_at, $4) END
						WHERE id = (SELECT id FROM requests ORDER BY random() LIMIT 1)`, st, assignee, types[rng.IntN(len(types))], now)
				case 1: // a batch
					_, err = pool.Exec(op1, `UPDATE requests SET status = $1, assignee_id = $2,
						closed_at = CASE WHEN $1 IN ('completed', 'rejected') THEN coalesce(closed_at, $3) END
						WHERE id IN (SELECT id FROM requests WHERE id % 3 = $4 ORDER BY id FOR UPDATE)`, st, assignee, now, rng.IntN(3))
				case 2: // an intake
					_, err = testkit.AddRequest(op1, pool, testkit.Req{Type: request.Objection, ReceivedAt: now.AddDate(0, 0, -1)})
				default: // a deletion, and a request to take its place
					_, err = pool.Exec(op1, `DELETE FROM requests WHERE id = (SELECT r.id FROM requests r WHERE r.operator_id = 1
						AND NOT EXISTS (SELECT 1 FROM events e WHERE e.request_id = r.id) ORDER BY random() LIMIT 1)`)
					if err == nil {
						_, err = testkit.AddRequest(op1, pool, testkit.Req{Type: request.Erasure, ReceivedAt: now.AddDate(0, 0, -1), AssigneeID: agent})
					}
				}
				if err != nil {
					var pe *pgconn.PgError
					if errors.As(err, &pe) {
						err = fmt.Errorf("%w: %s; %s", err, pe.Detail, pe.Where)
					}
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a concurrent change: %v", err)
	}
	check("random changes from 8 connections at once", reader.For(1), reader.For(op2))
}

// tallyDiff compares queue_tally with a count of the requests, bucket by
// bucket, for every operator (each read in its own scope, through the
// policies); "" when they agree.
func tallyDiff(ctx context.Context, pool *pgxpool.Pool) string {
	var ops []int64
	rows, err := pool.Query(ctx, `SELECT id FROM operators ORDER BY id`)
	if err != nil {
		return err.Error()
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err.Error()
		}
		ops = append(ops, id)
	}
	if rows.Err() != nil {
		return rows.Err().Error()
	}
	read := func(ctx context.Context, query string) (map[string]int64, error) {
		out := map[string]int64{}
		rows, err := pool.Query(ctx, query)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var op, assignee, n int64
			var status, typ string
			if err := rows.Scan(&op, &status, &typ, &assignee, &n); err != nil {
				return nil, err
			}
			out[fmt.Sprintf("%d/%s/%s/%d", op, status, typ, assignee)] = n
		}
		return out, rows.Err()
	}
	for _, op := range ops {
		scoped := opscope.With(ctx, op)
		tally, err := read(scoped, `SELECT operator_id, status, type, assignee, sum(n)::bigint FROM queue_tally
			GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0`)
		if err != nil {
			return err.Error()
		}
		counted, err := read(scoped, `SELECT operator_id, status, type, coalesce(assignee_id, 0), count(*) FROM requests
			GROUP BY 1, 2, 3, 4`)
		if err != nil {
			return err.Error()
		}
		if !reflect.DeepEqual(tally, counted) {
			return fmt.Sprintf("operator %d: tally %v, requests %v", op, tally, counted)
		}
	}
	return ""
}
