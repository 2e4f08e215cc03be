package apptest

import (
	"context"
	"testing"
	"time"
)

// SettleTimeout is how long Settle waits before it fails the test.
const SettleTimeout = 30 * time.Second

// settled counts, in one snapshot, what is still to happen: jobs that will
// run (again), and emails that no attempt has finished with. A job writes
// the jobs and emails it causes in its own transaction, before River marks
// it done, so a snapshot with none of either has nothing left to come.
const settled = `SELECT
	(SELECT count(*) FROM river_job WHERE state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))
	+ (SELECT count(*) FROM emails WHERE state = 'queued')`

// Settle waits until the instance's background work is done: no River job
// is left available, running or due to retry, and every email is recorded
// as sent or failed for good. What the SMTP server and webhook receivers
// have received is then all they will receive, so a test counts after
// Settle rather than after a pause "for a second copy": a duplicate would
// have had to arrive already. A test that stopped the SMTP server or
// paused delivery must not call it (the work stays pending).
func (in *Instance) Settle(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(SettleTimeout)
	for {
		var pending int
		if err := in.Pool.QueryRow(context.Background(), settled).Scan(&pending); err != nil {
			tb.Fatalf("settle: %v", err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the instance did not settle in %v: %d jobs and queued emails left\n%s", SettleTimeout, pending, in.pendingWork(tb))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pendingWork lists what Settle still waits for, for the failure message.
func (in *Instance) pendingWork(tb testing.TB) string {
	tb.Helper()
	rows, err := in.Pool.Query(context.Background(), `
		SELECT 'job ' || kind || ' ' || state || ' attempt ' || attempt FROM river_job
		WHERE state IN ('available', 'pending', 'running', 'retryable', 'scheduled')
		UNION ALL
		SELECT 'email ' || id || ' ' || kind || ' queued, ' || attempts || ' attempts' FROM emails WHERE state = 'queued'`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err.Error()
		}
		out += line + "\n"
	}
	return out
}

// RequestState is everything an action could change about a request, read
// once the instance has settled (delivery records events of its own): its
// status, assignee, due date and extensions, and how many events, emails,
// messages, notes and files it has. Two equal states around a refused
// action show it changed nothing. Response drafts are left out: a preview
// keeps one, and changes nothing else.
func (in *Instance) RequestState(tb testing.TB, reference string) string {
	tb.Helper()
	in.Settle(tb)
	var s string
	err := in.Pool.QueryRow(context.Background(), `
		SELECT r.status || '|' || coalesce(r.assignee_id, 0) || '|' || r.due_at || '|' || r.extensions
			|| '|' || (SELECT count(*) FROM events WHERE request_id = r.id)
			|| '|' || (SELECT count(*) FROM emails WHERE request_id = r.id)
			|| '|' || (SELECT count(*) FROM messages WHERE request_id = r.id)
			|| '|' || (SELECT count(*) FROM notes WHERE request_id = r.id)
			|| '|' || (SELECT count(*) FROM files WHERE request_id = r.id)
		FROM requests r WHERE r.reference = $1`, reference).Scan(&s)
	if err != nil {
		tb.Fatalf("state of %s: %v", reference, err)
	}
	return s
}
