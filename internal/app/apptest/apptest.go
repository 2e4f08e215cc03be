// Package apptest starts a whole rightsdesk instance for tests: a fresh
// database, a real SMTP server on loopback, the job workers and the HTTP
// server, with a clock the test controls.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/app"
	"rightsdesk/internal/config"
	"rightsdesk/internal/testkit"
)

// Instance is a running rightsdesk.
type Instance struct {
	URL    string
	App    *app.App
	Config config.Config
	Pool   *pgxpool.Pool
	SMTP   *testkit.SMTPServer
	Clock  *testkit.Clock
	Server *httptest.Server
	logs   *testkit.Buffer
}

// Logs returns everything the instance logged, for tests that check what a
// log must never contain.
func (in *Instance) Logs() string { return in.logs.String() }

// Start runs an instance; env overrides the test defaults (any variable
// from the README). The instance stops when the test ends.
func Start(tb testing.TB, env map[string]string) *Instance {
	tb.Helper()
	smtp := testkit.StartSMTP(tb)
	vars := map[string]string{
		"SMTP_URL":              smtp.URL(),
		"PRIVACY_CONTACT_EMAIL": "privacy@school.example.kz",
		"MAIL_FROM":             "Школа <privacy@school.example.kz>",
		"ORG_NAME":              "Онлайн-школа",
		"INTAKE_RATE_LIMIT":     "0",
		"RIGHTSDESK_DATA_DIR":   tb.TempDir(),
	}
	for k, v := range env {
		vars[k] = v
	}
	pool := testkit.DB(tb)
	srv := httptest.NewUnstartedServer(nil)
	vars["BASE_URL"] = "http://" + srv.Listener.Addr().String()
	cfg, err := config.Load(func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
	if err != nil {
		tb.Fatalf("test configuration: %v", err)
	}
	clock := testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, cfg.Location))
	level := slog.LevelInfo
	logs := &testkit.Buffer{}
	var out io.Writer = logs
	if os.Getenv("RIGHTSDESK_TEST_LOG") != "" {
		out = io.MultiWriter(logs, os.Stderr)
	}
	logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}))
	a, err := app.Build(cfg, pool, logger, app.Options{
		NoPeriodicJobs: env["PERIODIC_JOBS"] != "on",
		Clock:          clock,
		RetryMax:       200 * time.Millisecond,
		PollInterval:   50 * time.Millisecond,
	})
	if err != nil {
		tb.Fatalf("build app: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Runner.Start(ctx); err != nil {
		tb.Fatalf("start jobs: %v", err)
	}
	srv.Config.Handler = a.Handler
	srv.Start()
	tb.Cleanup(func() {
		srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = a.Runner.Stop(sctx)
		cancel()
	})
	return &Instance{URL: srv.URL, App: a, Config: cfg, Pool: pool, SMTP: smtp, Clock: clock, Server: srv, logs: logs}
}

// Count runs a COUNT query and returns the number.
func (in *Instance) Count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := in.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("count: %v", err)
	}
	return n
}
