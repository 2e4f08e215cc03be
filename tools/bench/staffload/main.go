// Command staffload is scripts/bench's staff workspace benchmark: it fills a
// database with a million requests and then times the queue's pages, a
// request page and the dashboard over HTTP, signed in, as staff open them.
//
// Seed (-seed N): testkit.SeedRequests (30% open, due around now; sealed with
// testkit.EncryptionKey, which the portal must then run with), then the
// requests of the first seeded agent are given to the staff account
// -email, so that its "mine" tab holds an agent's share; VACUUM (ANALYZE).
//
//	staffload -db URL -seed 1000000 -email bench@example.kz
//
// With -operators N (issue 15) the requests are spread evenly over N
// operators: the default one (id 1, whose staff -email is) and N-1 more,
// recorded as op002, op003, … (the slugs an OPERATORS_FILE then names), each
// seeded under its own scope as the portal writes (row-level security).
//
// Run: signs in at -url with -email and -password (the login form, its CSRF
// cookie and field), then GETs each page -n times one after the other after
// 3 unmeasured requests and prints a line per page:
// "page=open n=… p50_ms=… p95_ms=… p99_ms=… max_ms=… bytes=…" (-page-time
// caps the time spent on one page: n says how many GETs were timed; -pages
// open,dashboard times only the pages named). The
// pages are every tab, the filters, searches by a common name, a rare one
// (a few requests put in through the intake first), a reference and one
// that matches nothing, the open tab's second page, a request page and the
// dashboard. -db picks a
// reference, an assignee and a searchable name from the data.
//
//	staffload -db URL -url http://127.0.0.1:18080 -email bench@example.kz -password ... -n 100
//
// Side by side (-url, -db and -label comma-separated, one of each per
// portal, -rounds R): each page's -n GETs are split into R rounds and the
// portals take turns, round by round, so that what the machine does
// meanwhile weighs on each alike; a line per page and portal
// ("page=open portal=one_base p50_ms=…").
//
// Export (-export N): the CSV of every request over HTTP, N times,
// alternating with COPY of the same columns TO STDOUT; the time, size and
// peak resident set of each (-pid: the portal's process, read from /proc):
//
//	staffload -db URL -url http://127.0.0.1:18080 -email … -password … -export 3 -pid 1234
//
// Before the pages, the open tab's 51 rows are read n times as one bare
// SELECT over pgx from the first -db ("page=bare_open_select …"): the
// baseline of the run, what a page costs without the portal.
//
// One client, loopback only: the latency is the server's time plus the
// loopback's. -operator ID reads the pages' reference and assignee in that
// operator's scope (1, the default, unless set).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/opscope"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "staffload:", err)
		os.Exit(1)
	}
}

