package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// The queue benchmarks run against a database of RIGHTSDESK_BENCH_ROWS
// requests (a million unless set), seeded once per run:
//
//	go run ./tools/withpg -- go test ./internal/store/ -run '^$' -bench Queue -benchtime 20x
//
// This machine is shared and its timings drift, so every case runs the
// store's method and the bare SQL it sends (the same text and arguments,
// rows read but not decoded) in the same iteration, alternating which goes
// first, and reports the ratio store/raw next to both times: the ratio is
// the figure to compare between runs. RIGHTSDESK_BENCH_EXPLAIN=1 logs each
// query's EXPLAIN (ANALYZE, BUFFERS) as well. See docs/benchmarks.md.
func BenchmarkQueue(b *testing.B) {
	ctx := context.Background()
	pool, seeded, now, almaty := seedBench(b)

	s := New(pool, nil, testkit.Keys())
	agent := seeded.StaffIDs[3]
	var reference string
	var deepDue time.Time
	var deepID int64
	if err := pool.QueryRow(ctx, `SELECT reference FROM requests WHERE id = $1`,
		(seeded.FirstID+seeded.LastID)/2).Scan(&reference); err != nil {
		b.Fatal(err)
	}
	target, err := s.RequestByReference(ctx, reference) // its name and email are sealed
	if err != nil {
		b.Fatal(err)
	}
	email, fullName := target.Email, target.FullName
	// A cursor deep into the default tab: where page 1000 of 50 would start
	// (or the middle, on a small data set).
	var open int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM requests r WHERE `+openStatuses).Scan(&open); err != nil {
		b.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT due_at, id FROM requests r WHERE `+openStatuses+`
		ORDER BY due_at, id OFFSET $1 LIMIT 1`, min(50_000, open/2)).Scan(&deepDue, &deepID); err != nil {
		b.Fatal(err)
	}
	deep := encodeCursor(SortDue, deepDue, deepID)
	// "Reference as typed": lower case, no dashes.
	typedRef := strings.ToLower(strings.ReplaceAll(reference, "-", ""))
	emailLocal := strings.ToUpper(email[:strings.Index(email, "@")])
	b.Logf("searching for %s, %q (before the @: %q), %q", reference, email, emailLocal, fullName)

	pages := []struct {
		name string
		f    QueueFilter
		p    Page
	}{
		{"default_tab", QueueFilter{Now: now}, Page{}},
		{"mine_access", QueueFilter{Tab: TabMine, StaffID: agent, Now: now, Types: []request.Type{request.Access}}, Page{}},
		{"unassigned", QueueFilter{Tab: TabUnassigned, Now: now}, Page{}},
		{"overdue", QueueFilter{Tab: TabOverdue, Now: now}, Page{}},
		{"due_soon", QueueFilter{Tab: TabDueSoon, Now: now}, Page{}},
		{"awaiting", QueueFilter{Tab: TabAwaiting, Now: now}, Page{}},
		{"closed_by_due", QueueFilter{Tab: TabClosed, Now: now}, Page{}},
		{"closed_latest", QueueFilter{Tab: TabClosed, Now: now, Sort: SortClosed}, Page{}},
		{"deep_page", QueueFilter{Now: now}, Page{After: deep}},
		{"search_reference", QueueFilter{Tab: TabAll, Now: now, Search: typedRef}, Page{}},
		{"search_email_exact", QueueFilter{Tab: TabAll, Now: now, Search: email}, Page{}},
		{"search_email_local", QueueFilter{Tab: TabAll, Now: now, Search: emailLocal}, Page{}},
		{"search_name_full", QueueFilter{Tab: TabAll, Now: now, Search: strings.ToUpper(fullName)}, Page{}},
		{"search_name_part_open", QueueFilter{Now: now, Search: "жұмабек"}, Page{}},
	}
	explain := os.Getenv("RIGHTSDESK_BENCH_EXPLAIN") != ""
	for _, c := range pages {
		if explain {
			probed, err := rawProbe(ctx, pool, c.f)
			if err != nil {
				b.Fatal(err)
			}
			query, args, _, err := queueQuery(testkit.Keys(), probed, c.p)
			if err != nil {
				b.Fatal(err)
			}
			logPlan(b, pool, c.name, query, args)
		}
		b.Run(c.name, func(b *testing.B) {
			var got int
			benchPair(b, func() error {
				page, err := s.Queue(ctx, c.f, c.p)
				got = len(page.Rows)
				return err
			}, func() error { return rawQueue(ctx, pool, c.f, c.p) })
			b.ReportMetric(float64(got), "rows")
		})
	}

	countFilters := []struct {
		name string
		f    QueueFilter
	}{
		{"counts", QueueFilter{Now: now, StaffID: agent}},
		{"counts_type", QueueFilter{Now: now, StaffID: agent, Types: []request.Type{request.Erasure}}},
	}
	for _, c := range countFilters {
		query, args, err := countsQuery(testkit.Keys(), c.f)
		if err != nil {
			b.Fatal(err)
		}
		if explain {
			logPlan(b, pool, c.name, query, args)
		}
		b.Run(c.name, func(b *testing.B) {
			benchPair(b, func() error {
				_, err := s.QueueCounts(ctx, c.f)
				return err
			}, func() error { return rawRows(ctx, pool, query, args) })
		})
	}

	// Exports of growing size: peak heap must not grow with the row count.
	exports := []struct {
		name string
		f    QueueFilter
	}{
		{"export_overdue", QueueFilter{Tab: TabOverdue, Now: now}},
		{"export_open", QueueFilter{Tab: TabOpen, Now: now}},
		{"export_all", QueueFilter{Tab: TabAll, Now: now}},
	}
	for _, c := range exports {
		query, args, err := exportQuery(testkit.Keys(), c.f)
		if err != nil {
			b.Fatal(err)
		}
		if explain {
			logPlan(b, pool, c.name, query, args)
		}
		b.Run(c.name, func(b *testing.B) { benchExport(b, s, pool, c.f, query, args, almaty) })
	}
}

