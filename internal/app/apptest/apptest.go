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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/app"
	"rightsdesk/internal/config"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/store"
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
		"ENCRYPTION_KEY":        testkit.EncryptionKey,
	}
	for k, v := range env {
		vars[k] = v
	}
	pool := testkit.DB(tb)
	srv := httptest.NewUnstartedServer(nil)
	if _, ok := env["BASE_URL"]; !ok {
		// The portal's own address, unless the test plays a published one
		// (its links then lead nowhere).
		vars["BASE_URL"] = "http://" + srv.Listener.Addr().String()
	}
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
	// Workers look for jobs every 50 ms besides being woken by inserts;
	// JOB_POLL_INTERVAL (a test setting) changes that, e.g. to check the
	// wake-up alone.
	poll := 50 * time.Millisecond
	if v, ok := env["JOB_POLL_INTERVAL"]; ok {
		if poll, err = time.ParseDuration(v); err != nil {
			tb.Fatalf("JOB_POLL_INTERVAL: %v", err)
		}
	}
	a, err := app.Build(cfg, pool, logger, app.Options{
		NoPeriodicJobs: env["PERIODIC_JOBS"] != "on",
		Clock:          clock,
		RetryMax:       200 * time.Millisecond,
		PollInterval:   poll,
		// An operator's HTTP system that answers later is polled within a
		// test's patience, not every 30 seconds.
		PollFirst: 50 * time.Millisecond,
		PollMax:   200 * time.Millisecond,
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

// Request reads a request as staff see it, through the store (its personal
// fields are sealed in the database, so SQL cannot compare them).
func (in *Instance) Request(tb testing.TB, reference string) request.Request {
	tb.Helper()
	r, err := in.App.Store.RequestByReference(context.Background(), reference)
	if err != nil {
		tb.Fatalf("request %s: %v", reference, err)
	}
	return r
}

// Files lists a request's files as staff see them (names opened).
func (in *Instance) Files(tb testing.TB, reference string) []store.StoredFile {
	tb.Helper()
	files, err := in.App.Store.RequestFiles(context.Background(), in.Request(tb, reference).ID)
	if err != nil {
		tb.Fatalf("files of %s: %v", reference, err)
	}
	return files
}

// FileContent is a stored file's content, opened, without logging a
// download as staff pages would.
func (in *Instance) FileContent(tb testing.TB, fileID int64) []byte {
	tb.Helper()
	var content []byte
	if err := in.Pool.QueryRow(context.Background(), `SELECT content FROM files WHERE id = $1`, fileID).Scan(&content); err != nil {
		tb.Fatalf("file %d: %v", fileID, err)
	}
	plain, err := in.Config.Keys.Open(sealed.FileContent, content)
	if err != nil {
		tb.Fatalf("file %d: %v", fileID, err)
	}
	return plain
}

// EventTexts lists the text staff typed for every event of kind, across
// requests, oldest first.
func (in *Instance) EventTexts(tb testing.TB, kind string) []string {
	tb.Helper()
	rows, err := in.Pool.Query(context.Background(), `SELECT x.body FROM event_texts x JOIN events e ON e.id = x.event_id
		WHERE e.kind = $1 ORDER BY e.id`, kind)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	var body []byte
	if _, err := pgx.ForEachRow(rows, []any{&body}, func() error {
		text, err := in.Config.Keys.OpenString(sealed.EventText, body)
		out = append(out, text)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}