func run() error {
	db := flag.String("db", "", "the portal's DATABASE_URL (run: one per -url, comma-separated)")
	seed := flag.Int("seed", 0, "seed this many requests and exit")
	base := flag.String("url", "", "the portal's base URL, loopback only (comma-separated: several portals, side by side)")
	labels := flag.String("label", "", "run: a name for each -url (comma-separated)")
	email := flag.String("email", "", "the staff account (run: comma-separated, one per -url, or one for all)")
	password := flag.String("password", "", "its password")
	n := flag.Int("n", 100, "requests per page")
	pageTime := flag.Duration("page-time", 0, "run: stop timing a page (and portal) after this long, once it has had 10 requests (0: no limit)")
	rounds := flag.Int("rounds", 1, "run: split each page's -n requests into this many rounds, the portals taking turns")
	operators := flag.Int("operators", 1, "seed: spread the requests over this many operators")
	operatorIDs := flag.String("operator", "1", "run: the id of the operator whose staff -email is (comma-separated: one per -url)")
	export := flag.Int("export", 0, "instead of the pages: the CSV export of every request over HTTP, this many times, alternating with COPY of its columns")
	servePID := flag.Int("pid", 0, "export: the first portal's process id, for its resident set (this machine only)")
	only := flag.String("pages", "", "run: time only the pages named (comma-separated, as printed after page=), not all")
	flag.Parse()
	ctx := context.Background()
	if *db == "" {
		return errors.New("-db is required")
	}
	if *seed > 0 {
		pool, err := opscope.NewPool(ctx, *db)
		if err != nil {
			return err
		}
		defer pool.Close()
		return seedRequests(ctx, pool, *seed, *operators, *email)
	}
	urls, dbs := strings.Split(*base, ","), strings.Split(*db, ",")
	names := strings.Split(*labels, ",")
	if *labels == "" && len(urls) == 1 {
		names = []string{""}
	}
	ops, emails := strings.Split(*operatorIDs, ","), strings.Split(*email, ",")
	if len(ops) == 1 {
		ops = slices.Repeat(ops, len(urls))
	}
	if len(emails) == 1 {
		emails = slices.Repeat(emails, len(urls))
	}
	if len(dbs) != len(urls) || len(names) != len(urls) || len(ops) != len(urls) || len(emails) != len(urls) {
		return fmt.Errorf("%d -url, %d -db, %d -label, %d -operator, %d -email: want one of each per portal",
			len(urls), len(dbs), len(names), len(ops), len(emails))
	}
	if *rounds < 1 || *n < *rounds {
		return fmt.Errorf("-rounds %d: want 1 to -n", *rounds)
	}
	portals := make([]portal, len(urls))
	for i, u := range urls {
		if err := loopbackOnly(u); err != nil {
			return err
		}
		operatorID, err := strconv.ParseInt(ops[i], 10, 64)
		if err != nil {
			return fmt.Errorf("-operator: %w", err)
		}
		pool, err := opscope.NewPool(ctx, dbs[i])
		if err != nil {
			return err
		}
		pages, err := pagesOf(opscope.With(ctx, operatorID), pool, emails[i])
		pool.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		if *only != "" {
			named := strings.Split(*only, ",")
			pages = slices.DeleteFunc(pages, func(pg page) bool { return !slices.Contains(named, pg.name) })
			if len(pages) == 0 {
				return fmt.Errorf("-pages %q: no such page", *only)
			}
		}
		client, err := signIn(u, emails[i], *password)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		if *export == 0 {
			if err := submitRare(u); err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
			if err := resolveNext(client, u, pages); err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
		}
		portals[i] = portal{label: names[i], base: u, pages: pages, client: client}
	}
	if *export > 0 {
		operatorID, _ := strconv.ParseInt(ops[0], 10, 64)
		return exportRun(ctx, portals[0], dbs[0], operatorID, *export, *servePID)
	}
	if err := bareBaseline(ctx, dbs[0], ops[0], *n); err != nil {
		return err
	}
	for pi := range portals[0].pages {
		took := make([][]time.Duration, len(portals))
		sizes := make([]int, len(portals))
		for r := range *rounds {
			for i, p := range portals {
				pg := p.pages[pi]
				count := *n*(r+1) / *rounds - *n*r / *rounds
				warmup := 0
				if r == 0 {
					warmup = 3
				}
				t, size, err := measure(p.client, p.base+pg.path, count, warmup, *pageTime/time.Duration(*rounds))
				if err != nil {
					return fmt.Errorf("%s (%s%s): %w", pg.name, p.base, pg.path, err)
				}
				took[i], sizes[i] = append(took[i], t...), size
			}
		}
		for i, p := range portals {
			label := ""
			if p.label != "" {
				label = " portal=" + p.label
			}
			fmt.Printf("page=%s%s %s\n", p.pages[pi].name, label, summary(took[i], sizes[i]))
		}
	}
	return nil
}

// portal is one portal under measurement: its address, the pages of its
// data and a client signed in to it.
type portal struct {
	label, base string
	pages       []page
	client      *http.Client
}

func seedRequests(ctx context.Context, pool *pgxpool.Pool, n, operators int, email string) error {
	start := time.Now()
	ids := []int64{1}
	if operators > 1 {
		slugs := make([]string, 0, operators-1)
		for i := 2; i <= operators; i++ {
			slugs = append(slugs, fmt.Sprintf("op%03d", i))
		}
		recorded, err := store.New(pool, nil, testkit.Keys()).RecordOperators(ctx, slugs)
		if err != nil {
			return err
		}
		for _, slug := range slugs {
			ids = append(ids, recorded[slug])
		}
	}
	for i, id := range ids {
		scoped := opscope.With(ctx, id)
		share := n*(i+1)/len(ids) - n*i/len(ids)
		seeded, err := testkit.SeedRequests(scoped, pool, share, testkit.SeedOptions{Now: start, Seed: uint64(i + 1)})
		if err != nil {
			return fmt.Errorf("operator %d: %w", id, err)
		}
		if email != "" && id == 1 {
			if _, err := pool.Exec(scoped, `UPDATE requests SET assignee_id = (SELECT id FROM staff WHERE email = $1)
			WHERE assignee_id = $2`, email, seeded.StaffIDs[0]); err != nil {
				return fmt.Errorf("give the first agent's requests to %s: %w", email, err)
			}
		}
	}
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	fmt.Printf("seeded=%d operators=%d seconds=%.1f\n", n, len(ids), time.Since(start).Seconds())
	return nil
}

