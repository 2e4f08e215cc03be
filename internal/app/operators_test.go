package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/app"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// issueOperatorsFile is the issue's two operators as one deployment
// serves them: Webstapero Dev Notes promises no deadline of its own;
// Flextok Xumare answers "в течение 30 дней" from help@.
const issueOperatorsFile = `operators:
  - slug: webstapero
    BASE_URL: http://privacy.webstapero.kz
    ORG_NAME: Webstapero Dev Notes
    PRIVACY_CONTACT_EMAIL: privacy@webstapero.kz
  - slug: flextok
    BASE_URL: http://privacy.flextokxumare.kz
    ORG_NAME: Flextok Xumare
    PRIVACY_CONTACT_EMAIL: help@flextokxumare.kz
    MAIL_FROM: Flextok Xumare <help@flextokxumare.kz>
    PROMISED_DAYS: 30
`

// twoOperators starts one deployment serving both operators of the file.
func twoOperators(t *testing.T) (*app.Deployment, *httptest.Server, *testkit.SMTPServer) {
	t.Helper()
	return operatorsFrom(t, issueOperatorsFile, nil)
}

// twoOperatorsOnPool is twoOperators with the pool the deployment uses.
func twoOperatorsOnPool(t *testing.T) (*app.Deployment, *httptest.Server, *testkit.SMTPServer, *pgxpool.Pool) {
	t.Helper()
	return operatorsOnPool(t, issueOperatorsFile, nil)
}

// operatorsFrom starts one deployment serving the operators of file, with
// env over the test's environment.
func operatorsFrom(t *testing.T, file string, env map[string]string) (*app.Deployment, *httptest.Server, *testkit.SMTPServer) {
	t.Helper()
	d, srv, smtp, _ := operatorsOnPool(t, file, env)
	return d, srv, smtp
}

// operatorsOnPool is operatorsFrom with the pool the deployment uses.
func operatorsOnPool(t *testing.T, file string, env map[string]string) (*app.Deployment, *httptest.Server, *testkit.SMTPServer, *pgxpool.Pool) {
	t.Helper()
	smtp := testkit.StartSMTP(t)
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"OPERATORS_FILE": path, "SMTP_URL": smtp.URL(), "INTAKE_RATE_LIMIT": "0",
		"RIGHTSDESK_DATA_DIR": t.TempDir(), "ENCRYPTION_KEY": testkit.EncryptionKey,
	}
	for k, v := range env {
		vars[k] = v
	}
	set, err := operator.Load(func(n string) (string, bool) { v, ok := vars[n]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	pool := testkit.DB(t)
	d, err := app.BuildOperators(context.Background(), set, testkit.Keys(), pool, slog.New(slog.NewJSONHandler(io.Discard, nil)), app.Options{
		NoPeriodicJobs: true, RetryMax: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		Clock: testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runner := d.Apps[0].Runner
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler)
	t.Cleanup(func() {
		srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = runner.Stop(sctx)
		cancel()
	})
	return d, srv, smtp, pool
}

// on sends a request to the deployment as if it came on host.
func on(t *testing.T, srv *httptest.Server, host, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEachOperatorsLandingPageAndAcknowledgementFollowItsSettings(t *testing.T) {
	d, srv, smtp := twoOperators(t)

	code, web := on(t, srv, "privacy.webstapero.kz", http.MethodGet, "/", "")
	if code != http.StatusOK || !strings.Contains(web, "Webstapero Dev Notes") || strings.Contains(web, "Flextok") {
		t.Errorf("webstapero's landing page: %d, names Webstapero: %v, names Flextok: %v", code, strings.Contains(web, "Webstapero Dev Notes"), strings.Contains(web, "Flextok"))
	}
	code, flex := on(t, srv, "privacy.flextokxumare.kz", http.MethodGet, "/", "")
	if code != http.StatusOK || !strings.Contains(flex, "Flextok Xumare") || strings.Contains(flex, "Webstapero") {
		t.Errorf("flextok's landing page: %d, names Flextok: %v, names Webstapero: %v", code, strings.Contains(flex, "Flextok Xumare"), strings.Contains(flex, "Webstapero"))
	}
	if code, _ := on(t, srv, "privacy.elsewhere.kz", http.MethodGet, "/", ""); code != http.StatusNotFound {
		t.Errorf("an address no operator has: %d, want 404", code)
	}

	// The same person files with both.
	body := encode(t, map[string]any{"type": "access", "access_scope": "copy", "full_name": "Айгерим Нурланқызы",
		"email": "aigerim@example.kz", "locale": "ru", "consent": true})
	refs := map[string]string{}
	for _, host := range []string{"privacy.webstapero.kz", "privacy.flextokxumare.kz"} {
		code, out := on(t, srv, host, http.MethodPost, "/api/v1/requests", body)
		if code != http.StatusCreated {
			t.Fatalf("%s: intake %d: %s", host, code, out)
		}
		refs[host] = between(out, `"reference":"`, `"`)
	}
	acks := map[string]string{}
	deadline := time.Now().Add(20 * time.Second)
	for len(acks) < 2 && time.Now().Before(deadline) {
		for _, m := range smtp.Mailbox("aigerim@example.kz") {
			for host, ref := range refs {
				if strings.Contains(m.Subject+m.Text, ref) {
					acks[host] = m.Header.Get("From")
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := acks["privacy.flextokxumare.kz"]; !strings.Contains(got, "help@flextokxumare.kz") {
		t.Errorf("flextok's acknowledgement came from %q, want help@flextokxumare.kz", got)
	}
	if got := acks["privacy.webstapero.kz"]; !strings.Contains(got, "no-reply@privacy.webstapero.kz") {
		t.Errorf("webstapero's acknowledgement came from %q, want its own no-reply address", got)
	}
	// Each privacy contact is told of its own operator's request only.
	for _, contact := range []string{"help@flextokxumare.kz", "privacy@webstapero.kz"} {
		if n := len(smtp.WaitForMail(t, contact, "", 10*time.Second).To); n == 0 || len(smtp.Mailbox(contact)) != 1 {
			t.Errorf("%s got %d notices, want one (its own operator's request)", contact, len(smtp.Mailbox(contact)))
		}
	}

	// A search by the address finds only the current operator's request;
	// the other's reference is not found at all.
	for slug, c := range map[string]struct{ own, other string }{
		"webstapero": {refs["privacy.webstapero.kz"], refs["privacy.flextokxumare.kz"]},
		"flextok":    {refs["privacy.flextokxumare.kz"], refs["privacy.webstapero.kz"]},
	} {
		a, _ := d.App(slug)
		found, err := a.Store.Queue(context.Background(), store.QueueFilter{Tab: store.TabAll, Search: "aigerim@example.kz"}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(found.Rows) != 1 || found.Rows[0].Reference != c.own {
			t.Errorf("%s: the search found %d requests, want only its own %s", slug, len(found.Rows), c.own)
		}
		if _, err := a.Store.RequestByReference(context.Background(), c.other); err != request.ErrNotFound {
			t.Errorf("%s: the other operator's request: %v, want not found", slug, err)
		}
	}
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}
