package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Instances: every running instance holds a PostgreSQL advisory lock named
// by its River client id, on a connection of its own, for as long as it
// runs. PostgreSQL drops a session's locks the moment the session ends: when
// the process dies its socket closes and the server ends the session at
// once; when the machine vanishes, the TCP keepalives set on that session
// give up on it in about 25 seconds. So a job left 'running' by an instance
// whose lock nobody holds belongs to an instance that is gone, and can be
// run again at once, while a job of a live instance, however slow, is never
// touched. River's own rescuer (RescueStuckJobsAfter) stays behind this as
// the last resort. docs/operations.md explains the choice.

// instanceLockSpace is the first key of every instance lock (the two-key
// form, which never collides with the one-key locks of migrations); the
// second is hashtext of the client id.
const instanceLockSpace = 0x72646931 // "rdi1"

// InstanceLock is the lock an instance holds while it runs.
type InstanceLock struct {
	store *Store
	id    string

	mu   sync.Mutex
	conn *pgx.Conn // nil while the lock is lost
}

// ErrInstanceLockHeld means another session holds this instance's lock: a
// session of this very instance that the server has not yet seen end.
var ErrInstanceLockHeld = errors.New("instance lock held by another session")

// LockInstance takes the lock of the instance with River client id id, on a
// connection of its own, and keeps it until Release.
func (s *Store) LockInstance(ctx context.Context, id string) (*InstanceLock, error) {
	l := &InstanceLock{store: s, id: id}
	if err := l.Check(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Check makes sure the lock is still held: it pings its connection and,
// when that connection was lost (a PostgreSQL restart, a network cut),
// connects again and takes the lock again.
func (l *InstanceLock) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		if err := l.conn.Ping(ctx); err == nil {
			return nil
		}
		_ = l.conn.Close(ctx) // the connection is gone already
		l.conn = nil
	}
	conn, err := pgx.ConnectConfig(ctx, l.store.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("instance lock: connect: %w", err)
	}
	// The session must outlive idleness, and must end soon after its
	// machine does: keepalives every 5 s after 10 s of silence, three
	// unanswered and the server drops it (no effect on a Unix socket, whose
	// peer can only die with the machine the server runs on).
	if _, err := conn.Exec(ctx, `
		SELECT set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),
			set_config('tcp_keepalives_count', '3', false),
			set_config('idle_in_transaction_session_timeout', '0', false),
			CASE WHEN current_setting('server_version_num')::int >= 140000
				THEN set_config('idle_session_timeout', '0', false) END`); err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("instance lock: session settings: %w", err)
	}
	var held bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, hashtext($2))`, instanceLockSpace, l.id).Scan(&held); err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("instance lock: %w", err)
	}
	if !held {
		_ = conn.Close(ctx)
		return ErrInstanceLockHeld
	}
	l.conn = conn
	return nil
}

// Release gives the lock up (at the end of a graceful shutdown, once no job
// of this instance runs any more).
func (l *InstanceLock) Release(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		// Unlocked before the session closes, so the lock is free when
		// Release returns; closing alone frees it once the server has seen
		// the session end, a moment later.
		_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1::int4, hashtext($2))`, instanceLockSpace, l.id)
		_ = l.conn.Close(ctx)
		l.conn = nil
	}
}

// instanceOfJob is the River client that took a job's current attempt.
const instanceOfJob = `attempted_by[cardinality(attempted_by)]`

// GoneInstances lists the instances, among those whose ids start with
// prefix, that have jobs 'running' but whose lock no session holds; self
// is never listed.
func (s *Store) GoneInstances(ctx context.Context, prefix, self string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		WITH owners AS MATERIALIZED (
			SELECT DISTINCT `+instanceOfJob+` AS id FROM river_job
			WHERE state = 'running' AND cardinality(attempted_by) > 0
		)
		SELECT id FROM owners
		WHERE starts_with(id, $1) AND id <> $2
		  -- Taken for the length of this statement only: it succeeds
		  -- exactly when the instance's own session is gone.
		  AND pg_try_advisory_xact_lock($3::int4, hashtext(id))
		ORDER BY id`, prefix, self, instanceLockSpace)
	if err != nil {
		return nil, fmt.Errorf("find instances that are gone: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find instances that are gone: %w", err)
	}
	return ids, nil
}

// RescueJobsOf makes the running jobs of instances that are gone available
// again at once, as River's rescuer would after its timeout: an attempt
// error is recorded ("rescued"), a job whose cancellation was asked is
// cancelled, one out of attempts is discarded. The lock of each instance is
// checked again in the same statement, so an instance that came back in the
// meantime keeps its jobs. The workers are woken on River's insert channel.
// It returns how many jobs it made available.
func (s *Store) RescueJobsOf(ctx context.Context, instances []string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH gone AS MATERIALIZED (
			SELECT id FROM unnest($1::text[]) AS g(id)
			WHERE pg_try_advisory_xact_lock($2::int4, hashtext(id))
		), rescued AS (
			UPDATE river_job j SET
				state = (CASE
					WHEN j.metadata ? 'cancel_attempted_at' THEN 'cancelled'
					WHEN j.attempt >= j.max_attempts THEN 'discarded'
					ELSE 'available' END)::river_job_state,
				finalized_at = CASE WHEN j.metadata ? 'cancel_attempted_at' OR j.attempt >= j.max_attempts
					THEN now() END,
				scheduled_at = CASE WHEN j.metadata ? 'cancel_attempted_at' OR j.attempt >= j.max_attempts
					THEN j.scheduled_at ELSE now() END,
				errors = array_append(j.errors, jsonb_build_object('at', now(), 'attempt', greatest(j.attempt, 0),
					'error', 'rescued: the instance running this attempt is gone (its lock was free)', 'trace', '')),
				metadata = j.metadata || jsonb_build_object('river:rescue_count',
					coalesce(CASE WHEN jsonb_typeof(j.metadata -> 'river:rescue_count') = 'number'
						THEN (j.metadata ->> 'river:rescue_count')::int END, 0) + 1)
			FROM gone
			WHERE j.state = 'running' AND j.`+instanceOfJob+` = gone.id
			RETURNING j.queue, j.state
		), woken AS (
			SELECT pg_notify(current_schema() || '.river_insert', json_build_object('queue', queue)::text)
			FROM (SELECT DISTINCT queue FROM rescued WHERE state = 'available') q
		)
		SELECT (SELECT count(*) FROM rescued WHERE state = 'available') + 0 * (SELECT count(*) FROM woken)`,
		instances, instanceLockSpace).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("rescue the jobs of instances that are gone: %w", err)
	}
	return n, nil
}
