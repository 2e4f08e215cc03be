// Package testkit holds test helpers shared by rightsdesk's packages: the
// PostgreSQL test cluster, a database per test, an SMTP server.
package testkit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"rightsdesk/internal/pglocal"
)

// EnvPostgresURL names the variable holding the test cluster's superuser URL.
// `go run ./tools/withpg -- go test ./...` sets it once for a whole
// run; otherwise Main starts a cluster per test binary.
const EnvPostgresURL = "RIGHTSDESK_TEST_DATABASE_URL"

// Main is used from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
//
// When RIGHTSDESK_TEST_DATABASE_URL is unset it starts a private cluster for
// this test binary (so plain `go test ./internal/x` works), sets the variable,
// runs m and stops the cluster, removing its folder.
func Main(m *testing.M) int {
	if os.Getenv(EnvPostgresURL) != "" {
		return m.Run()
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := pglocal.StartTemporary(context.Background(), logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkit: start the test PostgreSQL: %v\n", err)
		return 1
	}
	stop := func() {
		if err := srv.Stop(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "testkit: stop the test PostgreSQL: %v\n", err)
		}
	}

	// An interrupted test binary runs no deferred code: stop the cluster and
	// remove its folder, then die of the signal as the test binary would have.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		stop()
		signal.Reset(sig)
		if s, ok := sig.(syscall.Signal); ok {
			// Re-raise the signal; nothing to do if that fails.
			_ = syscall.Kill(os.Getpid(), s)
			time.Sleep(time.Second) // delivery is asynchronous
		}
		os.Exit(1)
	}()

	_ = os.Setenv(EnvPostgresURL, srv.ConnString("postgres")) // cannot fail for a valid name
	code := m.Run()
	signal.Stop(signals)
	close(signals)
	stop()
	return code
}

// PostgresURL returns the superuser URL of the test cluster (database
// "postgres"). It fails the test when neither Main nor withpg provided one.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(EnvPostgresURL)
	if url == "" {
		tb.Fatalf("%s is unset: call testkit.Main from TestMain (func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }) "+
			"or run the tests under go run ./tools/withpg -- go test ./...", EnvPostgresURL)
	}
	return url
}