// benchPair times store and raw in every iteration, alternating the order so
// that neither always runs on a warmer cache, and reports ns/op (the store's),
// raw-ns/op and their ratio. It returns the store's total time.
func benchPair(b *testing.B, store, raw func() error) time.Duration {
	var storeTime, rawTime time.Duration
	timed := func(f func() error, into *time.Duration) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*into += time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			timed(store, &storeTime)
			timed(raw, &rawTime)
		} else {
			timed(raw, &rawTime)
			timed(store, &storeTime)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(storeTime.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(storeTime)/float64(rawTime), "store/raw")
	return storeTime
}

// rawQueue sends, bare, the statements Store.Queue sends for f and p: for a
// search, first the probe of its matches (probeSearch: up to SearchCap and
// one more from request_search), then the page by id, or, past SearchCap,
// the fenced walk of the tab and, when the walk stops short of a page, the
// page by id of every match. The page's rows are read but not decoded; only
// the matches' ids are, as the next statement takes them. A baseline that
// sent the page query without the probe matched the terms row by row along
// the tab (5.7 s against the store's 2.6 ms at a million requests), and its
// ratio meant nothing.
func rawQueue(ctx context.Context, pool *pgxpool.Pool, f QueueFilter, p Page) error {
	f, err := rawProbe(ctx, pool, f)
	if err != nil {
		return err
	}
	query, args, plan, err := queueQuery(testkit.Keys(), f, p)
	if err != nil {
		return err
	}
	n, err := rawRowCount(ctx, pool, query, args)
	if err != nil || !plan.fenced || n > plan.limit {
		return err
	}
	if f.searchIDs, err = rawMatches(ctx, pool, f.Search, 0); err != nil {
		return err
	}
	f.searchBroad = false
	if query, args, _, err = queueQuery(testkit.Keys(), f, p); err != nil {
		return err
	}
	return rawRows(ctx, pool, query, args)
}

