package store

import (
	"context"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// BenchmarkQueueCountsAndDashboard times the queue's tab counts (each tab
// capped at CountCap) and the dashboard's
// figures against RIGHTSDESK_BENCH_ROWS requests (a million unless set):
//
//	go run ./tools/withpg -- go test ./internal/store/ -run '^$' -bench 'Queue.*Count' -benchtime 10x -v -timeout 60m
//
// As in BenchmarkQueue, each counts case reports the store's time, the bare
// SQL's and their ratio, and also the bare SQL of the same counts without the
// cap (exact-ns/op, exact/raw): what the tab bar cost before. The dashboard
// reads its rollups; it is timed against the same figures computed over the
// rows (rows-ns/op, rollups/rows), the four queries it ran before them.
func BenchmarkQueueCountsAndDashboard(b *testing.B) {
	ctx := context.Background()
	pool, seeded, now, almaty := seedBench(b)
	s := New(pool, nil, testkit.Keys())
	agent := seeded.StaffIDs[3]
	explain := os.Getenv("RIGHTSDESK_BENCH_EXPLAIN") != ""

	cases := []struct {
		name string
		f    QueueFilter
	}{
		{"counts", QueueFilter{Now: now, StaffID: agent}},
		{"counts_type", QueueFilter{Now: now, StaffID: agent, Types: []request.Type{request.Erasure}}},
		{"counts_search", QueueFilter{Now: now, StaffID: agent, Search: "жұмабек"}},
	}
	for _, c := range cases {
		query, args, err := countsQuery(testkit.Keys(), c.f)
		if err != nil {
			b.Fatal(err)
		}
		if explain {
			logPlan(b, pool, c.name, query, args)
		}
		// The same query without the cap: what the counts cost before it.
		exact := strings.ReplaceAll(query, "LIMIT "+strconv.Itoa(CountCap+1), "")
		b.Run(c.name, func(b *testing.B) {
			var counts map[Tab]int
			// Store, bare capped SQL and bare exact SQL, rotating which goes
			// first so that none always runs on a warmer cache.
			var took [3]time.Duration
			steps := [3]func() error{
				func() error {
					var err error
					counts, err = s.QueueCounts(ctx, c.f)
					return err
				},
				func() error { return rawRows(ctx, pool, query, args) },
				func() error { return rawRows(ctx, pool, exact, args) },
			}
			b.ResetTimer()
			for i := range b.N {
				for k := range 3 {
					j := (i + k) % 3
					start := time.Now()
					if err := steps[j](); err != nil {
						b.Fatal(err)
					}
					took[j] += time.Since(start)
				}
			}
			b.StopTimer()
			per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
			b.ReportMetric(per(took[0]), "ns/op")
			b.ReportMetric(per(took[1]), "raw-ns/op")
			b.ReportMetric(per(took[2]), "exact-ns/op")
			b.ReportMetric(float64(took[0])/float64(took[1]), "store/raw")
			b.ReportMetric(float64(took[2])/float64(took[1]), "exact/raw")
			b.ReportMetric(float64(counts[TabOpen]), "open")
			b.ReportMetric(float64(counts[TabClosed]), "closed")
		})
	}

	// What a change of TIMEZONE costs once: the rollups counted again in
	// another zone, and back.
	for _, zone := range []string{"UTC", "Asia/Almaty"} {
		start := time.Now()
		if _, err := pool.Exec(ctx, `SELECT dashboard_rebuild(1, $1)`, zone); err != nil {
			b.Fatal(err)
		}
		b.Logf("the dashboard's rollups counted again in %s in %s", zone, time.Since(start).Round(time.Millisecond))
	}

	// The dashboard from its rollups against the same figures computed over
	// the rows (the queries it ran before the rollups), alternating.
	b.Run("dashboard", func(b *testing.B) {
		var d, rows Dashboard
		var took [2]time.Duration
		steps := [2]func() error{
			func() (err error) { d, err = s.Dashboard(ctx, now, almaty, 2025); return err },
			func() (err error) { rows, err = dashboardOverRows(ctx, s, now, almaty, 2025); return err },
		}
		b.ResetTimer()
		for i := range b.N {
			for k := range 2 {
				j := (i + k) % 2
				start := time.Now()
				if err := steps[j](); err != nil {
					b.Fatal(err)
				}
				took[j] += time.Since(start)
			}
		}
		b.StopTimer()
		if !reflect.DeepEqual(d, rows) {
			b.Fatalf("the rollups' dashboard %+v differs from the rows' %+v", d, rows)
		}
		per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
		b.ReportMetric(per(took[0]), "ns/op")
		b.ReportMetric(per(took[1]), "rows-ns/op")
		b.ReportMetric(float64(took[0])/float64(took[1]), "rollups/rows")
		b.ReportMetric(float64(d.YearTotal.Received), "received-2025")
	})
}
