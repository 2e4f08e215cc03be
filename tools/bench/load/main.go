// Command load is the load generator of scripts/bench: it posts intake
// requests (the JSON of POST /api/v1/requests) to a server on this machine and
// prints one line of figures.
//
// Closed loop (the default): -c workers each send a request, wait for the
// answer and send the next, for -d; the rate reached is the server's maximum
// at that concurrency.
//
//	load -url http://127.0.0.1:8080/api/v1/requests -c 8 -d 20s
//
// Fixed rate (-rate R): request i is due at start + i/R and workers take the
// next due request; latency is counted from when a request was due, not from
// when a worker got to it, so a server that falls behind shows it.
//
//	load -url ... -rate 150 -c 32 -d 15s
//
// Form (-form): -url is the portal's base URL; every submission is what a
// browser does: GET /request/<type> (the page, its _csrf cookie and hidden
// field, a fresh form_id) and POST /request/<type> as multipart/form-data,
// answered 303. The rate counts submissions (both requests); latency is that
// of the pair, and post_p50_ms/post_p99_ms that of the POST alone.
//
//	load -form -url http://127.0.0.1:8080 -c 8 -d 20s
//
// -same ADDRESS sends every submission from that one address (the JSON
// intake only), as a flood from one person does: each is a possible
// duplicate of the earlier ones of its type. Without it every address is new.
//
// -log FILE writes "email<TAB>unix-nanoseconds" for every counted submission
// (the time it was due), for matching with the emails a sink receives.
//
// Readiness (-ready URL): poll URL every 5 ms until it answers 200 and print
// how long that took.
//
// Output is one line of name=value pairs, e.g.
// "requests=4200 errors=0 seconds=20.00 rate=210.0 p50_ms=35.1 p99_ms=80.2 max_ms=120.3".
// It only talks to loopback addresses and stops after -d or -n, whichever
// comes first.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxDuration = 5 * time.Minute
	maxRequests = 2_000_000
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run() error {
	target := flag.String("url", "", "intake URL (loopback only), e.g. http://127.0.0.1:8080/api/v1/requests")
	workers := flag.Int("c", 8, "concurrent workers (connections)")
	duration := flag.Duration("d", 20*time.Second, "how long to send (at most 5m)")
	limit := flag.Int("n", maxRequests, "stop after this many requests")
	rate := flag.Float64("rate", 0, "requests per second to send at; 0 = as fast as answers come (closed loop)")
	warmup := flag.Duration("warmup", 0, "send for this long first without counting")
	ready := flag.String("ready", "", "poll this URL until it answers 200, print ready_ms and exit")
	timeout := flag.Duration("timeout", 60*time.Second, "with -ready: give up after this long")
	formMode := flag.Bool("form", false, "submit the HTML form (GET then POST /request/<type>); -url is the base URL")
	logFile := flag.String("log", "", "write email<TAB>unix-ns of each counted submission to this file")
	same := flag.String("same", "", "send every JSON submission from this one address (default: a new address each)")
	flag.Parse()

	if *ready != "" {
		return waitReady(*ready, *timeout)
	}
	if err := loopbackOnly(*target); err != nil {
		return err
	}
	if *workers < 1 || *workers > 1024 {
		return errors.New("-c: want 1 to 1024 workers")
	}
	if *duration <= 0 || *duration > maxDuration {
		return fmt.Errorf("-d: want a duration up to %s", maxDuration)
	}
	*limit = min(max(*limit, 1), maxRequests)

	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        *workers,
			MaxIdleConnsPerHost: *workers,
			IdleConnTimeout:     time.Minute,
		},
	}
	run := &loadRun{client: client, url: strings.TrimSuffix(*target, "/"), tag: fmt.Sprintf("%x", time.Now().UnixNano()), form: *formMode, same: *same}
	if *formMode {
		run.clients = make([]*http.Client, *workers)
		for i := range run.clients {
			jar, err := cookiejar.New(nil)
			if err != nil {
				return err
			}
			run.clients[i] = &http.Client{Timeout: client.Timeout, Transport: client.Transport, Jar: jar,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
	}
	if *warmup > 0 {
		run.send(*workers, *warmup, *limit, *rate, "w")
	}
	res := run.send(*workers, *duration, *limit, *rate, "m")
	fmt.Println(res)
	if *logFile != "" {
		var b strings.Builder
		for _, s := range res.sent {
			fmt.Fprintf(&b, "%s\t%d\n", s.email, s.at.UnixNano())
		}
		if err := os.WriteFile(*logFile, []byte(b.String()), 0o600); err != nil {
			return err
		}
	}
	if res.errors > 0 {
		fmt.Fprintf(os.Stderr, "load: %d requests failed; first: %s\n", res.errors, res.firstError)
	}
	if res.ok == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

// loopbackOnly refuses targets other than this machine: the generator is for
// measuring a local server, not for loading anyone else's.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("-url: want an http URL, got %q", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url: only loopback addresses (127.0.0.1, ::1, localhost), got %q", host)
}

func waitReady(target string, timeout time.Duration) error {
	if err := loopbackOnly(target); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	for time.Since(start) < timeout {
		resp, err := client.Get(target)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body) // drain for reuse; the status is what counts
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("ready_ms=%.0f\n", float64(time.Since(start).Microseconds())/1000)
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within %s", target, timeout)
}

type loadRun struct {
	client *http.Client
	url    string
	tag    string // makes every email address of this run unique
	seq    atomic.Int64
	form   bool
	same   string // -same: the one address of every submission
	// clients are the form workers' own, each with its cookie jar.
	clients []*http.Client
}

// sent is one counted submission: its address and when it was due.
type sent struct {
	email string
	at    time.Time
}

type result struct {
	ok, errors int
	seconds    float64
	latencies  []time.Duration
	posts      []time.Duration // -form: the POST alone
	sent       []sent
	firstError string
}

func (r result) String() string {
	q := quantiles(r.latencies)
	out := fmt.Sprintf("requests=%d errors=%d seconds=%.2f rate=%.1f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f",
		r.ok, r.errors, r.seconds, float64(r.ok)/r.seconds, q(0.50), q(0.99), q(1))
	if len(r.posts) > 0 {
		p := quantiles(r.posts)
		out += fmt.Sprintf(" post_p50_ms=%.1f post_p99_ms=%.1f", p(0.50), p(0.99))
	}
	return out
}

// quantiles returns q(p), the p-quantile of d in milliseconds.
func quantiles(d []time.Duration) func(float64) float64 {
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	return func(p float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		i := min(int(p*float64(len(sorted))), len(sorted)-1)
		return float64(sorted[i].Microseconds()) / 1000
	}
}

// send runs workers for d (or until limit requests) and collects latencies.
func (l *loadRun) send(workers int, d time.Duration, limit int, rate float64, phase string) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu     sync.Mutex
		res    result
		issued atomic.Int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat, posts []time.Duration
			var done []sent
			var ok, bad int
			var firstErr string
			for {
				i := issued.Add(1) - 1
				if i >= int64(limit) {
					break
				}
				due := time.Now()
				if rate > 0 {
					due = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
						}
					}
				}
				if ctx.Err() != nil {
					break
				}
				var (
					email string
					post  time.Duration
					err   error
				)
				if l.form {
					email, post, err = l.submitForm(ctx, phase, w)
				} else {
					email, err = l.post(ctx, phase, w)
				}
				if ctx.Err() != nil {
					break // cut off by the end of the run: neither counted nor failed
				}
				if err != nil {
					bad++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				ok++
				lat = append(lat, time.Since(due))
				done = append(done, sent{email, due})
				if l.form {
					posts = append(posts, post)
				}
			}
			mu.Lock()
			res.ok += ok
			res.errors += bad
			res.latencies = append(res.latencies, lat...)
			res.posts = append(res.posts, posts...)
			res.sent = append(res.sent, done...)
			if res.firstError == "" {
				res.firstError = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.seconds = time.Since(start).Seconds()
	return res
}

