package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/config"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/testkit"
)

// TestStaffSignInOnAPathPrefixInTheBrowser serves one operator, as serve
// does, at a path of its host (BASE_URL http://127.0.0.1:port/privacy) and
// signs a member of staff in with Chromium: the workspace sends to the
// sign-in page under the prefix, the sign-in lands on the queue there, the
// browser keeps the session for the prefix's workspace only, and signing
// out comes back to the prefix's sign-in page.
func TestStaffSignInOnAPathPrefixInTheBrowser(t *testing.T) {
	smtp := testkit.StartSMTP(t)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String() + "/privacy"
	vars := map[string]string{
		"BASE_URL": base, "SMTP_URL": smtp.URL(), "ORG_NAME": "Онлайн-школа", "PRIVACY_CONTACT_EMAIL": "privacy@school.example.kz",
		"INTAKE_RATE_LIMIT": "0", "RIGHTSDESK_DATA_DIR": t.TempDir(), "ENCRYPTION_KEY": testkit.EncryptionKey,
	}
	cfg, err := config.Load(func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	set, err := operator.Single(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := app.BuildOperators(context.Background(), set, testkit.Keys(), testkit.DB(t), slog.New(slog.NewJSONHandler(io.Discard, nil)), app.Options{
		NoPeriodicJobs: true, RetryMax: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		Clock: testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, cfg.Location)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := d.Apps[0].Runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = d.Handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = d.Apps[0].Runner.Stop(sctx)
		cancel()
	})
	if _, err := d.Apps[0].Auth.CreateWithPassword(context.Background(), auth.AccountInput{Email: "erlan@school.example.kz",
		Name: "Ерлан", Role: string(auth.Agent), Locale: "ru", Password: apptest.StaffPassword}); err != nil {
		t.Fatal(err)
	}

	b := browser(t)
	open(t, b, base+"/staff")
	if loc := get(t, b, chromedp.Location()); !strings.HasPrefix(loc, base+"/staff/login?next=") {
		t.Fatalf("the workspace without a session opens %s, want the sign-in page under /privacy", loc)
	}
	run(t, b,
		chromedp.SendKeys(chromedp.CSS("#f-email"), "erlan@school.example.kz"),
		chromedp.SendKeys(chromedp.CSS("#f-password"), apptest.StaffPassword),
		chromedp.Click(`//main//button[normalize-space()="Войти"]`),
		chromedp.WaitVisible(chromedp.CSS("#q")),
	)
	if loc := get(t, b, chromedp.Location()); loc != base+"/staff" {
		t.Fatalf("signed in at %s, want the queue %s", loc, base+"/staff")
	}
	// The page's stylesheet came from under the prefix: the queue is laid out.
	if href := attr(t, b, `link[rel="stylesheet"]`, "href"); !strings.HasPrefix(href, "/privacy/static/") {
		t.Errorf("the stylesheet is %q, want it under /privacy/static/", href)
	}
	res, err := chromedp.Call(b, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/staff"}})
	if err != nil {
		t.Fatalf("browser cookies: %v", err)
	}
	found := false
	for _, ck := range res.Cookies {
		if ck.Name == "rd_staff" {
			found = true
			if ck.Path != "/privacy/staff" {
				t.Errorf("the session cookie's path is %q, want /privacy/staff", ck.Path)
			}
		}
	}
	if !found {
		t.Fatal("the browser holds no session cookie after signing in")
	}
	// The dashboard, by the navigation, and signing out, by its button.
	run(t, b,
		chromedp.Click(`//nav[@class="staffnav"]//a[normalize-space()="Сводка"]`),
		chromedp.WaitVisible(`//h1`),
	)
	if loc := get(t, b, chromedp.Location()); loc != base+"/staff/dashboard" {
		t.Errorf("the dashboard link opened %s", loc)
	}
	run(t, b,
		chromedp.Click(`//form[@class="signout"]//button`),
		chromedp.WaitVisible(chromedp.CSS("#f-email")),
	)
	if loc := get(t, b, chromedp.Location()); loc != base+"/staff/login" {
		t.Errorf("signing out opened %s, want %s", loc, base+"/staff/login")
	}
	open(t, b, base+"/staff")
	if loc := get(t, b, chromedp.Location()); !strings.HasPrefix(loc, base+"/staff/login") {
		t.Errorf("after signing out the workspace opens %s, want the sign-in page", loc)
	}
}
