package poller

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGLock is a PostgreSQL session advisory lock held on a connection of its
// own for as long as this instance polls. Why an advisory lock rather than
// River's periodic job: the poller keeps one IMAP session open across polls
// and must never run twice at once, while a periodic job is a fresh job per
// tick, timed out and retried by River, that would log in every tick; and a
// session lock is released by PostgreSQL the moment the holder's connection
// ends (a crash, a partition), so another instance takes over at its next
// check, with no lease to expire.
//
// The connection is taken out of the pool (hijacked), so it never counts
// against the pool's size. When it breaks — the database restarted or is
// unreachable — the lock is lost, TryAcquire says so and the poller stops
// polling until it can take the lock again: while the database is down no
// letter could be stored anyway.
type PGLock struct {
	pool *pgxpool.Pool
	key  int64

	mu   sync.Mutex
	conn *pgx.Conn
}

// NewPGLock returns a lock for one mailbox (LockKey) on the pool's database.
func NewPGLock(pool *pgxpool.Pool, key int64) *PGLock {
	return &PGLock{pool: pool, key: key}
}

// LockKey is the advisory lock key of a mailbox: a hash of its server, user
// and folder, so that instances polling different mailboxes never wait for
// each other.
func LockKey(m Mailbox) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "rightsdesk.inbound.imap\x00%s\x00%s\x00%s", strings.ToLower(m.Addr), strings.ToLower(m.Username), m.Mailbox)
	return int64(h.Sum64()) // #nosec G115 -- a hash: any int64 is a valid key
}

// TryAcquire takes the lock, or checks that the connection holding it is
// still alive.
func (l *PGLock) TryAcquire(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if l.conn != nil {
		// The lock lives as long as its session: a session that still
		// answers still holds it.
		if err := l.conn.Ping(ctx); err == nil {
			return true, nil
		}
		l.dropLocked()
	}
	pc, err := l.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("poller lock: %w", err)
	}
	conn := pc.Hijack()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
		_ = conn.Close(ctx) // the query error is the one to report
		return false, fmt.Errorf("poller lock: %w", err)
	}
	if !got {
		_ = conn.Close(ctx) // another instance polls; nothing held here
		return false, nil
	}
	l.conn = conn
	return true, nil
}

// Release gives the lock up (closing its session releases it too).
func (l *PGLock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	_, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.key)
	l.dropLocked()
	if err != nil {
		return fmt.Errorf("poller lock: release: %w", err)
	}
	return nil
}

func (l *PGLock) dropLocked() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx) // the session ends with it, and so does the lock
	l.conn = nil
}
