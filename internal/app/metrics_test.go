package app_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/config"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/metrics"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// scrape fetches url and returns the exposition text.
func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// sample returns the value of the series name with exactly labels (in the
// exposition's sorted order, e.g. `route="/x",status="2xx"`), and whether it
// is there.
func sample(text, name, labels string) (float64, bool) {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	for _, line := range strings.Split(text, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1]+m[2] != want {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		return v, err == nil
	}
	return 0, false
}

func TestMetricsShowTrafficRequestsAndDeliveries(t *testing.T) {
	inst := apptest.Start(t, nil)
	ops := httptest.NewServer(inst.App.Metrics.OpsHandler())
	t.Cleanup(ops.Close)
	ctx := context.Background()

	// Six submissions of three types; each sends two emails.
	var secrets []string // what must never appear in a label
	types := []request.Type{request.Access, request.Erasure, request.Rectification}
	for i := range 6 {
		body := validBody(types[i%len(types)], "ru")
		body["email"] = "metrics" + strconv.Itoa(i) + "@example.kz"
		code, out, _ := postJSON(t, inst, encode(t, body))
		if code != http.StatusCreated {
			t.Fatalf("submit %d: %d %v", i, code, out)
		}
		ref, _ := out["reference"].(string)
		statusPath := mailedStatusPath(t, inst, body["email"].(string), ref)
		token := statusPath[strings.LastIndex(statusPath, "/")+1:]
		secrets = append(secrets, body["email"].(string), ref, token)
		// The status page by its link: the route is "/s/:token".
		if i == 0 {
			if resp, _ := get(t, browser(t), inst.URL+statusPath); resp.StatusCode != http.StatusOK {
				t.Fatalf("status page: %d", resp.StatusCode)
			}
		}
	}
	secrets = append(secrets, "Айгерим", "Нурланқызы", "student-4411", "+7 701")
	// A path that matches no route, holding something secret-looking.
	if resp, _ := get(t, browser(t), inst.URL+"/no-such-door/"+secrets[2]); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	inst.SMTP.WaitForMessages(t, 12, 30*time.Second)
	inst.Settle(t)

	// Move some requests on: two confirmed and overdue, one completed.
	now := inst.Clock.Now()
	if _, err := inst.Pool.Exec(ctx, `UPDATE requests SET status = 'new', due_at = $1
		WHERE id IN (SELECT id FROM requests ORDER BY id LIMIT 2)`, now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(ctx, `UPDATE requests SET status = 'completed', closed_at = $1
		WHERE id = (SELECT max(id) FROM requests)`, now); err != nil {
		t.Fatal(err)
	}

	code, text := scrape(t, ops.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d: %s", code, text)
	}

	// HTTP: the six submissions under the route pattern, with latency.
	if n, _ := sample(text, "rightsdesk_http_request_duration_seconds_count", `method="POST",route="/api/v1/requests",status="2xx"`); n != 6 {
		t.Errorf("POST /api/v1/requests 2xx count = %v, want 6", n)
	}
	if s, ok := sample(text, "rightsdesk_http_request_duration_seconds_sum", `method="POST",route="/api/v1/requests",status="2xx"`); !ok || s <= 0 {
		t.Errorf("POST /api/v1/requests latency sum = %v", s)
	}
	if _, ok := sample(text, "rightsdesk_http_request_duration_seconds_bucket", `method="POST",route="/api/v1/requests",status="2xx",le="0.25"`); !ok {
		t.Error("no latency histogram buckets for /api/v1/requests")
	}
	if n, _ := sample(text, "rightsdesk_http_request_duration_seconds_count", `method="GET",route="/s/:token",status="2xx"`); n != 1 {
		t.Errorf("GET /s/:token count = %v, want 1", n)
	}
	if n, _ := sample(text, "rightsdesk_http_request_duration_seconds_count", `method="GET",route="unmatched",status="4xx"`); n != 1 {
		t.Errorf("unmatched 4xx count = %v, want 1", n)
	}

	// Requests by type and status, open and overdue: as in the database.
	rows, err := inst.Pool.Query(ctx, `SELECT type, status, count(*) FROM requests GROUP BY type, status`)
	if err != nil {
		t.Fatal(err)
	}
	inDB := map[string]float64{}
	for rows.Next() {
		var typ, status string
		var n float64
		if err := rows.Scan(&typ, &status, &n); err != nil {
			t.Fatal(err)
		}
		inDB[typ+"/"+status] = n
	}
	rows.Close()
	for _, typ := range request.AllTypes() {
		for _, st := range request.AllStatuses() {
			got, ok := sample(text, "rightsdesk_requests", `status="`+string(st)+`",type="`+string(typ)+`"`)
			if !ok || got != inDB[string(typ)+"/"+string(st)] {
				t.Errorf("rightsdesk_requests{%s,%s} = %v (present %v), database %v", typ, st, got, ok, inDB[string(typ)+"/"+string(st)])
			}
		}
		var open, overdue float64
		if err := inst.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE due_at < $2) FROM requests
			WHERE type = $1 AND `+store.StatusIn("status", request.OpenStatuses()), typ, now).Scan(&open, &overdue); err != nil {
			t.Fatal(err)
		}
		if got, _ := sample(text, "rightsdesk_requests_open", `type="`+string(typ)+`"`); got != open {
			t.Errorf("open %s = %v, database %v", typ, got, open)
		}
		if got, _ := sample(text, "rightsdesk_requests_overdue", `type="`+string(typ)+`"`); got != overdue {
			t.Errorf("overdue %s = %v, database %v", typ, got, overdue)
		}
	}
	var totalOverdue float64
	for _, typ := range request.AllTypes() {
		v, _ := sample(text, "rightsdesk_requests_overdue", `type="`+string(typ)+`"`)
		totalOverdue += v
	}
	if totalOverdue != 2 {
		t.Errorf("overdue in all = %v, want 2", totalOverdue)
	}

	// Email outcomes on this instance, and nothing left unsent.
	if n, _ := sample(text, "rightsdesk_email_deliveries_total", `outcome="sent"`); n != 12 {
		t.Errorf("emails sent = %v, want 12", n)
	}
	if n, ok := sample(text, "rightsdesk_email_deliveries_total", `outcome="refused"`); !ok || n != 0 {
		t.Errorf("emails refused = %v (present %v), want a zero series", n, ok)
	}
	if n, ok := sample(text, "rightsdesk_emails_unsent", `state="queued"`); !ok || n != 0 {
		t.Errorf("emails queued = %v (present %v)", n, ok)
	}
	if up, _ := sample(text, "rightsdesk_db_scrape_up", ""); up != 1 {
		t.Errorf("db_scrape_up = %v; logs: %s", up, inst.Logs())
	}
	if _, ok := sample(text, "rightsdesk_db_pool_connections", `state="max"`); !ok {
		t.Error("no connection pool metrics")
	}

	// No label holds a reference, an address, a token or a name.
	for _, line := range strings.Split(text, "\n") {
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("the metrics hold %q: %s", s, line)
			}
		}
		if strings.Contains(line, "@") {
			t.Errorf("an address in the metrics: %s", line)
		}
	}
}

func TestMetricsCountJobsAndRefusedEmails(t *testing.T) {
	inst := apptest.Start(t, nil)
	ops := httptest.NewServer(inst.App.Metrics.OpsHandler())
	t.Cleanup(ops.Close)
	inst.SMTP.SetRejecting(550)
	if code, out, _ := postJSON(t, inst, encode(t, validBody(request.Access, "en"))); code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	var text string
	for time.Now().Before(deadline) {
		_, text = scrape(t, ops.URL+"/metrics")
		if n, _ := sample(text, "rightsdesk_email_deliveries_total", `outcome="refused"`); n == 2 {
			if g, _ := sample(text, "rightsdesk_jobs_given_up_last_hour", `kind="deliver_email",state="cancelled"`); g == 1 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, _ := sample(text, "rightsdesk_email_deliveries_total", `outcome="refused"`); n != 2 {
		t.Errorf("refused = %v, want 2\n%s", n, text)
	}
	if n, _ := sample(text, "rightsdesk_emails_unsent", `state="failed"`); n != 2 {
		t.Errorf("emails failed = %v, want 2", n)
	}
	// Both emails of the submission travel in one job.
	if n, _ := sample(text, "rightsdesk_jobs_given_up_last_hour", `kind="deliver_email",state="cancelled"`); n != 1 {
		t.Errorf("given up = %v, want 1", n)
	}

	// A job waiting in the queue shows as depth, with its age.
	if _, err := inst.Pool.Exec(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at)
		VALUES ('{}', 'metrics_probe', 1, 1, 'probe', 'available', now() - interval '90 seconds')`); err != nil {
		t.Fatal(err)
	}
	_, text = scrape(t, ops.URL+"/metrics")
	if n, _ := sample(text, "rightsdesk_jobs", `kind="metrics_probe",queue="probe",state="available"`); n != 1 {
		t.Errorf("waiting probe job = %v, want 1", n)
	}
	if age, _ := sample(text, "rightsdesk_jobs_oldest_available_seconds", `queue="probe"`); age < 90 {
		t.Errorf("oldest available = %v s, want ≥ 90", age)
	}
	// The worker and the metrics agree on the outcome names.
	if jobs.OutcomeSent != metrics.EmailSent || jobs.OutcomeFailed != metrics.EmailFailed || jobs.OutcomeRefused != metrics.EmailRefused {
		t.Error("jobs and metrics name the delivery outcomes differently")
	}
}

