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
// Run: signs in at -url with -email and -password (the login form, its CSRF
// cookie and field), then GETs each page -n times one after the other after
// 3 unmeasured requests and prints a line per page:
// "page=open p50_ms=… p95_ms=… p99_ms=… max_ms=… bytes=…". -db picks a
// reference, an assignee and a searchable name from the data.
//
//	staffload -db URL -url http://127.0.0.1:18080 -email bench@example.kz -password ... -n 100
//
// One client, loopback only: the latency is the server's time plus the
// loopback's.
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
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/testkit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "staffload:", err)
		os.Exit(1)
	}
}

func run() error {
	db := flag.String("db", "", "the portal's DATABASE_URL")
	seed := flag.Int("seed", 0, "seed this many requests and exit")
	base := flag.String("url", "", "the portal's base URL (loopback only)")
	email := flag.String("email", "", "the staff account")
	password := flag.String("password", "", "its password")
	n := flag.Int("n", 100, "requests per page")
	flag.Parse()
	ctx := context.Background()
	if *db == "" {
		return errors.New("-db is required")
	}
	pool, err := pgxpool.New(ctx, *db)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *seed > 0 {
		return seedRequests(ctx, pool, *seed, *email)
	}
	if err := loopbackOnly(*base); err != nil {
		return err
	}
	pages, err := pagesOf(ctx, pool, *email)
	if err != nil {
		return err
	}
	client, err := signIn(*base, *email, *password)
	if err != nil {
		return err
	}
	for _, p := range pages {
		line, err := measure(client, *base+p.path, *n)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", p.name, p.path, err)
		}
		fmt.Printf("page=%s %s\n", p.name, line)
	}
	return nil
}

func seedRequests(ctx context.Context, pool *pgxpool.Pool, n int, email string) error {
	start := time.Now()
	seeded, err := testkit.SeedRequests(ctx, pool, n, testkit.SeedOptions{Now: time.Now(), Seed: 1})
	if err != nil {
		return err
	}
	if email != "" {
		if _, err := pool.Exec(ctx, `UPDATE requests SET assignee_id = (SELECT id FROM staff WHERE email = $1)
			WHERE assignee_id = $2`, email, seeded.StaffIDs[0]); err != nil {
			return fmt.Errorf("give the first agent's requests to %s: %w", email, err)
		}
	}
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	fmt.Printf("seeded=%d seconds=%.1f\n", n, time.Since(start).Seconds())
	return nil
}

type page struct{ name, path string }

// pagesOf lists what staff open: every tab, filters, searches, a request
// and the dashboard. The assignee filter names the second seeded agent (the
// first one's requests were given to the signed-in account).
func pagesOf(ctx context.Context, pool *pgxpool.Pool, email string) ([]page, error) {
	var ref string
	var agent int64
	if err := pool.QueryRow(ctx, `SELECT reference FROM requests WHERE status = 'in_progress' ORDER BY due_at LIMIT 1`).Scan(&ref); err != nil {
		return nil, fmt.Errorf("an open request: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT id FROM staff WHERE email <> $1 ORDER BY id OFFSET 1 LIMIT 1`, email).Scan(&agent); err != nil {
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

func measure(client *http.Client, target string, n int) (string, error) {
	var took []time.Duration
	size := 0
	for i := range n + 3 {
		start := time.Now()
		resp, err := client.Get(target)
		if err != nil {
			return "", err
		}
		size, err = drain(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s", resp.Status)
		}
		if i >= 3 {
			took = append(took, time.Since(start))
		}
	}
	slices.Sort(took)
	q := func(p float64) float64 {
		return float64(took[min(int(p*float64(len(took))), len(took)-1)].Microseconds()) / 1000
	}
	return fmt.Sprintf("n=%d p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f bytes=%d", n, q(0.5), q(0.95), q(0.99), q(1), size), nil
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
