package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/jobs"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/reminder"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
	"rightsdesk/web"
)

// BenchmarkReminderSweep times one reminder sweep over RIGHTSDESK_BENCH_ROWS
// requests (a million unless set), of which about one in a hundred (10,000
// at a million) is in a threshold or overdue:
//
//	go run ./tools/withpg -- go test ./internal/store/ -run '^$' -bench ReminderSweep -benchtime 10x -v
//
// A sweep is the whole of jobs.ReminderSweep.Run: the selection, the
// decision per request, and per recipient one transaction that claims the
// ledger rows, renders the digest, records it with its River delivery job
// and logs an event per request. Before each sweep the ledger is emptied
// (untimed), so every sweep sends every reminder again. Each iteration also
// runs the selection as bare SQL, alternating which goes first, and the
// benchmark reports sweep/raw: what the decision and the writes cost on top
// of reading the candidates. The bare selection runs as the store runs it,
// in a transaction with JIT off (store.ReminderCandidates).
// RIGHTSDESK_BENCH_EXPLAIN=1 logs the selection's plan. See docs/benchmarks.md.
func BenchmarkReminderSweep(b *testing.B) {
	ctx := context.Background()
	n := testkit.BenchRows(b)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, almaty)
	pool := testkit.DB(b)
	start := time.Now()
	if _, err := testkit.SeedRequests(ctx, pool, n, testkit.SeedOptions{Now: now, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	seeded := time.Since(start)

	// The seed spreads open due dates over five weeks around now. One UPDATE
	// keeps one confirmed open request in every `step` in the window (from
	// three days overdue to seven days ahead) and moves the rest beyond it,
	// so that ~1% of all requests are owed a reminder.
	var open int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM requests r WHERE `+store.RemindedStatuses).Scan(&open); err != nil {
		b.Fatal(err)
	}
	step := max(1, open/(n/100))
	if _, err := pool.Exec(ctx, `
		UPDATE requests SET due_at = CASE
			WHEN id % $2 = 0 THEN $1::timestamptz + ((id / $2) % 11 - 3) * interval '1 day'
			ELSE $1::timestamptz + interval '9 days' + (id % 30) * interval '1 day' END
		WHERE `+store.StatusIn("status", request.OpenStatuses()), now, step); err != nil {
		b.Fatalf("move due dates: %v", err)
	}
	// Autovacuum would have done this long before: the first pass prunes
	// what the UPDATE left behind, the second marks those pages all-visible,
	// which lets the selection read its index alone.
	for _, q := range []string{`VACUUM (ANALYZE) requests, staff, reminders`, `VACUUM requests`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatalf("vacuum: %v", err)
		}
	}

	catalog, err := web.Catalog()
	if err != nil {
		b.Fatal(err)
	}
	composer, err := mail.NewComposer(web.Files, catalog, almaty)
	if err != nil {
		b.Fatal(err)
	}
	outbox, err := jobs.NewOutbox(pool)
	if err != nil {
		b.Fatal(err)
	}
	policy := reminder.Policy{Thresholds: []int{7, 3, 1}, Location: almaty}
	sweep := &jobs.ReminderSweep{
		Store: store.New(pool, outbox, testkit.Keys()), Composer: composer, Policy: policy,
		Links:          request.Links{BaseURL: "https://privacy.example.kz"},
		PrivacyContact: "privacy@example.kz", StaffLocale: request.Russian, OrgName: "Онлайн-школа",
	}
	horizon := policy.Horizon(now)
	var candidates int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (`+store.ReminderCandidatesQuery+`) c`, horizon).Scan(&candidates); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d requests in %s; %d confirmed open, %d candidates for a reminder (one in %d moved into the window)",
		n, seeded.Round(time.Millisecond), open, candidates, step)
	if os.Getenv("RIGHTSDESK_BENCH_EXPLAIN") != "" {
		store.LogPlan(b, pool, "the reminder selection", store.ReminderCandidatesQuery, []any{horizon})
	}

	if os.Getenv("RIGHTSDESK_BENCH_EXPLAIN") != "" {
		// The claim of a digest's reminders (store.RecordReminders), for
		// 1,000 of the candidates: it must look each request up by its key.
		// (EXPLAIN runs with the server's JIT settings; the store turns JIT
		// off for the sweep's statements.)
		var ids []int64
		var keys []string
		var urgencies []int32
		rows, err := pool.Query(ctx, `SELECT id FROM (`+store.ReminderCandidatesQuery+`) c LIMIT 1000`, horizon)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
			keys = append(keys, "3d")
			urgencies = append(urgencies, -3)
		}
		rows.Close()
		store.LogPlan(b, pool, "claim", store.ReminderClaimQuery, []any{ids, keys, urgencies, now})
		if _, err := pool.Exec(ctx, `TRUNCATE reminders`); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("sweep", func(b *testing.B) {
		resetLedger := func() {
			if _, err := pool.Exec(ctx, `TRUNCATE reminders`); err != nil {
				b.Fatal(err)
			}
		}
		var sweepTime, rawTime time.Duration
		var items, digests int
		runSweep := func() {
			resetLedger()
			t0 := time.Now()
			sent, err := sweep.Run(ctx, now, false)
			sweepTime += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			digests, items = len(sent), 0
			for _, d := range sent {
				items += len(d.Reminders)
			}
		}
		runRaw := func() {
			resetLedger() // the selection as the sweep sees it: nothing sent yet
			// As the store runs it: in a transaction, JIT off.
			t0 := time.Now()
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, store.ReminderCandidatesQuery, horizon)
				if err != nil {
					return err
				}
				for rows.Next() {
				}
				rows.Close()
				return rows.Err()
			})
			rawTime += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
		}
		for i := range b.N {
			if i%2 == 0 {
				runRaw()
				runSweep()
			} else {
				runSweep()
				runRaw()
			}
		}
		b.StopTimer()
		if items != candidates {
			b.Errorf("a sweep sent %d reminders, want one per candidate (%d)", items, candidates)
		}
		b.ReportMetric(float64(sweepTime.Nanoseconds())/float64(b.N), "ns/op")
		b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
		b.ReportMetric(float64(sweepTime)/float64(rawTime), "sweep/raw")
		b.ReportMetric(float64(items), "reminders")
		b.ReportMetric(float64(digests), "digests")
		b.ReportMetric(float64(items)*float64(b.N)/sweepTime.Seconds(), "reminders/s")
	})
}