func TestPublicListenerHasNoMetricsNorProfiler(t *testing.T) {
	inst := apptest.Start(t, nil)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if resp, _ := get(t, browser(t), inst.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", path, resp.StatusCode)
		}
	}
	// A signed-in admin gets no further: the public listener has no such door.
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	c := inst.SignIn(t, "admin@school.example.kz")
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if resp, _ := inst.Get(t, c, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("public %s as admin: %d, want 404", path, resp.StatusCode)
		}
	}
	ops := httptest.NewServer(inst.App.Metrics.OpsHandler())
	t.Cleanup(ops.Close)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if code, _ := scrape(t, ops.URL+path); code != http.StatusOK {
			t.Errorf("operations listener %s: %d, want 200", path, code)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// serveConfig is the configuration of a real serve on the test database,
// delivering to smtp, on a free LISTEN_ADDR; extra is set on top.
func serveConfig(t *testing.T, smtp *testkit.SMTPServer, extra map[string]string) config.Config {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL": testkit.DBURL(t), "ENCRYPTION_KEY": testkit.EncryptionKey, "SMTP_URL": smtp.URL(),
		"LISTEN_ADDR": freePort(t), "RIGHTSDESK_DATA_DIR": t.TempDir(),
	}
	maps.Copy(vars, extra)
	cfg, err := config.Load(func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startServe runs app.Serve in the background. stop ends it and fails the
// test unless Serve returns, without error, within a minute.
func startServe(t *testing.T, cfg config.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Serve did not return after the context ended")
		}
	}
}

