package app_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
)

// browser is a plain HTTP client with cookies that does not follow
// redirects, so tests see each answer as it is.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func formToken(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page")
	}
	return m[1]
}

func erasureForm(token string) url.Values {
	return url.Values{
		"_csrf": {token}, "locale": {"ru"}, "full_name": {"Ерлан Сапаров"}, "email": {"erlan@example.kz"},
		"details": {"Удалите, пожалуйста, мой аккаунт."}, "consent": {"true"},
	}
}

func TestFormSubmissionLeadsToAReceipt(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/erasure")
	if !strings.Contains(page, `<html lang="ru">`) || !strings.Contains(page, "Удаление данных") {
		t.Fatalf("the erasure form is not in Russian")
	}
	resp, _ := post(t, c, inst.URL+"/request/erasure", erasureForm(formToken(t, page)))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/thanks/") {
		t.Fatalf("submit: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, receipt := get(t, c, inst.URL+resp.Header.Get("Location"))
	ref := regexp.MustCompile(`RD-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(receipt)
	if resp.StatusCode != http.StatusOK || ref == "" || !strings.Contains(receipt, "Запрос принят") {
		t.Fatalf("receipt: %d, reference %q", resp.StatusCode, ref)
	}
	if !strings.Contains(receipt, "1 апреля 2026 года") {
		t.Errorf("receipt does not show the due date in Russian")
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("receipt may be cached: %q", resp.Header.Get("Cache-Control"))
	}
	if r := inst.Request(t, ref); r.Type != "erasure" || r.Email != "erlan@example.kz" {
		t.Errorf("request %s stored as %s %q", ref, r.Type, r.Email)
	}
	if strings.Contains(receipt, "/s/") || strings.Contains(receipt, "/confirm/") || !strings.Contains(receipt, "Проверьте почту") {
		t.Fatal("the receipt links the request instead of sending the person to their email")
	}
	// The status page is reached from the acknowledgement in the mailbox.
	_, status := get(t, c, inst.URL+mailedStatusPath(t, inst, "erlan@example.kz", ref))
	if !strings.Contains(status, ref) || !strings.Contains(status, "Ждём подтверждения адреса") || !strings.Contains(status, "осталось 30 дней") {
		t.Errorf("status page lacks reference, state or days left")
	}
}

func TestFormWithoutCSRFTokenIsRefusedAndNothingStored(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/erasure")
	token := formToken(t, page)

	noToken := erasureForm(token)
	noToken.Del("_csrf")
	resp, body := post(t, c, inst.URL+"/request/erasure", noToken)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Форма устарела") {
		t.Errorf("missing token: %d", resp.StatusCode)
	}
	resp, _ = post(t, c, inst.URL+"/request/erasure", erasureForm(strings.Repeat("x", len(token))))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	// A cross-site post from a browser is refused even with a token.
	req, _ := http.NewRequest(http.MethodPost, inst.URL+"/request/erasure", strings.NewReader(erasureForm(token).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d", resp.StatusCode)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("%d requests stored without a valid token", n)
	}
}

func TestFormErrorsAreShownNextToTheFieldsAndKeepTheInput(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/access", "Accept-Language", "kk")
	if !strings.Contains(page, `<html lang="kk">`) {
		t.Fatal("Accept-Language kk did not give the Kazakh page")
	}
	form := url.Values{"_csrf": {formToken(t, page)}, "locale": {"kk"}, "full_name": {"Әсел <script>alert(1)</script>"}, "email": {"not-an-email"}}
	resp, body := post(t, c, inst.URL+"/request/access", form)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	for _, want := range []string{
		`class="error-summary" role="alert"`,
		`href="#f-email"`,
		`id="f-email-error"`,
		`aria-describedby="f-email-hint f-email-error"`,
		"Электрондық пошта мекенжайын енгізіңіз",
		"Нұсқалардың бірін таңдаңыз.",
		`value="not-an-email"`,
		"Әсел &lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("input was echoed unescaped")
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("%d requests stored", n)
	}
}

func TestLanguageChoiceIsRemembered(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	resp, _ := get(t, c, inst.URL+"/lang/en?next="+url.QueryEscape("/request/erasure"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/request/erasure" {
		t.Fatalf("switch: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := get(t, c, inst.URL+"/request/erasure", "Accept-Language", "ru")
	if !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "Delete your data") {
		t.Error("the chosen language was not remembered over Accept-Language")
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		resp, _ := get(t, c, inst.URL+"/lang/kk?next="+url.QueryEscape(next))
		if resp.Header.Get("Location") != "/" {
			t.Errorf("next=%q redirected to %q", next, resp.Header.Get("Location"))
		}
	}
}

func TestStatusLinksGiveNothingAway(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	_, malformed := get(t, c, inst.URL+"/s/nonsense")
	resp, unknown := get(t, c, inst.URL+"/s/"+strings.Repeat("A", 43))
	if resp.StatusCode != http.StatusNotFound || mainOf(malformed) != mainOf(unknown) || !strings.Contains(unknown, "Ссылка недействительна") {
		t.Errorf("a malformed and an unknown token must get the same not-valid page (status %d)", resp.StatusCode)
	}
}

func TestPagesCarrySecurityHeadersAndNoScript(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	resp, page := get(t, c, inst.URL+"/")
	h := resp.Header
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Frame-Options") != "DENY" ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("security headers: %v", h)
	}
	if strings.Contains(page, "<script") {
		t.Error("a page carries a script")
	}
	css := regexp.MustCompile(`href="(/static/style\.[0-9a-f]+\.css)"`).FindStringSubmatch(page)
	if css == nil {
		t.Fatal("no hashed stylesheet link")
	}
	resp, _ = get(t, c, inst.URL+css[1])
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("stylesheet: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestRoutesEachStateTheirAccess(t *testing.T) {
	inst := apptest.Start(t, nil)
	access := inst.App.Web.RouteAccess()
	for _, r := range inst.App.Web.Routes() {
		if r.Method == "echo_route_not_found" || strings.HasPrefix(r.Name, "echo_route_not_found") {
			continue
		}
		if access[r.Method+" "+r.Path] == "" {
			t.Errorf("%s %s is registered without an access decision", r.Method, r.Path)
		}
	}
	// Every door anyone may open is listed here: declaring a new route public
	// is a decision a reviewer sees in this test's diff.
	public := map[string]bool{
		"GET /": true, "GET /request/:type": true, "POST /request/:type": true,
		"GET /thanks/:receipt": true, "GET /s/:token": true, "POST /s/:token/reply": true,
		"GET /s/:token/withdraw": true, "POST /s/:token/withdraw": true,
		"POST /s/:token/files/:id/link": true, "GET /d/:token": true,
		"GET /status": true, "POST /status": true,
		"GET /confirm/:token": true, "POST /confirm/:token": true,
		"GET /lang/:locale": true, "POST /api/v1/requests": true, "GET /api/v1/openapi.json": true,
		"GET /healthz": true, "GET /readyz": true, "GET /static/*": true,
		// Signing in and setting a password from an invitation.
		"GET /staff/login": true, "POST /staff/login": true,
		"GET /staff/login/code": true, "POST /staff/login/code": true,
		"GET /staff/password/:token": true, "POST /staff/password/:token": true,
		// Spending a switcher's handoff on the operator it names (issue 15).
		"GET /staff/switch/:token": true, "POST /staff/switch/:token": true,
		// An operator's HTTP system reporting how an action went: trusted
		// only once its signature verifies (TestAttackForgedReplayedOrUnknownCallbacksChangeNothing).
		"POST /datamap/callback/:system": true,
	}
	// POSTs that change nothing: showing a data map plan reads the systems
	// only, and is a POST so that a rectification's corrected values stay
	// out of addresses and logs. Auditors may see it, not approve it.
	readOnlyPosts := map[string]bool{"POST /staff/requests/:reference/plan": true}
	for route, level := range access {
		method, _, _ := strings.Cut(route, " ")
		switch kind, perm, _ := strings.Cut(level, ":"); {
		case level == "public":
			if !public[route] {
				t.Errorf("%s is public but not on the list of public doors", route)
			}
		case kind == "public+apikey":
			// Anyone, or a key whose role holds the permission: only the
			// JSON intake, where an operator's system vouches for a requester.
			if route != "POST /api/v1/requests" || !public[route] || perm != string(auth.PermRequestsVouch) {
				t.Errorf("%s is open to anyone or to keys with %q", route, perm)
			}
		case level == "dev":
			if route != "GET /dev/mailbox" {
				t.Errorf("%s uses the development access level", route)
			}
		case kind == "staff" || kind == "apikey":
			known := false
			for _, p := range auth.Perms() {
				known = known || string(p) == perm
			}
			if !known {
				t.Errorf("%s needs %q, which is no permission", route, perm)
			}
			// A route that changes something must need a permission auditors lack.
			if method != http.MethodGet && !auth.Perm(perm).Writes() && auth.Perm(perm) != auth.PermSelf && !readOnlyPosts[route] {
				t.Errorf("%s changes data with the read permission %q", route, perm)
			}
		default:
			t.Errorf("%s has the unknown access level %q", route, level)
		}
	}
}

func TestDevMailboxIsHiddenWhenSMTPIsConfigured(t *testing.T) {
	// With SMTP configured (apptest always has it) there is no dev mailbox.
	inst := apptest.Start(t, nil)
	if resp, _ := get(t, browser(t), inst.URL+"/dev/mailbox"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("dev mailbox with SMTP configured: %d", resp.StatusCode)
	}
}

// mainOf is the page's main content, without the header's language links
// (which carry the current path).
func mainOf(page string) string {
	start, end := strings.Index(page, "<main"), strings.Index(page, "</main>")
	if start < 0 || end < start {
		return ""
	}
	return page[start:end]
}

func TestEveryPageRendersInEveryLanguage(t *testing.T) {
	inst := apptest.Start(t, nil)
	paths := []string{"/", "/s/nonsense", "/no/such/page"}
	for _, typ := range []string{"access", "rectification", "erasure", "restriction", "objection", "consent_withdrawal", "portability"} {
		paths = append(paths, "/request/"+typ)
	}
	for _, lang := range []string{"ru", "kk", "en"} {
		c := browser(t)
		get(t, c, inst.URL+"/lang/"+lang)
		for _, p := range paths {
			resp, page := get(t, c, inst.URL+p)
			if resp.StatusCode >= 500 {
				t.Errorf("%s %s: status %d", lang, p, resp.StatusCode)
			}
			if !strings.Contains(page, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: wrong language", lang, p)
			}
			if strings.Contains(page, "missing:") {
				t.Errorf("%s %s: untranslated message: %s", lang, p, page[strings.Index(page, "missing:")-3:][:60])
			}
		}
		// A submission with every error shows every message translated.
		_, form := get(t, c, inst.URL+"/request/rectification")
		resp, page := post(t, c, inst.URL+"/request/rectification", url.Values{"_csrf": {formToken(t, form)}, "on_behalf": {"true"}, "relationship": {"uncle"}})
		if resp.StatusCode != http.StatusUnprocessableEntity || strings.Contains(page, "missing:") {
			t.Errorf("%s: error page %d has untranslated messages", lang, resp.StatusCode)
		}
	}
}