// rawProbe is probeSearch over bare statements: f with its search's
// matches (searchIDs) when there are SearchCap or fewer, or marked broad.
func rawProbe(ctx context.Context, pool *pgxpool.Pool, f QueueFilter) (QueueFilter, error) {
	if strings.TrimSpace(f.Search) == "" {
		return f, nil
	}
	f.searched = true
	ids, err := rawMatches(ctx, pool, f.Search, SearchCap+1)
	if err != nil || ids == nil {
		return f, err
	}
	if len(ids) <= SearchCap {
		f.searchIDs = ids
	} else {
		f.searchBroad, f.searchFence = true, searchFence
	}
	return f, nil
}

// rawMatches sends searchMatches's statement (matchesQuery): the ids of
// the requests whose terms text matches, up to limit (0: all); nil when
// text has no terms to match (a reference).
func rawMatches(ctx context.Context, pool *pgxpool.Pool, text string, limit int) ([]int64, error) {
	query, args, ok := matchesQuery(testkit.Keys(), text, limit)
	if !ok {
		return nil, nil
	}
	rows, err := pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	return ids, rows.Err()
}

// rawRowCount is rawRows that also says how many rows there were.
func rawRowCount(ctx context.Context, pool *pgxpool.Pool, query string, args []any) (int, error) {
	rows, err := pool.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return n, rows.Err()
}

// rawRows runs query and reads its rows off the connection without decoding
// them: the database's work plus the transfer, and nothing of the store's.
func rawRows(ctx context.Context, pool *pgxpool.Pool, query string, args []any) error {
	rows, err := pool.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}

// benchExport measures ExportCSV against the bare query and against COPY of
// the same query to CSV (the server writing the text, pgx's CopyTo reading
// it: the least any export of these columns can cost), rotating the order in
// every iteration, and what it costs in memory: bytes and allocations per
// row, the peak heap and the peak resident set while it runs.
func benchExport(b *testing.B, s *Store, pool *pgxpool.Pool, f QueueFilter, query string, args []any, loc *time.Location) {
	ctx := context.Background()
	var rows int
	var written int64
	var allocs, allocBytes uint64
	var peak, base, peakRSS, baseRSS uint64
	// Each step times itself: the store's leaves out the collection that
	// gives its memory figures a clean start.
	store := func() (time.Duration, error) {
		runtime.GC()
		debug.FreeOSMemory()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		base = max(base, before.HeapAlloc)
		rss := residentSet(b)
		baseRSS = max(baseRSS, rss)
		w := &heapSampler{peak: before.HeapAlloc, peakRSS: rss}
		start := time.Now()
		n, err := s.ExportCSV(ctx, f, loc, w)
		took := time.Since(start)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		rows, written = n, w.written
		allocs += after.Mallocs - before.Mallocs
		allocBytes += after.TotalAlloc - before.TotalAlloc
		peak = max(peak, w.peak, after.HeapAlloc)
		peakRSS = max(peakRSS, w.peakRSS, residentSet(b))
		return took, err
	}
	copyQuery := "COPY (" + inlineArgs(b, query, args) + ") TO STDOUT (FORMAT csv)"
	var copied int64
	copyCSV := func() (time.Duration, error) {
		start := time.Now()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return 0, err
		}
		defer conn.Release()
		w := &heapSampler{}
		_, err = conn.Conn().PgConn().CopyTo(ctx, w, copyQuery)
		copied = w.written
		return time.Since(start), err
	}
	raw := func() (time.Duration, error) {
		start := time.Now()
		err := rawRows(ctx, pool, query, args)
		return time.Since(start), err
	}
	var took [3]time.Duration
	steps := [3]func() (time.Duration, error){store, raw, copyCSV}
	b.ResetTimer()
	for i := range b.N {
		for k := range 3 {
			j := (i + k) % 3
			d, err := steps[j]()
			if err != nil {
				b.Fatal(err)
			}
			took[j] += d
		}
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	perRow := float64(rows) * float64(b.N)
	b.ReportMetric(per(took[0]), "ns/op")
	b.ReportMetric(per(took[1]), "raw-ns/op")
	b.ReportMetric(per(took[2]), "copy-ns/op")
	b.ReportMetric(float64(took[0])/float64(took[1]), "store/raw")
	b.ReportMetric(float64(took[0])/float64(took[2]), "store/copy")
	b.ReportMetric(float64(took[1])/float64(took[2]), "raw/copy")
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(perRow/took[0].Seconds(), "rows/s")
	b.ReportMetric(float64(written)/float64(rows), "csv-B/row")
	b.ReportMetric(float64(copied)/float64(rows), "copy-B/row")
	b.ReportMetric(float64(allocBytes)/perRow, "alloc-B/row")
	b.ReportMetric(float64(allocs)/perRow, "allocs/row")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(base)/(1<<20), "base-heap-MiB")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(baseRSS)/(1<<20), "base-rss-MiB")
}

