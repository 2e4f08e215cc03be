package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/app"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/testkit"
)

// threeOperatorsFile is the issue's two operators and a third, the
// typography course, which the switching account is no member of.
const threeOperatorsFile = issueOperatorsFile + `  - slug: kursiv
    BASE_URL: http://privacy.kursiv.kz
    ORG_NAME: Kursiv Typography
    PRIVACY_CONTACT_EMAIL: privacy@kursiv.kz
`

// switchWorld is a deployment of three operators on a clock the test moves.
type switchWorld struct {
	d                *app.Deployment
	srv              *httptest.Server
	pool             *pgxpool.Pool
	clock            *testkit.Clock
	web, flex, kursv *operatorWorld
}

func newSwitchWorld(t *testing.T) *switchWorld {
	t.Helper()
	smtp := testkit.StartSMTP(t)
	path := filepath.Join(t.TempDir(), "operators.yaml")
	if err := os.WriteFile(path, []byte(threeOperatorsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"OPERATORS_FILE": path, "SMTP_URL": smtp.URL(), "INTAKE_RATE_LIMIT": "0",
		"RIGHTSDESK_DATA_DIR": t.TempDir(), "ENCRYPTION_KEY": testkit.EncryptionKey,
	}
	set, err := operator.Load(func(n string) (string, bool) { v, ok := vars[n]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	w := &switchWorld{pool: testkit.DB(t), clock: testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))}
	w.d, err = app.BuildOperators(context.Background(), set, testkit.Keys(), w.pool, slog.New(slog.NewJSONHandler(io.Discard, nil)), app.Options{
		NoPeriodicJobs: true, RetryMax: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond, Clock: w.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runner := w.d.Apps[0].Runner
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(w.d.Handler)
	t.Cleanup(func() {
		w.srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = runner.Stop(sctx)
		cancel()
	})
	w.web = furnish(t, w.d, w.srv, w.pool, "webstapero", "privacy.webstapero.kz")
	w.flex = furnish(t, w.d, w.srv, w.pool, "flextok", "privacy.flextokxumare.kz")
	w.kursv = furnish(t, w.d, w.srv, w.pool, "kursiv", "privacy.kursiv.kz")
	settleDeployment(t, w.pool, w.web, w.flex, w.kursv)
	return w
}

// join makes the account a member of op in role, as a platform
// administrator would.
func (w *switchWorld) join(t *testing.T, st auth.Staff, op *operatorWorld, role auth.Role) {
	t.Helper()
	if _, err := w.pool.Exec(opscope.With(context.Background(), op.id),
		`INSERT INTO staff_operators (staff_id, operator_id, role) VALUES ($1, $2, $3)`, st.ID, op.id, role); err != nil {
		t.Fatal(err)
	}
}

var handoffPath = regexp.MustCompile(`^http://([a-z.]+)(/staff/switch/[A-Za-z0-9_-]+)$`)

// startSwitch presses the switcher's button for slug in c's workspace on
// host and returns the handoff's host and path; "" when refused, with the
// status.
func startSwitch(t *testing.T, c *http.Client, host, slug string) (string, string, int) {
	t.Helper()
	form := url.Values{"_csrf": {csrfOf(t, c, host)}, "operator": {slug}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+host+"/staff/switch", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", "", resp.StatusCode
	}
	m := handoffPath.FindStringSubmatch(resp.Header.Get("Location"))
	if m == nil {
		t.Fatalf("the switch went to %q, not to a handoff", resp.Header.Get("Location"))
	}
	return m[1], m[2], resp.StatusCode
}

// redeem opens the handoff's page on host in c and presses its button;
// it returns the button's answer and where it sends the browser.
func redeem(t *testing.T, c *http.Client, host, path string) (int, string) {
	t.Helper()
	code, page := send(t, c, http.MethodGet, host, path, "", "")
	if code != http.StatusOK || !strings.Contains(page, `action="`+path+`"`) {
		t.Fatalf("the handoff's page on %s: %d, no button to %s", host, code, path)
	}
	form := url.Values{"_csrf": {csrfOf(t, c, host)}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+host+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// signedInOn reports whether c's workspace on host shows the queue.
func signedInOn(t *testing.T, c *http.Client, host string) (bool, string) {
	t.Helper()
	code, page := send(t, c, http.MethodGet, host, "/staff", "", "")
	return code == http.StatusOK, page
}

// A member of two operators switches from one's workspace to the other's
// on that operator's own address, signed in without a password, and the
// switch is in both audit trails; the handoff works once, on its own
// operator only, for a member only, before it expires.
func TestAMemberOfTwoOperatorsSwitchesSignedIn(t *testing.T) {
	w := newSwitchWorld(t)
	w.join(t, w.web.admin, w.flex, auth.Agent)
	c := signInOn(t, w.srv, w.web.host, w.web.admin.Email)

	ok, page := signedInOn(t, c, w.web.host)
	if !ok || !strings.Contains(page, `id="switcher"`) || !strings.Contains(page, "Flextok Xumare") {
		t.Fatalf("webstapero's workspace shows no switcher to Flextok Xumare (signed in %v)", ok)
	}
	if strings.Contains(page, "Kursiv Typography") {
		t.Error("the switcher offers an operator the account is no member of")
	}
	if ok, _ := signedInOn(t, c, w.flex.host); ok {
		t.Fatal("signed in on flextok before switching")
	}
	host, path, _ := startSwitch(t, c, w.web.host, "flextok")
	if host != w.flex.host {
		t.Fatalf("the handoff is on %s, want %s", host, w.flex.host)
	}
	// Opening the page (twice, as a prefetch would) spends nothing.
	send(t, hostClient(t, w.srv), http.MethodGet, host, path, "", "")
	code, to := redeem(t, c, host, path)
	if code != http.StatusSeeOther || to != "/staff" {
		t.Fatalf("the handoff: %d to %q, want 303 to /staff", code, to)
	}
	ok, page = signedInOn(t, c, w.flex.host)
	if !ok || !strings.Contains(page, w.flex.reference) || strings.Contains(page, w.web.reference) {
		t.Fatalf("flextok's queue after the switch: signed in %v, own request %v, webstapero's %v",
			ok, strings.Contains(page, w.flex.reference), strings.Contains(page, w.web.reference))
	}
	if !strings.Contains(page, "Webstapero Dev Notes") {
		t.Error("flextok's workspace shows no switcher back to webstapero")
	}
	// Flextok made the account an agent: it works requests, manages no staff.
	if code, _ := send(t, c, http.MethodGet, w.flex.host, "/staff/apikeys", "", ""); code != http.StatusForbidden {
		t.Errorf("an agent of flextok on its API keys page: %d, want 403", code)
	}
	var out, in int
	if err := w.pool.QueryRow(opscope.With(context.Background(), w.web.id), `SELECT count(*) FROM events
		WHERE kind = 'staff_switched' AND actor_id = $1 AND (data->>'to_operator')::bigint = $2`, w.web.admin.ID, w.flex.id).Scan(&out); err != nil {
		t.Fatal(err)
	}
	if err := w.pool.QueryRow(opscope.With(context.Background(), w.flex.id), `SELECT count(*) FROM events
		WHERE kind = 'staff_signed_in' AND actor_id = $1 AND data->>'method' = 'switch' AND (data->>'from_operator')::bigint = $2`, w.web.admin.ID, w.web.id).Scan(&in); err != nil {
		t.Fatal(err)
	}
	if out != 1 || in != 1 {
		t.Errorf("audit: %d switches out in webstapero's trail, %d sign-ins by switch in flextok's; want 1 and 1", out, in)
	}

	t.Run("replayed", func(t *testing.T) {
		other := hostClient(t, w.srv)
		if code, _ := redeem(t, other, host, path); code != http.StatusNotFound {
			t.Errorf("the handoff used again: %d, want 404", code)
		}
		if ok, _ := signedInOn(t, other, w.flex.host); ok {
			t.Error("a replayed handoff signed a browser in")
		}
	})
	t.Run("on a third operator", func(t *testing.T) {
		if _, _, code := startSwitch(t, c, w.web.host, "kursiv"); code != http.StatusNotFound {
			t.Errorf("a switch to an operator the account is no member of: %d, want 404", code)
		}
		_, path, _ := startSwitch(t, c, w.web.host, "flextok")
		other := hostClient(t, w.srv)
		if code, _ := redeem(t, other, w.kursv.host, path); code != http.StatusNotFound {
			t.Errorf("a handoff to flextok used on kursiv: %d, want 404", code)
		}
		if ok, _ := signedInOn(t, other, w.kursv.host); ok {
			t.Error("a handoff to flextok signed in on kursiv")
		}
	})
	t.Run("membership removed", func(t *testing.T) {
		_, path, _ := startSwitch(t, c, w.web.host, "flextok")
		if _, err := w.pool.Exec(opscope.With(context.Background(), w.flex.id), `DELETE FROM staff_operators WHERE staff_id = $1 AND operator_id = $2`,
			w.web.admin.ID, w.flex.id); err != nil {
			t.Fatal(err)
		}
		defer w.join(t, w.web.admin, w.flex, auth.Agent)
		other := hostClient(t, w.srv)
		if code, _ := redeem(t, other, w.flex.host, path); code != http.StatusNotFound {
			t.Errorf("a handoff after the membership was removed: %d, want 404", code)
		}
		if ok, _ := signedInOn(t, other, w.flex.host); ok {
			t.Error("a former member was signed in by a handoff")
		}
	})
	t.Run("expired", func(t *testing.T) {
		_, path, _ := startSwitch(t, c, w.web.host, "flextok")
		w.clock.Advance(auth.HandoffFor + time.Second)
		other := hostClient(t, w.srv)
		if code, _ := redeem(t, other, w.flex.host, path); code != http.StatusNotFound {
			t.Errorf("a handoff a minute old: %d, want 404", code)
		}
		if ok, _ := signedInOn(t, other, w.flex.host); ok {
			t.Error("an expired handoff signed a browser in")
		}
	})
	t.Run("account disabled", func(t *testing.T) {
		// The last: the account stays disabled.
		_, path, _ := startSwitch(t, c, w.web.host, "flextok")
		if _, err := w.pool.Exec(context.Background(), `UPDATE staff SET disabled_at = now() WHERE id = $1`, w.web.admin.ID); err != nil {
			t.Fatal(err)
		}
		other := hostClient(t, w.srv)
		if code, _ := redeem(t, other, w.flex.host, path); code != http.StatusNotFound {
			t.Errorf("a handoff of a disabled account: %d, want 404", code)
		}
		if ok, _ := signedInOn(t, other, w.flex.host); ok {
			t.Error("a disabled account was signed in by a handoff")
		}
	})
}

// A member of one operator sees no switcher, and cannot make a handoff to
// an operator it is no member of by naming it.
func TestAMemberOfOneOperatorSeesNoSwitcher(t *testing.T) {
	w := newSwitchWorld(t)
	c := signInOn(t, w.srv, w.web.host, w.web.member.Email)
	ok, page := signedInOn(t, c, w.web.host)
	if !ok {
		t.Fatal("the member is not signed in")
	}
	if strings.Contains(page, `id="switcher"`) || strings.Contains(page, "/staff/switch") {
		t.Error("a member of one operator sees a switcher")
	}
	for _, slug := range []string{"flextok", "kursiv", "webstapero", "nobody"} {
		if _, _, code := startSwitch(t, c, w.web.host, slug); code != http.StatusNotFound {
			t.Errorf("a switch to %s: %d, want 404", slug, code)
		}
	}
}

// A switching account with a second factor types its code on the address
// it switches to: the handoff proves the password, never the code.
func TestASwitchAsksForTheSecondFactorOnTheOtherAddress(t *testing.T) {
	w := newSwitchWorld(t)
	w.join(t, w.web.member, w.flex, auth.Agent)
	c := signInOn(t, w.srv, w.web.host, w.web.member.Email)
	// The second factor is switched on after signing in (the account
	// page's enrolment), so this session did not type a code.
	if _, err := w.pool.Exec(context.Background(), `UPDATE staff SET totp_secret = $2, totp_enabled_at = now() WHERE id = $1`,
		w.web.member.ID, testkit.Keys().SealString(sealed.TOTPSecret, "JBSWY3DPEHPK3PXP")); err != nil {
		t.Fatal(err)
	}
	host, path, _ := startSwitch(t, c, w.web.host, "flextok")
	code, to := redeem(t, c, host, path)
	if code != http.StatusSeeOther || to != "/staff/login/code" {
		t.Fatalf("a handoff of an account with a second factor: %d to %q, want the code page", code, to)
	}
	if ok, _ := signedInOn(t, c, w.flex.host); ok {
		t.Error("signed in on flextok without the code")
	}
}

// fileOnHost files a request on host through the real intake (the JSON
// API, as a form would) from email.
func fileOnHost(t *testing.T, w *switchWorld, host, email string) string {
	t.Helper()
	body := encode(t, map[string]any{"type": "erasure", "full_name": "Данияр Серікұлы", "email": email,
		"locale": "kk", "consent": true})
	code, out := send(t, hostClient(t, w.srv), http.MethodPost, host, "/api/v1/requests", "application/json", body)
	if code != http.StatusCreated {
		t.Fatalf("%s: intake %d: %s", host, code, out)
	}
	return between(out, `"reference":"`, `"`)
}

// platformFigures reads the figures of slug's row of the platform page.
func platformFigures(t *testing.T, page, slug string) map[string]string {
	t.Helper()
	start := strings.Index(page, `<tr id="operator-`+slug+`">`)
	if start < 0 {
		t.Fatalf("the platform page has no row for %s", slug)
	}
	row := page[start:]
	row = row[:strings.Index(row, "</tr>")]
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`data-count="([a-z_]+)">([^<]*)<`).FindAllStringSubmatch(row, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// An account of the platform role that is no member of two operators signs
// in on either's address and sees every operator's counts, right, and
// nothing else: every request route of either is refused, and the page
// names no request, requester or staff member.
func TestAPlatformAccountSeesCountsOnlyAcrossOperators(t *testing.T) {
	w := newSwitchWorld(t)
	start := w.clock.Now()
	// Flextok has three requests, two filed 24 days after the first;
	// webstapero one, filed at the start (furnish's, as kursiv's).
	w.clock.Advance(24 * 24 * time.Hour)
	fileOnHost(t, w, w.flex.host, "daniyar@example.kz")
	fileOnHost(t, w, w.flex.host, "aliya@example.kz")
	settleDeployment(t, w.pool, w.web, w.flex, w.kursv)
	// 48 days on: the first requests are overdue, the later two due within
	// a week, and only those two came in in the last 30 days.
	w.clock.Set(start.Add(48 * 24 * time.Hour))

	// The platform account works for kursiv only.
	if _, err := w.kursv.app.Store.SetPlatform(context.Background(), w.kursv.member.Email, true, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, op := range []*operatorWorld{w.web, w.flex} {
		c := signInOn(t, w.srv, op.host, w.kursv.member.Email)
		code, _ := send(t, c, http.MethodGet, op.host, "/staff", "", "")
		if code != http.StatusSeeOther {
			t.Errorf("the queue on %s for the platform account: %d, want a redirect to the platform page", op.slug, code)
		}
		code, page := send(t, c, http.MethodGet, op.host, "/staff/platform", "", "")
		if code != http.StatusOK {
			t.Fatalf("the platform page on %s: %d", op.slug, code)
		}
		if !strings.Contains(page, "("+w.kursv.app.Catalog.Printer("ru").T("staff.role.platform")+")") {
			t.Errorf("the header on %s does not name the account's platform role", op.slug)
		}
		// Its one membership, kursiv's, is a button away, on its row.
		if row := page[strings.Index(page, `<tr id="operator-kursiv">`):]; strings.Count(page, "Открыть рабочее место (") != 1 ||
			!strings.Contains(row[:strings.Index(row, "</tr>")], `value="kursiv"`) {
			t.Errorf("the platform page on %s offers no switch to kursiv's workspace on its row, or offers more", op.slug)
		}
		want := map[string]map[string]string{
			"webstapero": {"open": "1", "overdue": "1", "due_soon": "0", "received": "0", "closed": "0", "unsent": "0"},
			"flextok":    {"open": "3", "overdue": "1", "due_soon": "2", "received": "2", "closed": "0", "unsent": "0"},
			"kursiv":     {"open": "1", "overdue": "1", "due_soon": "0", "received": "0", "closed": "0", "unsent": "0"},
		}
		for slug, figures := range want {
			got := platformFigures(t, page, slug)
			for k, v := range figures {
				if got[k] != v {
					t.Errorf("on %s, %s's %s: %q, want %s", op.slug, slug, k, got[k], v)
				}
			}
		}
		for _, o := range []*operatorWorld{w.web, w.flex, w.kursv} {
			for _, theirs := range []string{o.reference, o.admin.Email, o.member.Email, "aigerim@example.kz", "daniyar@example.kz", "Айгерим"} {
				if strings.Contains(page, theirs) {
					t.Errorf("the platform page on %s shows %q", op.slug, theirs)
				}
			}
		}
		// Every staff route of the operator, but the account's own and the
		// platform page, is refused, naming either operator's things.
		token := csrfOf(t, c, op.host)
		walked := 0
		for key, access := range op.app.Web.RouteAccess() {
			method, path, _ := strings.Cut(key, " ")
			if !strings.HasPrefix(access, "staff:") || access == "staff:"+string(auth.PermSelf) || access == "staff:"+string(auth.PermPlatform) {
				continue
			}
			for _, of := range []*operatorWorld{w.web, w.flex} {
				p := strings.ReplaceAll(path, ":reference", of.reference)
				if strings.Contains(p, ":id") {
					id, ok := idOf(path, of)
					if !ok {
						t.Errorf("%s: the walk does not know what its :id names; teach idOf", key)
						continue
					}
					p = strings.ReplaceAll(p, ":id", strconv.FormatInt(id, 10))
				}
				var code int
				var page string
				if method == http.MethodGet {
					code, page = send(t, c, method, op.host, p, "", "")
				} else {
					form := url.Values{"_csrf": {token}, "role": {"admin"}, "to": {"me"}, "text": {"x"}}
					code, page = send(t, c, method, op.host, p, "application/x-www-form-urlencoded", form.Encode())
				}
				walked++
				if p == "/staff" && code == http.StatusSeeOther {
					continue
				}
				if code != http.StatusForbidden && code != http.StatusNotFound {
					t.Errorf("%s %s as the platform account on %s: %d, want 403 or 404", method, p, op.slug, code)
				}
				if strings.Contains(page, of.reference) && !strings.Contains(p, of.reference) {
					t.Errorf("%s %s as the platform account on %s shows %s", method, p, op.slug, of.reference)
				}
			}
		}
		if walked < 40 {
			t.Errorf("walked %d routes: is the route table read?", walked)
		}
	}
	// Kursiv's own workspace is the account's as an agent, with the platform page.
	c := signInOn(t, w.srv, w.kursv.host, w.kursv.member.Email)
	if ok, page := signedInOn(t, c, w.kursv.host); !ok || !strings.Contains(page, `href="/staff/platform"`) {
		t.Errorf("kursiv's queue for its member of the platform role: signed in %v, no platform link", ok)
	}
	// A member without the role finds no platform page.
	m := signInOn(t, w.srv, w.web.host, w.web.admin.Email)
	if code, _ := send(t, m, http.MethodGet, w.web.host, "/staff/platform", "", ""); code != http.StatusNotFound {
		t.Errorf("the platform page for webstapero's admin: %d, want 404", code)
	}
}

// A switch starts no new working day: the session on the other address
// ends 12 hours after the password was typed on the first, however late
// in the day the switch came.
func TestASwitchNeverLengthensTheWorkingDay(t *testing.T) {
	w := newSwitchWorld(t)
	w.join(t, w.web.admin, w.flex, auth.Agent)
	c := signInOn(t, w.srv, w.web.host, w.web.admin.Email)
	for range 11 { // a working day on webstapero, never idle for long
		w.clock.Advance(time.Hour)
		if ok, _ := signedInOn(t, c, w.web.host); !ok {
			t.Fatal("signed out of webstapero during the day")
		}
	}
	host, path, _ := startSwitch(t, c, w.web.host, "flextok")
	if code, to := redeem(t, c, host, path); code != http.StatusSeeOther || to != "/staff" {
		t.Fatalf("the handoff: %d to %q", code, to)
	}
	w.clock.Advance(45 * time.Minute)
	if ok, _ := signedInOn(t, c, w.flex.host); !ok {
		t.Fatal("not signed in on flextok 11¾ hours into the day")
	}
	w.clock.Advance(30 * time.Minute)
	if ok, _ := signedInOn(t, c, w.flex.host); ok {
		t.Error("still signed in on flextok 12¼ hours after the password was typed on webstapero")
	}
}
