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