// inlineArgs writes args into query as literals: COPY takes no parameters.
// It knows the kinds of argument the export's filters in these benchmarks
// send.
func inlineArgs(b *testing.B, query string, args []any) string {
	for i := len(args); i >= 1; i-- {
		var lit string
		switch v := args[i-1].(type) {
		case time.Time:
			lit = "'" + v.UTC().Format(time.RFC3339Nano) + "'::timestamptz"
		case int64:
			lit = strconv.FormatInt(v, 10)
		case int:
			lit = strconv.Itoa(v)
		case string:
			lit = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			b.Fatalf("inline argument $%d: %T", i, v)
		}
		query = strings.ReplaceAll(query, "$"+strconv.Itoa(i), lit)
	}
	return query
}

// residentSet is the process's resident set now, from /proc (Linux).
func residentSet(b *testing.B) uint64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(statm))
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return pages * uint64(os.Getpagesize())
}

// heapSampler discards what is written and samples the heap and the
// resident set every MiB, to find their peaks while an export runs.
type heapSampler struct {
	written, next int64
	peak, peakRSS uint64
}

func (h *heapSampler) Write(p []byte) (int, error) {
	h.written += int64(len(p))
	if h.written >= h.next {
		h.next = h.written + 1<<20
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		h.peak = max(h.peak, m.HeapAlloc)
		if statm, err := os.ReadFile("/proc/self/statm"); err == nil {
			if f := strings.Fields(string(statm)); len(f) > 1 {
				if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					h.peakRSS = max(h.peakRSS, pages*uint64(os.Getpagesize()))
				}
			}
		}
	}
	return len(p), nil
}

var _ io.Writer = (*heapSampler)(nil)

// logPlan logs the query's plan as PostgreSQL ran it.
func logPlan(b *testing.B, pool *pgxpool.Pool, name, query string, args []any) {
	rows, err := pool.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
	if err != nil {
		b.Fatalf("explain %s: %v", name, err)
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintln(&plan, line)
	}
	if err := rows.Err(); err != nil {
		b.Fatalf("explain %s: %v", name, err)
	}
	b.Logf("plan of %s:\n%s\n%s", name, query, plan.String())
}

// seedBench fills a fresh database with testkit.BenchRows requests around
// 10:00 on 2 March 2026 in Almaty, vacuumed as autovacuum would have long
// before a table grew this big (its visibility map is what allows
// index-only counts), and logs what it built.
func seedBench(b *testing.B) (*pgxpool.Pool, testkit.Seeded, time.Time, *time.Location) {
	b.Helper()
	ctx := context.Background()
	n := testkit.BenchRows(b)
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, almaty)
	pool := testkit.DB(b)
	start := time.Now()
	seeded, err := testkit.SeedRequests(ctx, pool, n, testkit.SeedOptions{Now: now, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	seedTime := time.Since(start)
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) requests, request_search, emails, staff`); err != nil {
		b.Fatalf("vacuum: %v", err)
	}
	var tableSize, indexSize string
	if err := pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_table_size('requests')), pg_size_pretty(pg_indexes_size('requests'))`).
		Scan(&tableSize, &indexSize); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d requests in %s (%.0f rows/s), vacuumed in %s; requests: table %s, indexes %s",
		n, seedTime.Round(time.Millisecond), float64(n)/seedTime.Seconds(), (time.Since(start) - seedTime).Round(time.Millisecond),
		tableSize, indexSize)
	return pool, seeded, now, almaty
}