type page struct{ name, path string }

// bareBaseline times, over pgx and without HTTP, the open tab's first page
// of rows as one bare SELECT (the operator's open requests by due date,
// LIMIT 51, through requests_open_due_idx): the least a queue page can cost
// in this run on this machine, printed as "page=bare_open_select …" before
// the portals' pages, so that each page's figures read as a ratio to it.
func bareBaseline(ctx context.Context, db, operator string, n int) error {
	id, err := strconv.ParseInt(operator, 10, 64)
	if err != nil {
		return fmt.Errorf("-operator: %w", err)
	}
	pool, err := opscope.NewPool(ctx, db)
	if err != nil {
		return err
	}
	defer pool.Close()
	ctx = opscope.With(ctx, id)
	query := `SELECT id, reference, type, status, personal, received_at, due_at, assignee_id FROM requests r
		WHERE r.operator_id = $1 AND ` + store.StatusIn("r.status", request.OpenStatuses()) + `
		ORDER BY r.due_at, r.id LIMIT 51`
	took := make([]time.Duration, 0, n)
	for i := range n + 3 {
		start := time.Now()
		rows, err := pool.Query(ctx, query, id)
		if err != nil {
			return fmt.Errorf("bare select: %w", err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("bare select: %w", err)
		}
		if i >= 3 {
			took = append(took, time.Since(start))
		}
	}
	fmt.Printf("page=bare_open_select %s\n", summary(took, 0))
	return nil
}

// pagesOf lists what staff open: every tab, filters, searches, a request
// and the dashboard. The assignee filter names the first agent, other than
// the signed-in account (to which the first seeded agent's requests were
// given), with open requests of the operator.
func pagesOf(ctx context.Context, pool *pgxpool.Pool, email string) ([]page, error) {
	var ref string
	var agent int64
	if err := pool.QueryRow(ctx, `SELECT reference FROM requests WHERE status = 'in_progress' ORDER BY due_at LIMIT 1`).Scan(&ref); err != nil {
		return nil, fmt.Errorf("an open request: %w", err)
	}
	// Open requests of the connection's operator, by
	// requests_open_assignee_due_idx: "any request" had no index and read
	// the requests table once per staff member (0.5 s at 200,000, in the
	// pages' pg_stat_statements of scripts/bench).
	if err := pool.QueryRow(ctx, `SELECT s.id FROM staff s WHERE s.email <> $1
		AND EXISTS (SELECT 1 FROM requests r WHERE r.operator_id = (SELECT rightsdesk_operator())
			AND `+store.StatusIn("r.status", request.OpenStatuses())+` AND r.assignee_id = s.id)
		ORDER BY s.id LIMIT 1`, email).Scan(&agent); err != nil {
		return nil, fmt.Errorf("an agent: %w", err)
	}
	a := fmt.Sprint(agent)
	today := time.Now()
	return []page{
		{"open", "/staff"},
		{"open_page2", ""}, // the "next" link of the open tab's first page, found after signing in
		{"triage", "/staff?tab=triage"},
		{"mine", "/staff?tab=mine"},
		{"unassigned", "/staff?tab=unassigned"},
		{"due_soon", "/staff?tab=due_soon"},
		{"overdue", "/staff?tab=overdue"},
		{"awaiting", "/staff?tab=awaiting"},
		{"bounced", "/staff?tab=bounced"},
		{"closed", "/staff?tab=closed"},
		{"all", "/staff?tab=all"},
		{"type_erasure", "/staff?type=erasure"},
		{"types_two", "/staff?type=access&type=correction"},
		{"assignee", "/staff?assignee=" + a},
		{"nobody_access", "/staff?assignee=nobody&type=access"},
		{"status_in_progress", "/staff?status=in_progress"},
		{"closed_rejected", "/staff?tab=closed&status=rejected"},
		{"steps_failed", "/staff?steps=failed"},
		{"due_range", "/staff?due_from=" + today.Format("2006-01-02") + "&due_to=" + today.AddDate(0, 0, 14).Format("2006-01-02")},
		{"search_name", "/staff?q=" + url.QueryEscape("жұмабек")},
		{"search_name_all", "/staff?tab=all&q=" + url.QueryEscape("ерлан")},
		{"search_name_rare", "/staff?tab=all&q=" + url.QueryEscape(rareSurname)},
		{"search_none", "/staff?tab=all&q=" + url.QueryEscape(noSurname)},
		{"search_none_open", "/staff?q=" + url.QueryEscape(noSurname)},
		{"search_reference", "/staff?tab=all&q=" + url.QueryEscape(ref)},
		{"request", "/staff/requests/" + ref},
		{"dashboard", "/staff/dashboard"},
	}, nil
}

// rareSurname is a surname the seed never writes: a few requests carry it
// (submitRare), so that its search is the rare name's. noSurname is on no
// request at all: a search that matches nothing reads as far as a capped
// search reads, its worst case.
const (
	rareSurname = "Бекбосынов"
	noSurname   = "Тұрсынғалиев"
	rareCount   = 3
)

var (
	csrfField = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)
	nextLink  = regexp.MustCompile(`<a href="([^"]*)" rel="next">`)
)

