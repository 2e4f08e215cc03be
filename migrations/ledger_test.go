package migrations_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/reminder"
	"rightsdesk/internal/testkit"
	"rightsdesk/migrations"
)

// TestTheLedgerKeepsEachRequestsMostUrgentKey: 00090 turns the reminder
// ledger's row per key into each request's most urgent row, with the
// urgency reminder.Urgency gives it, and its Down brings back the row per
// key, the passed thresholds included.
func TestTheLedgerKeepsEachRequestsMostUrgentKey(t *testing.T) {
	ctx := context.Background()
	pool := testkit.EmptyDB(t)
	logger := slog.New(slog.DiscardHandler)
	if err := migrations.UpTo(ctx, pool, logger, testkit.Keys(), 80); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	ids := make([]int64, 4)
	for i := range ids {
		id, err := testkit.AddRequest(ctx, pool, testkit.Req{ReceivedAt: at.AddDate(0, 0, -20), DueAt: at.AddDate(0, 0, 2)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	before := map[int64][]string{
		ids[0]: {"3d", "7d"},
		ids[1]: {"1d", "3d", "7d", "overdue:2026-03-02", "overdue:2026-03-03"},
		ids[2]: {"7d"},
		ids[3]: {"14d"}, // a threshold of another list (REMINDER_THRESHOLDS changed since)
	}
	for id, keys := range before {
		for i, k := range keys {
			if _, err := pool.Exec(ctx, `INSERT INTO reminders (request_id, threshold, reminded_at) VALUES ($1, $2, $3)`,
				id, k, at.Add(time.Duration(i)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every key sent has its "reminded" event; 1d is then no request's most
	// urgent key, and the downgrade still knows it was a threshold.
	if _, err := pool.Exec(ctx, `INSERT INTO events (request_id, kind, actor, data, created_at)
		VALUES ($1, 'reminded', 'system', '{"threshold": "1d"}', $2)`, ids[1], at); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, pool, logger, testkit.Keys()); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{ids[0]: "3d", ids[1]: "overdue:2026-03-03", ids[2]: "7d", ids[3]: "14d"}
	rows, err := pool.Query(ctx, `SELECT request_id, threshold, urgency, reminded_at FROM reminders ORDER BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id int64
		var key string
		var urgency int
		var when time.Time
		if err := rows.Scan(&id, &key, &urgency, &when); err != nil {
			t.Fatal(err)
		}
		n++
		u, err := reminder.Urgency(key)
		if err != nil || key != want[id] || urgency != u || !when.Equal(at.Add(time.Duration(slices.Index(before[id], key))*time.Hour)) {
			t.Errorf("request %d: %s (urgency %d) at %s; want %s (urgency %d, %v), at the time it was sent", id, key, urgency, when, want[id], u, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("%d ledger rows, want one per request (%d)", n, len(want))
	}

	if err := migrations.DownTo(ctx, pool, 80); err != nil {
		t.Fatal(err)
	}
	// Back to a row per key: the passed thresholds are those of more days
	// among every threshold the ledger or the events name (14, 7, 3, 1).
	after := map[int64][]string{
		ids[0]: {"14d", "3d", "7d"},
		ids[1]: {"14d", "1d", "3d", "7d", "overdue:2026-03-03"},
		ids[2]: {"14d", "7d"},
		ids[3]: {"14d"},
	}
	for id, keys := range after {
		var got []string
		rows, err := pool.Query(ctx, `SELECT threshold FROM reminders WHERE request_id = $1 ORDER BY threshold`, id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != strings.Join(keys, " ") {
			t.Errorf("request %d after the downgrade: %v, want %v", id, got, keys)
		}
	}
	if err := migrations.Up(ctx, pool, logger, testkit.Keys()); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
