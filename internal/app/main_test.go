package app_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"rightsdesk/internal/app"
	"rightsdesk/internal/config"
	"rightsdesk/internal/testkit"
)

// childServe, set in a child's environment, makes the test binary run
// `rightsdesk serve` instead of the tests: a real process that a test can
// kill (crash_test.go).
const childServe = "RIGHTSDESK_TEST_CHILD_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(childServe) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := app.Main(ctx, []string{"serve"}, config.FromOS(), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(testkit.MainWithMySQL(m))
}