// types cycles through every request type with the fields each one needs.
var types = []struct{ typ, extra string }{
	{"access", `"access_scope":"copy"`},
	{"rectification", `"correction":"Фамилия записана с ошибкой: правильно Нурланқызы"`},
	{"erasure", `"details":"Удалите мой аккаунт и все данные об успеваемости"`},
	{"restriction", `"processing":"рассылка новостей"`},
	{"objection", `"processing":"автоматическая оценка домашних заданий"`},
	{"consent_withdrawal", `"processing":"фото на сайте школы"`},
	{"portability", `"details":"Нужна выгрузка оценок в CSV"`},
}

var locales = []string{"ru", "kk", "en"}

// body is one submission; every email address is new, so no request is
// linked to an earlier one as a possible duplicate (unless -same).
func (l *loadRun) body(phase string, worker int) ([]byte, string) {
	n := l.seq.Add(1)
	t := types[n%int64(len(types))]
	email := fmt.Sprintf("bench-%s-%s-%d-%d@example.kz", l.tag, phase, worker, n)
	if l.same != "" {
		email = l.same
	}
	return fmt.Appendf(nil, `{"type":%q,"full_name":"Айгерим Нурланқызы","email":%q,`+
		`"phone":"+7 701 123 45 67","locale":%q,"consent":true,%s}`,
		t.typ, email, locales[n%int64(len(locales))], t.extra), email
}

