package app

import (
	"log/slog"
	"testing"

	"rightsdesk/internal/config"
	"rightsdesk/internal/testkit"
)

// jitOf is the jit setting of a connection of the pool database opens for
// the DATABASE_URL url.
func jitOf(t *testing.T, url string) string {
	t.Helper()
	pool, stop, err := database(t.Context(), config.Config{DatabaseURL: url}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var jit string
	if err := pool.QueryRow(t.Context(), `SELECT current_setting('jit')`).Scan(&jit); err != nil {
		t.Fatal(err)
	}
	return jit
}

func TestThePortalsConnectionsRunWithoutJITUnlessTheURLSaysSo(t *testing.T) {
	url := testkit.DBURL(t)
	if got := jitOf(t, url); got != "off" {
		t.Errorf("jit = %q on the portal's connections, want off", got)
	}
	if got := jitOf(t, url+"&jit=on"); got != "on" {
		t.Errorf("jit = %q with jit=on in the URL, want on", got)
	}
	if got := jitOf(t, url+"&options=-c%20jit%3Don"); got != "on" {
		t.Errorf("jit = %q with options=-c jit=on in the URL, want on", got)
	}
}
