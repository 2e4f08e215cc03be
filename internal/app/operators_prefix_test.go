package app_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/testkit"
)

// sharedHost is the one host name every operator of prefixOperatorsFile
// is served on: alpha under /alpha, beta under /beta, and a third one, root,
// at the root of the host.
const sharedHost = "desk.example.kz"

// prefixOperators starts a deployment of three operators on one host, two
// of them under path prefixes (beta with its own logo and colours, so that
// its operator's static files are walked too).
func prefixOperators(t *testing.T) (*app.Deployment, *httptest.Server, *testkit.SMTPServer) {
	t.Helper()
	var logo bytes.Buffer
	if err := png.Encode(&logo, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	logoPath := filepath.Join(t.TempDir(), "beta.png")
	if err := os.WriteFile(logoPath, logo.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return operatorsFrom(t, `operators:
  - slug: alpha
    BASE_URL: http://`+sharedHost+`/alpha
    ORG_NAME: Alpha Coding School
    PRIVACY_CONTACT_EMAIL: privacy@alpha.example.kz
  - slug: beta
    BASE_URL: http://`+sharedHost+`/beta/
    ORG_NAME: Beta Typography Course
    PRIVACY_CONTACT_EMAIL: privacy@beta.example.kz
    BRAND_COLOR: "#0a5c36"
    LOGO_FILE: `+logoPath+`
  - slug: root
    BASE_URL: http://`+sharedHost+`
    ORG_NAME: Root Portal
    PRIVACY_CONTACT_EMAIL: privacy@root.example.kz
`, nil)
}

// do sends req with c and returns the answer with its body read.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// getOn fetches path of the shared host with c.
func getOn(t *testing.T, c *http.Client, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+sharedHost+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// postOn posts form to path of the shared host with c.
func postOn(t *testing.T, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+sharedHost+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

// pageLink is a path a page refers to: a link, a stylesheet, an image or a
// form's action, with the method a browser would use on it.
type pageLink struct {
	attr, method, target string
}

// pageLinks parses page as a browser does and returns every href, src and
// form action in it.
func pageLinks(t *testing.T, page string) []pageLink {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []pageLink
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			method := http.MethodGet
			for _, a := range n.Attr {
				if n.Data == "form" && a.Key == "method" && strings.EqualFold(a.Val, "post") {
					method = http.MethodPost
				}
			}
			for _, a := range n.Attr {
				switch {
				case a.Key == "href" || a.Key == "src":
					out = append(out, pageLink{n.Data + " " + a.Key, http.MethodGet, a.Val})
				case a.Key == "action" && n.Data == "form":
					out = append(out, pageLink{"form action", method, a.Val})
				case a.Key == "formaction":
					out = append(out, pageLink{n.Data + " formaction", method, a.Val})
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	return out
}

// checkLinks asserts that every path page refers to lies under prefix
// (fragments of the page itself aside) and answers: a link, stylesheet or
// image with anything but 404 or a server error, and a redirect that stays
// under prefix; a form's action names a route there (a GET of a POST-only
// route answers 405, an unknown path 404). The links are followed with
// the cookies c holds, by a client whose own cookies are thrown away, so
// following a language link changes nothing for the journey.
func checkLinks(t *testing.T, c *http.Client, prefix, name, page string) {
	t.Helper()
	checkLinksOn(t, c, sharedHost, prefix, name, page)
}

// checkLinksOn is checkLinks for a page of host.
func checkLinksOn(t *testing.T, c *http.Client, host, prefix, name, page string) {
	t.Helper()
	links := pageLinks(t, page)
	if len(links) == 0 {
		t.Fatalf("%s: no links on the page", name)
	}
	for _, l := range links {
		if strings.HasPrefix(l.target, "#") {
			continue
		}
		if !strings.HasPrefix(l.target, prefix+"/") {
			t.Errorf("%s: %s %q is not under %s/", name, l.attr, l.target, prefix)
			continue
		}
		u, err := url.Parse("http://" + host + l.target)
		if err != nil {
			t.Errorf("%s: %s %q: %v", name, l.attr, l.target, err)
			continue
		}
		u.Fragment = ""
		req, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ck := range c.Jar.Cookies(u) {
			req.AddCookie(ck)
		}
		resp, _ := do(t, hostClientWithoutJar(c), req)
		switch {
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode >= 500:
			t.Errorf("%s: %s %q answers %d", name, l.attr, l.target, resp.StatusCode)
		case l.method == http.MethodPost && resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusOK:
			t.Errorf("%s: %s %q (POST) answers GET with %d, want 405 (or a page)", name, l.attr, l.target, resp.StatusCode)
		case resp.StatusCode >= 300 && resp.StatusCode < 400 && !strings.HasPrefix(resp.Header.Get("Location"), prefix+"/"):
			t.Errorf("%s: %s %q redirects to %q, not under %s/", name, l.attr, l.target, resp.Header.Get("Location"), prefix)
		}
	}
}

// hostClientWithoutJar is c's connection to the deployment with no cookie
// jar: cookies are sent by hand and whatever it is sent back is forgotten.
func hostClientWithoutJar(c *http.Client) *http.Client {
	return &http.Client{Transport: c.Transport, CheckRedirect: c.CheckRedirect}
}

// cookieOf is the cookie name the answer sets.
func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func TestAPublicJourneyOnAPathPrefixStaysUnderIt(t *testing.T) {
	_, srv, smtp := prefixOperators(t)
	c := hostClient(t, srv)

	// The landing page: the operator's own, every link under its prefix.
	resp, landing := getOn(t, c, "/alpha/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(landing, "Alpha Coding School") || strings.Contains(landing, "Beta") {
		t.Fatalf("alpha's landing page: %d, names alpha: %v", resp.StatusCode, strings.Contains(landing, "Alpha Coding School"))
	}
	checkLinks(t, c, "/alpha", "alpha's landing page", landing)
	// The prefix without its slash is the landing page too.
	if resp, _ := getOn(t, c, "/alpha?x=1"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/alpha/?x=1" {
		t.Errorf("/alpha: %d to %q, want 301 to /alpha/?x=1", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The form, filed as a browser files it: the CSRF cookie and field.
	resp, form := getOn(t, c, "/alpha/request/erasure")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alpha's erasure form: %d", resp.StatusCode)
	}
	if ck := cookieOf(resp, "_csrf"); ck == nil || ck.Path != "/alpha/" {
		t.Errorf("alpha's CSRF cookie: %+v, want Path /alpha/", ck)
	}
	checkLinks(t, c, "/alpha", "alpha's erasure form", form)
	resp, _ = postOn(t, c, "/alpha/request/erasure", erasureForm(formToken(t, form)))
	thanks := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(thanks, "/alpha/thanks/") {
		t.Fatalf("alpha's form: %d to %q, want 303 to /alpha/thanks/…", resp.StatusCode, thanks)
	}
	resp, receipt := getOn(t, c, thanks)
	ref := regexp.MustCompile(`RD-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(receipt)
	if resp.StatusCode != http.StatusOK || ref == "" {
		t.Fatalf("alpha's receipt: %d, reference %q", resp.StatusCode, ref)
	}
	checkLinks(t, c, "/alpha", "alpha's receipt", receipt)

	// The acknowledgement's links are alpha's address with its path, and
	// so is the staff link of the notice to alpha's privacy contact.
	ack := smtp.WaitForMail(t, "erlan@example.kz", ref, 20*time.Second)
	links := ack.Links()
	base := "http://" + sharedHost + "/alpha/"
	if !strings.HasPrefix(links.Confirm, base+"confirm/") || !strings.HasPrefix(links.Status, base+"s/") {
		t.Fatalf("the acknowledgement's links: confirm %q, status %q, want them under %s", links.Confirm, links.Status, base)
	}
	notice := smtp.WaitForMail(t, "privacy@alpha.example.kz", ref, 20*time.Second)
	if !strings.Contains(notice.Text, base+"staff/requests/"+ref) {
		t.Errorf("the notice to alpha's privacy contact does not link %s", base+"staff/requests/"+ref)
	}

	// The confirmation link asks, then confirms, under the prefix.
	resp, ask := getOn(t, c, strings.TrimPrefix(links.Confirm, "http://"+sharedHost))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the confirmation link: %d", resp.StatusCode)
	}
	checkLinks(t, c, "/alpha", "the confirmation page", ask)
	action := pageLinks(t, ask)
	confirmAt := ""
	for _, l := range action {
		if l.attr == "form action" && strings.Contains(l.target, "/confirm/") {
			confirmAt = l.target
		}
	}
	resp, confirmed := postOn(t, c, confirmAt, url.Values{"_csrf": {formToken(t, ask)}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(confirmed, ref) {
		t.Fatalf("confirming at %q: %d", confirmAt, resp.StatusCode)
	}
	checkLinks(t, c, "/alpha", "the confirmed page", confirmed)

	// The status page, from the link of the email that tells of the
	// confirmation (it replaces the acknowledgement's), and withdrawing from
	// it: each step under the prefix.
	var confirmedMail testkit.ReceivedMessage
	deadline := time.Now().Add(20 * time.Second)
	for confirmedMail.MessageID == "" && time.Now().Before(deadline) {
		for _, m := range smtp.Mailbox("erlan@example.kz") {
			if m.MessageID != ack.MessageID && m.Links().Status != "" {
				confirmedMail = m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(confirmedMail.Links().Status, base+"s/") {
		t.Fatalf("the confirmation's email links the status page at %q, want it under %s", confirmedMail.Links().Status, base)
	}
	statusPath := strings.TrimPrefix(confirmedMail.Links().Status, "http://"+sharedHost)
	resp, status := getOn(t, c, statusPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(status, ref) {
		t.Fatalf("the status page: %d", resp.StatusCode)
	}
	checkLinks(t, c, "/alpha", "the status page", status)
	resp, withdraw := getOn(t, c, statusPath+"/withdraw")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the withdraw page: %d", resp.StatusCode)
	}
	checkLinks(t, c, "/alpha", "the withdraw page", withdraw)
	resp, _ = postOn(t, c, statusPath+"/withdraw", url.Values{"_csrf": {formToken(t, withdraw)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != statusPath+"?done=withdrawn" {
		t.Fatalf("withdrawing: %d to %q, want 303 to %s?done=withdrawn", resp.StatusCode, resp.Header.Get("Location"), statusPath)
	}
	resp, resend := getOn(t, c, "/alpha/status")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the lost-link page: %d", resp.StatusCode)
	}
	checkLinks(t, c, "/alpha", "the lost-link page", resend)

	// The language chosen on alpha is alpha's: its cookie goes to alpha's
	// pages only, and back to the page it was chosen on.
	resp, _ = getOn(t, c, "/alpha/lang/en?next="+url.QueryEscape("/alpha/request/erasure"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alpha/request/erasure" {
		t.Errorf("the language switch: %d to %q, want 303 to /alpha/request/erasure", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ck := cookieOf(resp, "lang"); ck == nil || ck.Path != "/alpha/" {
		t.Errorf("the language cookie: %+v, want Path /alpha/", ck)
	}
	if _, page := getOn(t, c, "/alpha/"); !strings.Contains(page, `<html lang="en">`) {
		t.Error("alpha's pages are not in the language chosen on alpha")
	}

	// Beta on the same host, in the same browser: its own page, its own
	// CSRF cookie, not alpha's language; its logo and colours under /beta.
	resp, betaLanding := getOn(t, c, "/beta/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(betaLanding, "Beta Typography Course") || strings.Contains(betaLanding, "Alpha") {
		t.Fatalf("beta's landing page: %d", resp.StatusCode)
	}
	if !strings.Contains(betaLanding, `<html lang="ru">`) {
		t.Error("beta's page took the language chosen on alpha")
	}
	if !strings.Contains(betaLanding, `src="/beta/static/logo.`) || !strings.Contains(betaLanding, `href="/beta/static/brand.`) {
		t.Error("beta's logo and colours are not served under /beta/static/")
	}
	checkLinks(t, c, "/beta", "beta's landing page", betaLanding)
	resp, betaForm := getOn(t, c, "/beta/request/access")
	if ck := cookieOf(resp, "_csrf"); resp.StatusCode != http.StatusOK || ck == nil || ck.Path != "/beta/" {
		t.Errorf("beta's form: %d, CSRF cookie %+v, want Path /beta/", resp.StatusCode, ck)
	}
	checkLinks(t, c, "/beta", "beta's access form", betaForm)
	alphaToken, betaToken := "", ""
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: sharedHost, Path: "/alpha/"}) {
		if ck.Name == "_csrf" {
			alphaToken = ck.Value
		}
	}
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: sharedHost, Path: "/beta/"}) {
		if ck.Name == "_csrf" {
			betaToken = ck.Value
		}
	}
	if alphaToken == "" || betaToken == "" || alphaToken == betaToken {
		t.Errorf("alpha's and beta's CSRF cookies are not each their own (alpha %q, beta %q)", alphaToken, betaToken)
	}

	// The API on the prefix: the OpenAPI document's server is alpha's
	// address (its paths are relative to it), and intake answers there.
	resp, doc := getOn(t, c, "/alpha/api/v1/openapi.json")
	var openapi struct {
		Servers []struct{ URL string } `json:"servers"`
	}
	if err := json.Unmarshal([]byte(doc), &openapi); err != nil || resp.StatusCode != http.StatusOK ||
		len(openapi.Servers) != 1 || openapi.Servers[0].URL != "http://"+sharedHost+"/alpha" {
		t.Errorf("alpha's OpenAPI document: %d, servers %+v (%v)", resp.StatusCode, openapi.Servers, err)
	}
	if code, out := send(t, c, http.MethodPost, sharedHost, "/alpha/api/v1/requests", "application/json", encode(t, map[string]any{
		"type": "objection", "processing": "рассылки", "full_name": "Ерлан Сапаров", "email": "erlan@example.kz", "locale": "ru", "consent": true})); code != http.StatusCreated {
		t.Errorf("alpha's API intake: %d %s", code, out)
	}

	// The operator at the root of the host is as it was: paths without a prefix.
	resp, rootLanding := getOn(t, c, "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(rootLanding, "Root Portal") {
		t.Fatalf("the root operator's landing page: %d", resp.StatusCode)
	}
	for _, l := range pageLinks(t, rootLanding) {
		if strings.HasPrefix(l.target, "/alpha") || strings.HasPrefix(l.target, "/beta") {
			t.Errorf("the root operator's page links %q", l.target)
		}
	}
	checkLinks(t, c, "", "the root operator's landing page", rootLanding)
	// The root operator's cookies (Path /) reach alpha's pages too; alpha's
	// own, of the longer path, come first, so alpha's forms still post.
	resp, rootForm := getOn(t, c, "/request/erasure")
	if ck := cookieOf(resp, "_csrf"); resp.StatusCode != http.StatusOK || ck == nil || ck.Path != "/" {
		t.Fatalf("the root operator's form: %d, CSRF cookie %+v, want Path /", resp.StatusCode, ck)
	}
	checkLinks(t, c, "", "the root operator's erasure form", rootForm)
	_, form = getOn(t, c, "/alpha/request/erasure")
	if resp, _ := postOn(t, c, "/alpha/request/erasure", erasureForm(formToken(t, form))); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/alpha/thanks/") {
		t.Errorf("alpha's form beside the root operator's cookies: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// signInAt signs email in on the sign-in page under prefix and returns the
// answer to the password.
func signInAt(t *testing.T, c *http.Client, prefix, email, next string) *http.Response {
	t.Helper()
	resp, page := getOn(t, c, prefix+"/staff/login")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s/staff/login: %d", prefix, resp.StatusCode)
	}
	form := url.Values{"_csrf": {formToken(t, page)}, "email": {email}, "password": {apptest.StaffPassword}}
	if next != "" {
		form.Set("next", next)
	}
	resp, _ = postOn(t, c, prefix+"/staff/login", form)
	return resp
}

func TestStaffOnAPathPrefixSignInWorkAndSignOutUnderIt(t *testing.T) {
	d, srv, smtp := prefixOperators(t)
	alpha, _ := d.App("alpha")
	beta, _ := d.App("beta")
	for email, a := range map[string]*app.App{"admin@alpha.example.kz": alpha, "admin@beta.example.kz": beta} {
		if _, err := a.Auth.CreateWithPassword(t.Context(), auth.AccountInput{Email: email,
			Name: "Админ", Role: string(auth.Admin), Locale: "ru", Password: apptest.StaffPassword}); err != nil {
			t.Fatal(err)
		}
	}
	// A request on alpha's address for the staff to work.
	c := hostClient(t, srv)
	code, out := send(t, c, http.MethodPost, sharedHost, "/alpha/api/v1/requests", "application/json",
		encode(t, map[string]any{"type": "access", "access_scope": "copy", "full_name": "Айгерим Нурланқызы",
			"email": "aigerim@example.kz", "locale": "ru", "consent": true}))
	if code != http.StatusCreated {
		t.Fatalf("alpha's intake: %d %s", code, out)
	}
	ref := between(out, `"reference":"`, `"`)
	smtp.WaitForMail(t, "aigerim@example.kz", ref, 20*time.Second)

	// Sign in: the sign-in page under the prefix, the queue after it, the
	// session's cookie for alpha's workspace only.
	resp := signInAt(t, c, "/alpha", "admin@alpha.example.kz", "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alpha/staff" {
		t.Fatalf("signing in on alpha: %d to %q, want 303 to /alpha/staff", resp.StatusCode, resp.Header.Get("Location"))
	}
	session := cookieOf(resp, "rd_staff")
	if session == nil || session.Path != "/alpha/staff" {
		t.Fatalf("alpha's session cookie: %+v, want Path /alpha/staff", session)
	}
	if ck := cookieOf(resp, auth.DeviceCookie); ck == nil || ck.Path != "/alpha/staff/login" {
		t.Errorf("alpha's device cookie: %+v, want Path /alpha/staff/login", ck)
	}
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: sharedHost, Path: "/beta/staff"}) {
		if ck.Name == "rd_staff" || ck.Name == auth.DeviceCookie {
			t.Errorf("the browser sends alpha's %s to beta's workspace", ck.Name)
		}
	}

	resp, queue := getOn(t, c, "/alpha/staff")
	if resp.StatusCode != http.StatusOK || !strings.Contains(queue, ref) {
		t.Fatalf("alpha's queue: %d, lists %s: %v", resp.StatusCode, ref, strings.Contains(queue, ref))
	}
	checkLinks(t, c, "/alpha", "alpha's queue", queue)
	for _, p := range []string{"/alpha/staff/dashboard", "/alpha/staff/users", "/alpha/staff/apikeys", "/alpha/staff/webhooks", "/alpha/staff/account"} {
		resp, page := getOn(t, c, p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		checkLinks(t, c, "/alpha", p, page)
	}
	requestPath := "/alpha/staff/requests/" + ref
	resp, page := getOn(t, c, requestPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, ref) {
		t.Fatalf("alpha's request page: %d", resp.StatusCode)
	}
	checkLinks(t, c, "/alpha", "alpha's request page", page)
	resp, _ = postOn(t, c, requestPath+"/notes", url.Values{"_csrf": {formToken(t, page)}, "note": {"Проверили личность по звонку."}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != requestPath {
		t.Fatalf("a note: %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), requestPath)
	}
	if _, page = getOn(t, c, requestPath); !strings.Contains(page, "Проверили личность по звонку.") {
		t.Error("the note is not on the request page")
	}

	// A session of alpha's (another one: beta ends the session it is shown)
	// presented under /beta/staff is nobody there: the sign-in page, and
	// nothing of alpha's request.
	other := cookieOf(signInAt(t, hostClient(t, srv), "/alpha", "admin@alpha.example.kz", ""), "rd_staff")
	for _, p := range []string{"/beta/staff/requests/" + ref, "/beta/staff"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+sharedHost+p, nil)
		req.AddCookie(&http.Cookie{Name: "rd_staff", Value: other.Value})
		resp, body := do(t, hostClientWithoutJar(c), req)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/beta/staff/login?next=") || strings.Contains(body, ref) {
			t.Errorf("alpha's session on %s: %d to %q, want 303 to beta's sign-in page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Beta's own admin, signed in on beta in the same browser, finds nothing
	// of alpha's, and alpha's workspace stays signed in beside it.
	if resp := signInAt(t, c, "/beta", "admin@beta.example.kz", ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/beta/staff" {
		t.Fatalf("signing in on beta: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := getOn(t, c, "/beta/staff/requests/"+ref); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Айгерим") {
		t.Errorf("alpha's request in beta's workspace: %d, want 404", resp.StatusCode)
	}
	if _, betaQueue := getOn(t, c, "/beta/staff"); strings.Contains(betaQueue, ref) {
		t.Error("beta's queue lists alpha's request")
	}

	// Signing out of alpha: back to alpha's sign-in page; the workspace then
	// asks to sign in again, to come back under the prefix.
	_, queue = getOn(t, c, "/alpha/staff")
	if !strings.Contains(queue, "Alpha Coding School") {
		t.Fatalf("alpha's workspace signed out by beta's sign-in")
	}
	resp, _ = postOn(t, c, "/alpha/staff/logout", url.Values{"_csrf": {formToken(t, queue)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alpha/staff/login" {
		t.Fatalf("signing out: %d to %q, want 303 to /alpha/staff/login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = getOn(t, c, requestPath)
	if want := "/alpha/staff/login?next=" + url.QueryEscape(requestPath); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Errorf("after signing out: %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// Signing in again from there comes back to the request.
	if resp := signInAt(t, c, "/alpha", "admin@alpha.example.kz", requestPath); resp.Header.Get("Location") != requestPath {
		t.Errorf("signing in with next=%s: %d to %q", requestPath, resp.StatusCode, resp.Header.Get("Location"))
	}
	// Beta's workspace is still signed in: alpha's sign-out was alpha's.
	if resp, _ := getOn(t, c, "/beta/staff"); resp.StatusCode != http.StatusOK {
		t.Errorf("beta's workspace after signing out of alpha: %d, want 200", resp.StatusCode)
	}
}

func TestSignInOnAPathPrefixNeverGoesAnywhereButItsOwnAddress(t *testing.T) {
	d, srv, _ := prefixOperators(t)
	alpha, _ := d.App("alpha")
	if _, err := alpha.Auth.CreateWithPassword(t.Context(), auth.AccountInput{Email: "admin@alpha.example.kz",
		Name: "Админ", Role: string(auth.Admin), Locale: "ru", Password: apptest.StaffPassword}); err != nil {
		t.Fatal(err)
	}
	for _, next := range []string{"//evil.example", "https://evil.example", "/beta/staff", `/\evil`, "/alpha//evil.example",
		`/alpha/\evil`, "/alphabet/staff", "/staff", "/\t/evil.example", "javascript:alert(1)"} {
		// The next of the sign-in page's address, carried by its form.
		c := hostClient(t, srv)
		resp, page := getOn(t, c, "/alpha/staff/login?next="+url.QueryEscape(next))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("next=%q: the sign-in page answers %d", next, resp.StatusCode)
		}
		resp, _ = postOn(t, c, "/alpha/staff/login", url.Values{"_csrf": {formToken(t, page)}, "email": {"admin@alpha.example.kz"},
			"password": {apptest.StaffPassword}, "next": {between(page, `name="next" value="`, `"`)}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alpha/staff" {
			t.Errorf("next=%q through the sign-in page: %d to %q, want alpha's queue /alpha/staff", next, resp.StatusCode, resp.Header.Get("Location"))
		}
		// The next posted as it is.
		resp = signInAt(t, hostClient(t, srv), "/alpha", "admin@alpha.example.kz", next)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alpha/staff" {
			t.Errorf("next=%q posted: %d to %q, want alpha's queue /alpha/staff", next, resp.StatusCode, resp.Header.Get("Location"))
		}
		// Already signed in, the sign-in page sends on at once.
		resp, _ = getOn(t, c, "/alpha/staff/login?next="+url.QueryEscape(next))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alpha/staff" {
			t.Errorf("next=%q signed in: %d to %q, want alpha's queue /alpha/staff", next, resp.StatusCode, resp.Header.Get("Location"))
		}
		// The language switch keeps to alpha's address too.
		resp, _ = getOn(t, c, "/alpha/lang/kk?next="+url.QueryEscape(next))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alpha/" {
			t.Errorf("next=%q on the language switch: %d to %q, want alpha's landing page /alpha/", next, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A path of alpha's own is where the sign-in goes.
	resp := signInAt(t, hostClient(t, srv), "/alpha", "admin@alpha.example.kz", "/alpha/staff/dashboard?year=2026")
	if resp.Header.Get("Location") != "/alpha/staff/dashboard?year=2026" {
		t.Errorf("next=/alpha/staff/dashboard?year=2026: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestTheDevMailboxOnAPathPrefixShowsTheOperatorsLinks(t *testing.T) {
	// Without SMTP, each operator's mail goes to its own dev mailbox, read
	// at this machine under the operator's prefix.
	_, srv, _ := operatorsFrom(t, `operators:
  - slug: alpha
    BASE_URL: http://localhost/alpha
    ORG_NAME: Alpha Coding School
    PRIVACY_CONTACT_EMAIL: privacy@alpha.example.kz
  - slug: beta
    BASE_URL: http://localhost/beta
    ORG_NAME: Beta Typography Course
    PRIVACY_CONTACT_EMAIL: privacy@beta.example.kz
`, map[string]string{"SMTP_URL": ""})
	c := hostClient(t, srv)
	code, out := send(t, c, http.MethodPost, "localhost", "/alpha/api/v1/requests", "application/json",
		encode(t, map[string]any{"type": "erasure", "full_name": "Ерлан Сапаров", "email": "erlan@example.kz", "locale": "ru", "consent": true}))
	if code != http.StatusCreated {
		t.Fatalf("alpha's intake: %d %s", code, out)
	}
	ref := between(out, `"reference":"`, `"`)
	var page string
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(page, "http://localhost/alpha/s/") && time.Now().Before(deadline) {
		code, page = send(t, c, http.MethodGet, "localhost", "/alpha/dev/mailbox", "", "")
		if code != http.StatusOK {
			t.Fatalf("alpha's dev mailbox: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(page, ref) || !strings.Contains(page, "http://localhost/alpha/confirm/") {
		t.Fatalf("alpha's dev mailbox does not show the acknowledgement of %s with alpha's links", ref)
	}
	checkLinksOn(t, c, "localhost", "/alpha", "alpha's dev mailbox", page)
	if _, other := send(t, c, http.MethodGet, "localhost", "/beta/dev/mailbox", "", ""); strings.Contains(other, ref) {
		t.Error("beta's dev mailbox shows alpha's email")
	}
}