func TestMetricsListenerStopsWithTheServer(t *testing.T) {
	listen, metricsAddr := freePort(t), freePort(t)
	cfg := serveConfig(t, testkit.StartSMTP(t), map[string]string{"LISTEN_ADDR": listen, "METRICS_ADDR": metricsAddr})
	stop := startServe(t, cfg)

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics listener never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := scrape(t, "http://"+listen+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}
	if code, _ := scrape(t, "http://"+listen+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on LISTEN_ADDR: %d, want 404", code)
	}
	if code, text := scrape(t, "http://"+metricsAddr+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(text, "goroutine") {
		t.Errorf("/debug/pprof/ on METRICS_ADDR: %d", code)
	}

	stop()
	for _, addr := range []string{metricsAddr, listen} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			t.Errorf("%s still accepts connections after Serve returned", addr)
		}
	}
}

func TestTakenMetricsAddrStopsTheStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := serveConfig(t, testkit.StartSMTP(t), map[string]string{"METRICS_ADDR": taken.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = app.Serve(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("Serve with METRICS_ADDR taken: %v, want an error naming METRICS_ADDR", err)
	}
}

// TestShutdownClosesTheKeptSMTPConnections: delivery keeps SMTP connections
// open between emails; when serve stops they are ended (QUIT), not left to
// the relay's idle timeout.
func TestShutdownClosesTheKeptSMTPConnections(t *testing.T) {
	smtp := testkit.StartSMTP(t)
	listen := freePort(t)
	stop := startServe(t, serveConfig(t, smtp, map[string]string{"LISTEN_ADDR": listen, "INTAKE_RATE_LIMIT": "0"}))
	waitFor(t, 30*time.Second, func() bool {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	body := `{"type":"erasure","full_name":"Ерлан Ахметов","email":"erlan@example.kz","locale":"ru","consent":true}`
	resp, err := http.Post("http://"+listen+"/api/v1/requests", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submission: %d", resp.StatusCode)
	}
	smtp.WaitForMessages(t, 1, 20*time.Second)
	waitFor(t, 10*time.Second, func() bool { return smtp.OpenConnections() > 0 })

	stop()
	waitFor(t, 5*time.Second, func() bool { return smtp.OpenConnections() == 0 })
}
