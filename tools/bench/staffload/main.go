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
// "page=open p50_ms=… p95_ms=… p99_ms=… max_ms=… bytes=…". -db picks a
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
	"context"
	"errors"
	"flag"
	"fmt"
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
	rounds := flag.Int("rounds", 1, "run: split each page's -n requests into this many rounds, the portals taking turns")
	operators := flag.Int("operators", 1, "seed: spread the requests over this many operators")
	operatorIDs := flag.String("operator", "1", "run: the id of the operator whose staff -email is (comma-separated: one per -url)")
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
		client, err := signIn(u, emails[i], *password)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		portals[i] = portal{label: names[i], base: u, pages: pages, client: client}
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
				t, size, err := measure(p.client, p.base+pg.path, count, warmup)
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
// and the dashboard. The assignee filter names the first agent of the
// operator's requests other than the signed-in account (to which the first
// seeded agent's requests were given).
func pagesOf(ctx context.Context, pool *pgxpool.Pool, email string) ([]page, error) {
	var ref string
	var agent int64
	if err := pool.QueryRow(ctx, `SELECT reference FROM requests WHERE status = 'in_progress' ORDER BY due_at LIMIT 1`).Scan(&ref); err != nil {
		return nil, fmt.Errorf("an open request: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT r.assignee_id FROM requests r JOIN staff s ON s.id = r.assignee_id
		WHERE s.email <> $1 ORDER BY r.assignee_id LIMIT 1`, email).Scan(&agent); err != nil {
		return nil, fmt.Errorf("an agent: %w", err)
	}
	a := fmt.Sprint(agent)
	return []page{
		{"open", "/staff"},
		{"mine", "/staff?tab=mine"},
		{"unassigned", "/staff?tab=unassigned"},
		{"due_soon", "/staff?tab=due_soon"},
		{"overdue", "/staff?tab=overdue"},
		{"awaiting", "/staff?tab=awaiting"},
		{"closed", "/staff?tab=closed"},
		{"all", "/staff?tab=all"},
		{"type_erasure", "/staff?type=erasure"},
		{"assignee", "/staff?assignee=" + a},
		{"nobody_access", "/staff?assignee=nobody&type=access"},
		{"status_in_progress", "/staff?status=in_progress"},
		{"due_range", "/staff?due_from=" + time.Now().Format("2006-01-02") + "&due_to=" + time.Now().AddDate(0, 0, 14).Format("2006-01-02")},
		{"search_name", "/staff?q=" + url.QueryEscape("жұмабек")},
		{"search_name_all", "/staff?tab=all&q=" + url.QueryEscape("ерлан")},
		{"search_reference", "/staff?tab=all&q=" + url.QueryEscape(ref)},
		{"request", "/staff/requests/" + ref},
		{"dashboard", "/staff/dashboard"},
	}, nil
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

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
// other, and returns each of the n durations and the size of the last
// response.
func measure(client *http.Client, target string, n, warmup int) ([]time.Duration, int, error) {
	took := make([]time.Duration, 0, n)
	size := 0
	for i := range n + warmup {
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
		return float64(took[min(int(p*float64(len(took))), len(took)-1)].Microseconds()) / 1000
	}
	return fmt.Sprintf("n=%d p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f bytes=%d", len(took), q(0.5), q(0.95), q(0.99), q(1), size)
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
