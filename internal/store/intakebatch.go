package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Group commit of the intake (issue 16). A submission is bound by the WAL
// flush at its commit (about 2 ms of fdatasync on the machine measured, for
// 0.2 ms of work), so concurrent submissions are committed together: each
// waits in its scope's queue, and as soon as fewer than intakeInFlight
// batches are being committed, everything queued (up to intakeBatchMax) is
// sent as one pipeline of intake statements on one connection, one implicit
// transaction ended by one Sync: one commit, one flush, for all of them.
// Nobody waits for a timer: a submission arriving while the database is
// idle goes at once, alone; the batches grow only while earlier ones are
// being committed, which is the time each submission would have waited for
// a connection anyway.
//
// Every submission is answered only after the commit that holds it (Close
// of the batch's results, which reads the Sync's answer). A submission the
// database refuses (a reference taken, an idempotency key another
// submission has just used, a deadlock) rolls the whole batch back, as any
// error in a transaction does; then nothing of it was stored, and each of
// its submissions is run again alone, on its own connection and context,
// through exactly the path a submission took before batching, so that the
// bad one fails as it would have, alone, and the others are stored. An
// error that is not the database's answer (a broken connection, a timeout)
// leaves the commit's outcome unknown: it is returned to every submission
// of the batch, as it was to the one submission before, and none is run
// again (which could store it twice).
//
// A submission whose context ends while it is still queued is taken out
// and never written; once its batch has been sent, it waits for the
// outcome (the batch runs under a context of its own, bounded by
// intakeBatchTimeout), so that it is never answered "failed" for a request
// that was stored. Nothing runs in the background between batches: the
// goroutine that sends them lives only while submissions are queued, so a
// server that stops taking requests and waits for its handlers has drained
// every queue.
const (
	intakeBatchMax     = 32
	intakeInFlight     = 2
	intakeBatchTimeout = 30 * time.Second
)

// intakeBatcher is the queues of one store (and of the stores For returns
// from it): one per operator scope, since a batch runs on one connection
// under one scope.
type intakeBatcher struct {
	slots chan struct{} // a token per batch being committed

	mu     sync.Mutex
	queues map[int64]*intakeQueue
}

type intakeQueue struct {
	items   []*intakeItem
	running bool // a sender is taking batches off this queue
}

// intakeItem is one submission waiting for its commit.
type intakeItem struct {
	ctx   context.Context
	query string
	args  []any
	state atomic.Int32 // itemQueued, itemTaken or itemCancelled
	done  chan struct{}

	// Set before done is closed.
	id, duplicateOf int64
	woken           int
	err             error
	alone           bool // the batch was rolled back: run it again alone
}

const (
	itemQueued int32 = iota
	itemTaken
	itemCancelled
)

func newIntakeBatcher() *intakeBatcher {
	return &intakeBatcher{slots: make(chan struct{}, intakeInFlight), queues: map[int64]*intakeQueue{}}
}

// noScope keys the queue of submissions whose context names no operator.
const noScope = -1

// intakeRunner runs batches: the pool, scoped as the store's is.
type intakeRunner interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// commit stores one submission in the next batch of its scope's queue and
// returns its row, once committed: the request's id, the possible
// duplicate it points at and whether it woke the workers. pgx.ErrNoRows
// when the statement wrote nothing (the acknowledgement limit), as
// QueryRow's Scan would say.
func (b *intakeBatcher) commit(ctx context.Context, pool intakeRunner, scope int64, query string, args []any) (id, duplicateOf int64, woken int, err error) {
	it := &intakeItem{ctx: ctx, query: query, args: args, done: make(chan struct{})}
	b.mu.Lock()
	q := b.queues[scope]
	if q == nil {
		q = &intakeQueue{}
		b.queues[scope] = q
	}
	q.items = append(q.items, it)
	start := !q.running
	q.running = true
	b.mu.Unlock()
	if start {
		go b.send(pool, scope)
	}
	select {
	case <-it.done:
	case <-ctx.Done():
		if it.state.CompareAndSwap(itemQueued, itemCancelled) {
			return 0, 0, 0, fmt.Errorf("store request: %w", ctx.Err())
		}
		<-it.done // sent already: its outcome is the answer
	}
	if it.alone {
		err = pool.QueryRow(ctx, query, args...).Scan(&it.id, &it.duplicateOf, &it.woken)
		return it.id, it.duplicateOf, it.woken, err
	}
	return it.id, it.duplicateOf, it.woken, it.err
}

// send takes batches off scope's queue while it has submissions, each
// when a slot is free, and commits each in a goroutine of its own.
func (b *intakeBatcher) send(pool intakeRunner, scope int64) {
	for {
		b.slots <- struct{}{}
		b.mu.Lock()
		q := b.queues[scope]
		var batch []*intakeItem
		n := 0
		for n < len(q.items) && len(batch) < intakeBatchMax {
			it := q.items[n]
			n++
			if it.state.CompareAndSwap(itemQueued, itemTaken) {
				batch = append(batch, it)
			}
		}
		q.items = append(q.items[:0], q.items[n:]...)
		if len(batch) == 0 {
			q.running = false
			delete(b.queues, scope)
			b.mu.Unlock()
			<-b.slots
			return
		}
		b.mu.Unlock()
		go func() {
			defer func() { <-b.slots }()
			runIntakeBatch(pool, batch)
		}()
	}
}

// runIntakeBatch commits batch in one transaction and answers each of its
// submissions.
func runIntakeBatch(pool intakeRunner, batch []*intakeItem) {
	// The batch's scope is its submissions' (one queue, one scope); it
	// must not end with the first submission's request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), intakeBatchTimeout)
	defer cancel()
	defer func() {
		for _, it := range batch {
			close(it.done)
		}
	}()
	if len(batch) == 1 {
		it := batch[0]
		it.err = pool.QueryRow(ctx, it.query, it.args...).Scan(&it.id, &it.duplicateOf, &it.woken)
		return
	}
	var pb pgx.Batch
	for _, it := range batch {
		pb.Queue(it.query, it.args...)
	}
	results := pool.SendBatch(ctx, &pb)
	var first error
	for _, it := range batch {
		it.err = results.QueryRow().Scan(&it.id, &it.duplicateOf, &it.woken)
		if it.err != nil && !errors.Is(it.err, pgx.ErrNoRows) && first == nil {
			first = it.err
		}
	}
	// Close reads the answer to the Sync: the commit.
	if err := results.Close(); err != nil && first == nil {
		first = err
	}
	if first == nil {
		return
	}
	// An ERROR leaves the session alive past the Sync, which rolled the
	// transaction back; FATAL or PANIC (the server ending the connection)
	// and errors of the connection itself may come after the commit.
	var pgErr *pgconn.PgError
	rolledBack := errors.As(first, &pgErr) && pgErr.Severity == "ERROR"
	for _, it := range batch {
		if rolledBack {
			it.alone, it.err = true, nil
		} else {
			it.err = first
		}
	}
}