func (l *loadRun) post(ctx context.Context, phase string, worker int) (string, error) {
	body, email := l.body(phase, worker)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return email, nil
}

// formFields are the form's text fields for each type, as in the JSON body.
var formFields = map[string][2]string{
	"access":             {"access_scope", "copy"},
	"rectification":      {"correction", "Фамилия записана с ошибкой: правильно Нурланқызы"},
	"erasure":            {"details", "Удалите мой аккаунт и все данные об успеваемости"},
	"restriction":        {"processing", "рассылка новостей"},
	"objection":          {"processing", "автоматическая оценка домашних заданий"},
	"consent_withdrawal": {"processing", "фото на сайте школы"},
	"portability":        {"details", "Нужна выгрузка оценок в CSV"},
}

var (
	csrfField   = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)
	formIDField = regexp.MustCompile(`name="form_id" value="([^"]*)"`)
	localeField = regexp.MustCompile(`name="locale" value="([^"]*)"`)
)

// submitForm is one browser submission: GET the form, POST it back.
func (l *loadRun) submitForm(ctx context.Context, phase string, worker int) (string, time.Duration, error) {
	client := l.clients[worker]
	n := l.seq.Add(1)
	t := types[n%int64(len(types))].typ
	page := l.url + "/request/" + t
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	html, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("GET %s: status %d", page, resp.StatusCode)
	}
	csrf, formID, locale := csrfField.FindSubmatch(html), formIDField.FindSubmatch(html), localeField.FindSubmatch(html)
	if csrf == nil || formID == nil || locale == nil {
		return "", 0, fmt.Errorf("GET %s: no _csrf, form_id or locale field", page)
	}
	email := fmt.Sprintf("bench-%s-%s-%d-%d@example.kz", l.tag, phase, worker, n)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	extra := formFields[t]
	for _, f := range [][2]string{
		{"_csrf", string(csrf[1])}, {"locale", string(locale[1])}, {"form_id", string(formID[1])},
		{"full_name", "Айгерим Нурланқызы"}, {"email", email}, {"phone", "+7 701 123 45 67"},
		{"consent", "true"}, extra,
	} {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return "", 0, err
		}
	}
	if err := mw.Close(); err != nil {
		return "", 0, err
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, page, &body)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	start := time.Now()
	resp, err = client.Do(req)
	if err != nil {
		return "", 0, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/thanks/") {
		return "", 0, fmt.Errorf("POST %s: status %d: %.200s", page, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return email, took, nil
}