// submitRare puts rareCount requests from a person named rareSurname in
// through the portal's intake (POST /api/v1/requests): a name few requests
// have, for the rare name's search (each run adds rareCount more).
func submitRare(base string) error {
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range rareCount {
		body := fmt.Sprintf(`{"type":"access","access_scope":"copy","full_name":"Зейнолла %s","email":"zeinolla.bekbosynov%d@example.kz",`+
			`"phone":"+7 701 555 01 0%d","locale":"kk","consent":true}`, rareSurname, i, i)
		resp, err := client.Post(base+"/api/v1/requests", "application/json", strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("submit a rare name: %w", err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("submit a rare name: %s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// resolveNext fills the path of the page named open_page2: the "next"
// link of the open tab's first page, as staff would follow it.
func resolveNext(client *http.Client, base string, pages []page) error {
	for i, pg := range pages {
		if pg.name != "open_page2" {
			continue
		}
		resp, err := client.Get(base + "/staff")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		m := nextLink.FindSubmatch(body)
		if m == nil {
			return errors.New("GET /staff: no link to the next page")
		}
		pages[i].path = html.UnescapeString(string(m[1]))
	}
	return nil
}

func signIn(base, email, password string) (*http.Client, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/staff/login")
	if err != nil {
		return nil, err
	}
	html, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := csrfField.FindSubmatch(html)
	if m == nil {
		return nil, errors.New("GET /staff/login: no _csrf field")
	}
	resp, err = client.PostForm(base+"/staff/login", url.Values{"_csrf": {string(m[1])}, "email": {email}, "password": {password}})
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("POST /staff/login: %s, want a redirect into the workspace", resp.Status)
	}
	return client, nil
}

// measure GETs target warmup times unmeasured, then n times, one after the
// other, and returns each of the durations and the size of the last
// response. With a budget it stops early once the measured GETs have taken
// that long and there are at least minMeasured of them (or n), so that a
// slow page keeps the run's length known; the caller prints how many it
// timed.
func measure(client *http.Client, target string, n, warmup int, budget time.Duration) ([]time.Duration, int, error) {
	const minMeasured = 10
	took := make([]time.Duration, 0, n)
	size := 0
	var started time.Time
	for i := range n + warmup {
		if i == warmup {
			started = time.Now()
		}
		if budget > 0 && len(took) >= min(minMeasured, n) && time.Since(started) >= budget {
			break
		}
		start := time.Now()
		resp, err := client.Get(target)
		if err != nil {
			return nil, 0, err
		}
		size, err = drain(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("%s", resp.Status)
		}
		if i >= warmup {
			took = append(took, time.Since(start))
		}
	}
	return took, size, nil
}

func summary(took []time.Duration, size int) string {
	slices.Sort(took)
	q := func(p float64) float64 {
		return float64(took[min(int(p*float64(len(took))), len(took)-1)].Nanoseconds()) / 1e6
	}
	return fmt.Sprintf("n=%d p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f bytes=%d", len(took), q(0.5), q(0.95), q(0.99), q(1), size)
}

func drain(r io.Reader) (int, error) {
	n, err := io.Copy(io.Discard, bufio.NewReader(r))
	return int(n), err
}

func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return fmt.Errorf("-url: want an http URL, got %q", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url: only loopback addresses, got %q", host)
	}
	return nil
}

// exportColumns is the export's SELECT for the "all" tab (store's
// exportQuery: the same columns from the same join, in the same order),
// for COPY, which writes them as CSV in the server: the least an export of
// these columns can cost. Keep it in step with internal/store/export.go.
const exportColumns = `SELECT r.reference, r.type, r.status, r.received_at, r.confirmed_at,
	coalesce(r.original_due_at, r.due_at), r.due_at, r.original_due_at IS NOT NULL, r.closed_at,
	coalesce(a.name, ''), r.deadline_rule, r.deadline_legal_ref
	FROM requests r LEFT JOIN staff a ON a.id = r.assignee_id WHERE r.operator_id = %d ORDER BY r.id`

// exportRun downloads GET /staff/export.csv?tab=all (every request) n
// times, alternating which goes first with COPY (the same columns) TO
// STDOUT (FORMAT csv) read over pgx into nothing, and prints a line for
// each: its times, bytes and rows, and its resident set before and at its
// peak — for the export the portal's (process pid, read from /proc), for
// COPY this process's, which does nothing else meanwhile. Each peak is
// VmHWM after the high-water mark was reset to the current resident set
// (/proc/PID/clear_refs), or, where that is refused, the largest VmRSS
// sampled every 5 ms.
func exportRun(ctx context.Context, p portal, db string, operatorID int64, n, pid int) error {
	pool, err := opscope.NewPool(ctx, db)
	if err != nil {
		return err
	}
	defer pool.Close()
	ctx = opscope.With(ctx, operatorID)
	copyQuery := "COPY (" + fmt.Sprintf(exportColumns, operatorID) + ") TO STDOUT (FORMAT csv)"
	client := *p.client
	client.Timeout = 30 * time.Minute
	var exp, cp exportStats
	exportOnce := func() error {
		proc := "self"
		if pid > 0 {
			proc = strconv.Itoa(pid)
		}
		w := &lineCounter{}
		d, err := withPeak(proc, &exp, func() error {
			resp, err := client.Get(p.base + "/staff/export.csv?tab=all")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /staff/export.csv: %s", resp.Status)
			}
			_, err = io.Copy(w, resp.Body)
			return err
		})
		if err != nil {
			return err
		}
		exp.took = append(exp.took, d)
		exp.bytes, exp.rows = w.bytes, w.lines-1 // the header
		return nil
	}
	copyOnce := func() error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		w := &lineCounter{}
		d, err := withPeak("self", &cp, func() error {
			_, err := conn.Conn().PgConn().CopyTo(ctx, w, copyQuery)
			return err
		})
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		cp.took = append(cp.took, d)
		cp.bytes, cp.rows = w.bytes, w.lines
		return nil
	}
	for i := range n {
		steps := []func() error{exportOnce, copyOnce}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	whose := "this process"
	if pid > 0 {
		whose = "the portal"
	}
	fmt.Printf("page=export_csv %s rows=%d rss_before_kb=%d rss_peak_kb=%d peak_by=%s rss_of=%q\n",
		summary(exp.took, int(exp.bytes)), exp.rows, exp.before, exp.peak, exp.by, whose)
	fmt.Printf("page=export_copy %s rows=%d rss_before_kb=%d rss_peak_kb=%d peak_by=%s rss_of=%q\n",
		summary(cp.took, int(cp.bytes)), cp.rows, cp.before, cp.peak, cp.by, "staffload")
	return nil
}

// exportStats gathers one side of exportRun: durations, the last
// download's size, and the resident set (kB) before the first download
// and at the highest of its peaks.
type exportStats struct {
	took         []time.Duration
	bytes        int64
	rows         int
	before, peak int64
	by           string
}

// withPeak runs f and records, in st, the resident set of process proc
// ("self" or a pid) before it and at its peak while f ran.
func withPeak(proc string, st *exportStats, f func() error) (time.Duration, error) {
	status := "/proc/" + proc + "/status"
	rss, err := statusKB(status, "VmRSS")
	if err != nil {
		return 0, err
	}
	if st.before == 0 {
		st.before = rss
	}
	// 5: reset the peak resident set to the current one (Linux 4.0).
	reset := os.WriteFile("/proc/"+proc+"/clear_refs", []byte("5"), 0) == nil
	done := make(chan struct{})
	sampled := make(chan int64)
	go func() {
		high := rss
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				sampled <- high
				return
			case <-tick.C:
				if v, err := statusKB(status, "VmRSS"); err == nil {
					high = max(high, v)
				}
			}
		}
	}()
	start := time.Now()
	err = f()
	took := time.Since(start)
	close(done)
	high := <-sampled
	st.by = "sampled"
	if reset {
		if hwm, herr := statusKB(status, "VmHWM"); herr == nil {
			high, st.by = max(high, hwm), "hwm"
		}
	}
	st.peak = max(st.peak, high)
	return took, err
}

// statusKB reads one "Name:   123 kB" line of /proc/PID/status.
func statusKB(path, name string) (int64, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- /proc/<pid>/status, the pid given by scripts/bench
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, name)
}

// lineCounter discards what it is given and counts its bytes and lines.
type lineCounter struct {
	bytes int64
	lines int
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
