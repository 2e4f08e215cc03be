package app_test

// Attacks on the doors that were still open (issue 11): the dev mailbox
// behind a proxy, webhooks pointed inside the operator's network, sign-in
// guessing in parallel and in bulk, API keys that outlive their maker's
// rights, and assignment to staff who cannot work requests. Each test is
// named for the attack it stops.

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// loopbackListener accepts TCP connections on this machine and counts them:
// a database port, as an attacker hopes one answers.
func loopbackListener(t *testing.T, network, addr string) (port string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	hits = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, hits
}

// fileRequest submits a request through the public API and returns its
// reference.
func fileRequest(t *testing.T, inst *apptest.Instance, typ request.Type, locale string) string {
	t.Helper()
	code, out, _ := postJSON(t, inst, encode(t, validBody(typ, locale)))
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	return out["reference"].(string)
}

func TestAttackDevMailboxIsNotReadThroughAProxy(t *testing.T) {
	// No SMTP server: every email, a staff invitation's one-time link
	// included, lands in the dev mailbox.
	inst := apptest.Start(t, map[string]string{"SMTP_URL": ""})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	admin := inst.SignIn(t, "admin@school.example.kz")
	_, page := inst.Get(t, admin, "/staff/users")
	if resp, _ := inst.Post(t, admin, "/staff/users", url.Values{"_csrf": {apptest.CSRFToken(page)}, "name": {"Нурлан"},
		"email": {"nurlan@school.example.kz"}, "role": {"admin"}, "locale": {"ru"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite: %d", resp.StatusCode)
	}
	// At the machine itself, it is the developer's inbox.
	waitFor(t, 30*time.Second, func() bool {
		resp, page := get(t, browser(t), inst.URL+"/dev/mailbox")
		return resp.StatusCode == http.StatusOK && passwordLink.MatchString(page)
	})
	// Through a proxy on the same machine, the peer is loopback too: any
	// header a proxy adds closes the door, whatever its value.
	for _, h := range [][2]string{
		{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-For", ""}, {"Forwarded", "for=203.0.113.7;proto=https"},
		{"X-Real-IP", "203.0.113.7"}, {"Via", "1.1 edge"}, {"X-Forwarded-Proto", "https"},
	} {
		resp, page := get(t, browser(t), inst.URL+"/dev/mailbox", h[0], h[1])
		if resp.StatusCode != http.StatusNotFound || passwordLink.MatchString(page) {
			t.Errorf("%s: %q: %d, want 404 and no link", h[0], h[1], resp.StatusCode)
		}
	}
	// A proxy in TCP mode adds no header but forwards the public name it
	// was asked for; a page elsewhere whose name is rebound to 127.0.0.1
	// (DNS rebinding) sends its own name. Neither reads the mailbox.
	for _, host := range []string{"portal.example", "attacker.example:8080"} {
		req, err := http.NewRequest(http.MethodGet, inst.URL+"/dev/mailbox", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := browser(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || passwordLink.Match(body) {
			t.Errorf("Host %s: %d, want 404 and no link", host, resp.StatusCode)
		}
	}
}

func TestAttackDevMailboxIsOffWhenThePortalIsPublished(t *testing.T) {
	// A public BASE_URL means visitors come through a proxy, which may add
	// no header at all (plain proxy_pass, TLS passthrough): the peer is
	// then loopback for everyone, so the mailbox must not be served.
	inst := apptest.Start(t, map[string]string{"SMTP_URL": "", "BASE_URL": "https://portal.example"})
	fileRequest(t, inst, request.Access, "ru")
	dir := filepath.Join(inst.Config.DataDir, "mailbox")
	waitFor(t, 30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		return len(files) > 0
	})
	resp, page := get(t, browser(t), inst.URL+"/dev/mailbox")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "/confirm/") {
		t.Errorf("dev mailbox with BASE_URL https://portal.example: %d, want 404", resp.StatusCode)
	}
}

func TestAttackWebhooksCannotReachInternalAddresses(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	admin := inst.SignIn(t, "admin@school.example.kz")
	p4, hits4 := loopbackListener(t, "tcp4", "127.0.0.1:0")
	p6, hits6 := loopbackListener(t, "tcp6", "[::1]:0")

	private := "отказано: адрес в частной сети"
	metadata := "отказано: это служба метаданных облака"
	targets := []struct{ url, code, words string }{
		{"http://127.0.0.1:" + p4 + "/", "refused_private", private},
		{"http://localhost:" + p4 + "/hook", "refused_private", private},
		{"http://[::1]:" + p6 + "/", "refused_private", private},
		{"http://[::ffff:127.0.0.1]:" + p4 + "/", "refused_private", private},
		{"http://2130706433:" + p4 + "/", "refused_private", private}, // 127.0.0.1 in decimal
		{"http://0x7f000001:" + p4 + "/", "refused_private", private}, // and in hex
		{"http://0177.0.0.1:" + p4 + "/", "refused_private", private}, // and in octal
		{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "refused_metadata", metadata},
		{"http://10.20.30.40:5432/", "refused_private", private},
		{"http://192.168.1.1/", "refused_private", private},
		{"http://100.64.0.1/", "refused_private", private},
		{"https://[fd00::1]/", "refused_private", private},
	}

	// An admin, or whoever holds an admin's session, types them in: each is
	// refused with the reason, and nothing is stored.
	for _, target := range targets {
		_, page := inst.Get(t, admin, "/staff/webhooks")
		resp, page := inst.Post(t, admin, "/staff/webhooks", url.Values{"_csrf": {apptest.CSRFToken(page)}, "url": {target.url}})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "частной сети") && !strings.Contains(page, "метаданных") {
			t.Errorf("%s: %d, want 422 with the reason", target.url, resp.StatusCode)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM webhook_endpoints`); n != 0 {
		t.Fatalf("%d refused addresses were stored", n)
	}

	// The same addresses saved before this protection existed (or while
	// WEBHOOK_ALLOW_PRIVATE was on): every delivery to them is refused at
	// connect time, and the admin sees why in words, not the transport's.
	for _, target := range targets {
		if _, err := inst.Pool.Exec(context.Background(), `INSERT INTO webhook_endpoints (url, secret, created_at) VALUES ($1, $2, now())`,
			target.url, inst.Config.Keys.SealString(sealed.WebhookSecret, "whsec_old")); err != nil {
			t.Fatal(err)
		}
	}
	key := newAPIKey(t, inst, "CRM", auth.Agent)
	ref := fileRequest(t, inst, request.Objection, "ru")
	if status, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/transitions", `{"to":"in_progress"}`); status != http.StatusOK {
		t.Fatalf("start: %d %v", status, out)
	}
	waitFor(t, 30*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM webhook_deliveries WHERE attempts > 0`) == len(targets)
	})
	for _, target := range targets {
		var state, lastError string
		var status int
		if err := inst.Pool.QueryRow(context.Background(), `SELECT d.state, d.last_error, d.last_status FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.url = $1`, target.url).Scan(&state, &lastError, &status); err != nil {
			t.Fatal(err)
		}
		if state != "failed" || lastError != target.code || status != 0 {
			t.Errorf("%s: %s %q %d, want failed %q", target.url, state, lastError, status, target.code)
		}
	}
	if n := hits4.Load() + hits6.Load(); n != 0 {
		t.Errorf("%d connections reached the loopback listeners", n)
	}
	_, page := inst.Get(t, admin, "/staff/webhooks")
	for _, words := range []string{private, metadata} {
		if !strings.Contains(page, words) {
			t.Errorf("the webhook page does not say %q", words)
		}
	}
	for _, transport := range []string{"dial tcp", "connect:", "connection refused", "i/o timeout", "refused to connect", "no answer"} {
		if strings.Contains(page, transport) {
			t.Errorf("the webhook page shows the transport's text %q", transport)
		}
	}
	// The operator's log has the whole story, without the URL's path.
	if logs := inst.Logs(); !strings.Contains(logs, "webhook delivery failed") || !strings.Contains(logs, "refused to connect to 127.0.0.1") ||
		strings.Contains(logs, "security-credentials") {
		t.Error("the log must name each refused delivery and its address, and not the endpoint's path")
	}
}

func TestAttackWebhookErrorsDoNotMapTheNetwork(t *testing.T) {
	// With private targets allowed, an admin can point a webhook at an
	// internal port; what the page says must not tell which ports answer.
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false", "WEBHOOK_ALLOW_PRIVATE": "true"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	admin := inst.SignIn(t, "admin@school.example.kz")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()
	receiver := newHookReceiver(t, http.StatusInternalServerError)
	addWebhook(t, inst, admin, "http://"+closedAddr+"/")
	addWebhook(t, inst, admin, receiver.URL+"/hook")
	key := newAPIKey(t, inst, "CRM", auth.Agent)
	ref := fileRequest(t, inst, request.Objection, "ru")
	if status, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/transitions", `{"to":"in_progress"}`); status != http.StatusOK {
		t.Fatalf("start: %d %v", status, out)
	}
	waitFor(t, 30*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM webhook_deliveries WHERE attempts > 0 AND last_error <> ''`) == 2
	})
	if n := inst.Count(t, `SELECT count(*) FROM webhook_deliveries WHERE last_error = 'connect' OR (last_error = 'status' AND last_status = 500)`); n != 2 {
		t.Errorf("%d deliveries recorded as could not connect / answered 500, want 2", n)
	}
	_, page := inst.Get(t, admin, "/staff/webhooks")
	if !strings.Contains(page, "не удалось подключиться") || !strings.Contains(page, "ответ 500") {
		t.Error("the page must say: could not connect; answered 500")
	}
	if strings.Contains(page, "connection refused") || strings.Contains(page, "dial tcp") {
		t.Error("the page shows the transport's text")
	}
}

func TestAttackAPIKeyOutlivesTheAdminWhoMadeIt(t *testing.T) {
	inst := apptest.Start(t, nil)
	maker := inst.AddStaff(t, "aidos@school.example.kz", "Айдос", auth.Admin)
	inst.AddStaff(t, "gulnara@school.example.kz", "Гульнара", auth.Admin)
	mc := inst.SignIn(t, "aidos@school.example.kz")
	_, page := inst.Get(t, mc, "/staff/apikeys")
	resp, page := inst.Post(t, mc, "/staff/apikeys", url.Values{"_csrf": {apptest.CSRFToken(page)}, "name": {"CRM"}, "role": {"agent"}})
	m := keyOnPage.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("create a key in the workspace: %d", resp.StatusCode)
	}
	key := m[1]
	cliKey := newAPIKey(t, inst, "Backup", auth.Agent) // no maker: the operator at the server
	works := func(k string) bool {
		status, _ := apiCall(t, inst, k, "GET", "/api/v1/requests", "")
		return status == http.StatusOK
	}
	if !works(key) || !works(cliKey) {
		t.Fatal("fresh keys do not work")
	}

	// Another admin disables the maker: whoever kept the key (the maker
	// themselves, leaving) can no longer use it.
	other := inst.SignIn(t, "gulnara@school.example.kz")
	_, page = inst.Get(t, other, "/staff/users")
	token := apptest.CSRFToken(page)
	act := func(action string, form url.Values) {
		t.Helper()
		form.Set("_csrf", token)
		if resp, _ := inst.Post(t, other, "/staff/users/"+itoa(maker.ID)+"/"+action, form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", action, resp.StatusCode)
		}
	}
	act("disable", url.Values{})
	if status, out := apiCall(t, inst, key, "GET", "/api/v1/requests", ""); status != http.StatusUnauthorized {
		t.Errorf("key of a disabled admin: %d %v, want 401", status, out)
	}
	if status, _ := apiCall(t, inst, key, "POST", "/api/v1/requests/RD-0000-0000-0000/notes", `{"text":"x"}`); status != http.StatusUnauthorized {
		t.Errorf("a write with the key of a disabled admin: %d, want 401", status)
	}
	if !works(cliKey) {
		t.Error("a key from the command line stopped with an admin it has nothing to do with")
	}
	_, page = inst.Get(t, other, "/staff/apikeys")
	if !strings.Contains(page, "Приостановлен: создавший его сотрудник Айдос отключён") {
		t.Error("the API keys page does not show the key as suspended, with the reason")
	}

	// Enabled again, then made an agent: the key follows the maker's rights.
	act("enable", url.Values{})
	if !works(key) {
		t.Error("the key does not work again once its maker is enabled")
	}
	act("role", url.Values{"role": {"agent"}})
	if status, _ := apiCall(t, inst, key, "GET", "/api/v1/requests", ""); status != http.StatusUnauthorized {
		t.Errorf("key of a demoted admin: %d, want 401", status)
	}
	_, page = inst.Get(t, other, "/staff/apikeys")
	if !strings.Contains(page, "Приостановлен: создавший его сотрудник Айдос больше не администратор") {
		t.Error("the API keys page does not say the maker is no longer an admin")
	}
	if !works(cliKey) {
		t.Error("the command line's key stopped")
	}
	code, stdout, _ := runCLI(inst, "", "apikey", "list")
	if code != 0 || !strings.Contains(stdout, "suspended (maker demoted)") {
		t.Errorf("apikey list does not show the suspension: %q", stdout)
	}
}

func TestAttackAuditorOrDisabledMemberIsMadeAssignee(t *testing.T) {
	// An assignee is who the deadline reminders go to and who is expected
	// to act: handing a request to someone who cannot work it (an
	// auditor, someone who left) hides it from everyone who can.
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	agent := inst.AddStaff(t, "aruzhan@school.example.kz", "Аружан", auth.Agent)
	auditor := inst.AddStaff(t, "dana@school.example.kz", "Дана Аудитор", auth.Auditor)
	gone := inst.AddStaff(t, "erlan@school.example.kz", "Ерлан Ушедший", auth.Agent)
	admin := inst.SignIn(t, "admin@school.example.kz")
	_, page := inst.Get(t, admin, "/staff/users")
	if resp, _ := inst.Post(t, admin, "/staff/users/"+itoa(gone.ID)+"/disable", url.Values{"_csrf": {apptest.CSRFToken(page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	ref := fileRequest(t, inst, request.Erasure, "ru")
	reqPath := "/staff/requests/" + ref

	// The assignee list offers only those who can work requests.
	_, page = inst.Get(t, admin, reqPath)
	list := page[strings.Index(page, `<select id="assign-to"`):]
	list = list[:strings.Index(list, "</select>")]
	if !strings.Contains(list, "Аружан") || !strings.Contains(list, "Админ") || strings.Contains(list, "Дана") || strings.Contains(list, "Ерлан") {
		t.Errorf("the assignee list: %s", list)
	}

	key := newAPIKey(t, inst, "Helpdesk", auth.Admin)
	for _, who := range []auth.Staff{auditor, gone} {
		// From the workspace, with a hand-made form.
		_, page = inst.Get(t, admin, reqPath)
		resp, page := inst.Post(t, admin, reqPath+"/assign", url.Values{"_csrf": {apptest.CSRFToken(page)}, "to": {itoa(who.ID)}})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("workspace, %s: %d, want 422", who.Name, resp.StatusCode)
		}
		if who.ID == auditor.ID && !strings.Contains(page, "Назначить запрос можно только сотруднику, который работает с запросами") {
			t.Error("the workspace does not say why an auditor cannot be assigned")
		}
		// From the staff API.
		status, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/assign", `{"staff_id":`+itoa(who.ID)+`}`)
		if status != http.StatusUnprocessableEntity || errorsOf(out)["staff_id"] == nil {
			t.Errorf("API, %s: %d %v, want 422 naming staff_id", who.Name, status, out)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests WHERE reference = $1 AND assignee_id IS NOT NULL`, ref); n != 0 {
		t.Error("a refused assignment changed the assignee")
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id WHERE r.reference = $1 AND e.kind = 'assigned'`, ref); n != 0 {
		t.Errorf("%d assignment events for refused assignments", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'assigned'`); n != 0 {
		t.Errorf("%d assignment emails for refused assignments", n)
	}
	// Those who work requests are assigned as before.
	if status, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/assign", `{"staff_id":`+itoa(agent.ID)+`}`); status != http.StatusOK {
		t.Errorf("assign to an agent: %d %v", status, out)
	}
}

// postForm sends a form with c and extra headers, and returns the answer.
func postForm(t *testing.T, inst *apptest.Instance, c *http.Client, path string, form url.Values, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, inst.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

func TestAttackParallelGuessesAreCheckedNoMoreThanTheLimit(t *testing.T) {
	// The throttle used to count failures before the check and add them
	// after it: forty guesses sent at once all passed the count.
	inst := apptest.Start(t, nil)
	admin := inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	c := apptest.Client(t)
	token := inst.StaffToken(t, c)
	const guesses = 40
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make(chan int, guesses)
	for i := range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.PostForm(inst.URL+"/staff/login", signInForm(token, "admin@school.example.kz", "guess number "+strconv.Itoa(i)))
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	answers := map[int]int{}
	for code := range codes {
		answers[code]++
	}
	checked := 0
	for _, e := range staffEvents(t, inst, "staff_signin_failed") {
		if e.Data["reason"] == "bad_password" && dataID(e, "staff_id") == admin.ID {
			checked++
		}
	}
	if checked > 5 || answers[http.StatusTooManyRequests] < guesses-5 {
		t.Errorf("%d of %d parallel guesses had their password checked (answers %v), want at most 5", checked, guesses, answers)
	}
	if checked+answers[http.StatusTooManyRequests] != guesses {
		t.Errorf("checked %d, refused %d of %d", checked, answers[http.StatusTooManyRequests], guesses)
	}
}

func deviceCookie(t *testing.T, inst *apptest.Instance, c *http.Client) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(inst.URL + "/staff/login")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "rd_device" {
			return ck
		}
	}
	return nil
}

func TestAttackGuessingLocksOutOnlyUntrustedClients(t *testing.T) {
	// Five wrong passwords used to lock the account for everyone, its
	// owner too: anyone could keep the admin out. Now they lock out only
	// clients the account has not signed in from.
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	inst.AddStaff(t, "bolat@school.example.kz", "Болат", auth.Agent)
	owner := inst.SignIn(t, "admin@school.example.kz") // the owner's own browser
	ck := deviceCookie(t, inst, owner)
	if ck == nil || strings.Contains(ck.Value, "admin@") {
		t.Fatalf("no device cookie after signing in, or one naming the account: %+v", ck)
	}
	resp, _ := inst.Post(t, owner, "/staff/login", signInForm(inst.StaffToken(t, owner), "admin@school.example.kz", apptest.StaffPassword))
	for _, set := range resp.Cookies() {
		if set.Name == "rd_device" && (!set.HttpOnly || set.Path != "/staff/login" || set.SameSite != http.SameSiteStrictMode || set.MaxAge < 80*24*3600) {
			t.Errorf("device cookie: %+v", set)
		}
	}

	attacker := apptest.Client(t)
	token := inst.StaffToken(t, attacker)
	for i := range 5 {
		if resp, _ := inst.Post(t, attacker, "/staff/login", signInForm(token, "admin@school.example.kz", "guess number "+strconv.Itoa(i))); resp.StatusCode != http.StatusOK {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	// The guesser is held back, even with the right password now...
	if resp, _ := inst.Post(t, attacker, "/staff/login", signInForm(token, "admin@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("sixth try from the guesser: %d, want 429", resp.StatusCode)
	}
	// ...and so is any other browser the account never signed in from...
	fresh := apptest.Client(t)
	if resp, _ := inst.Post(t, fresh, "/staff/login", signInForm(inst.StaffToken(t, fresh), "admin@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a new browser during the lock: %d, want 429", resp.StatusCode)
	}
	// ...a forged device cookie or one of another account included...
	forged := apptest.Client(t)
	u, _ := url.Parse(inst.URL + "/staff/login")
	v := []byte(ck.Value)
	v[10] ^= 1
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "rd_device", Value: string(v), Path: "/staff/login"}})
	if resp, _ := inst.Post(t, forged, "/staff/login", signInForm(inst.StaffToken(t, forged), "admin@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a tampered device cookie: %d, want 429", resp.StatusCode)
	}
	colleague := inst.SignIn(t, "bolat@school.example.kz")
	if resp, _ := inst.Post(t, colleague, "/staff/login", signInForm(inst.StaffToken(t, colleague), "admin@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another account's device cookie: %d, want 429", resp.StatusCode)
	}
	// ...but the owner, at the browser they signed in from, comes in.
	if resp, _ := inst.Post(t, owner, "/staff/login", signInForm(inst.StaffToken(t, owner), "admin@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner at their own browser during the attack: %d, want 303", resp.StatusCode)
	}

	// The guesser's delays grow: one try after the first minute, then two
	// minutes' wait.
	inst.Clock.Advance(time.Minute)
	if resp, _ := inst.Post(t, attacker, "/staff/login", signInForm(token, "admin@school.example.kz", "guess after a minute")); resp.StatusCode != http.StatusOK {
		t.Errorf("a try after the first lock: %d", resp.StatusCode)
	}
	resp, page := inst.Post(t, attacker, "/staff/login", signInForm(token, "admin@school.example.kz", "guess at once"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "120" || !strings.Contains(page, "Подождите 2 минуты") {
		t.Errorf("the second lock: %d, Retry-After %q, want 429 for 120 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// A trusted client has a small bucket of its own: a thief holding the
	// cookie gets five guesses, and locks only that cookie.
	ownerToken := inst.StaffToken(t, owner)
	for i := range 5 {
		if resp, _ := inst.Post(t, owner, "/staff/login", signInForm(ownerToken, "admin@school.example.kz", "typo "+strconv.Itoa(i))); resp.StatusCode != http.StatusOK {
			t.Fatalf("typo %d at the owner's browser: %d", i, resp.StatusCode)
		}
	}
	if resp, _ := inst.Post(t, owner, "/staff/login", signInForm(ownerToken, "admin@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a trusted client after five failures of its own: %d, want 429", resp.StatusCode)
	}

	// Signing out everywhere ends the trust of every browser.
	inst.Clock.Advance(2 * time.Hour)
	other := inst.SignIn(t, "admin@school.example.kz")
	_, page = inst.Get(t, other, "/staff/account")
	inst.Post(t, other, "/staff/account/signout-everywhere", url.Values{"_csrf": {apptest.CSRFToken(page)}})
	for i := range 5 {
		inst.Post(t, attacker, "/staff/login", signInForm(token, "admin@school.example.kz", "later guess "+strconv.Itoa(i)))
	}
	if resp, _ := inst.Post(t, other, "/staff/login", signInForm(inst.StaffToken(t, other), "admin@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a browser trusted before 'sign out everywhere': %d, want 429", resp.StatusCode)
	}

	trusted := 0
	for _, e := range staffEvents(t, inst, "staff_signed_in") {
		if e.Data["trusted_device"] == true {
			trusted++
		}
	}
	if trusted < 2 {
		t.Errorf("%d sign-ins logged as from a trusted device, want the owner's", trusted)
	}
}

func TestAttackForgedForwardedForDoesNotEscapeTheAddressLimit(t *testing.T) {
	// With TRUSTED_PROXIES set, Echo also trusted every loopback, private
	// and link-local peer: a client on the operator's network (here, on
	// loopback) named a new address in X-Forwarded-For for every guess.
	inst := apptest.Start(t, map[string]string{"TRUSTED_PROXIES": "192.0.2.1"})
	c := apptest.Client(t)
	token := inst.StaffToken(t, c)
	for i := range 20 {
		form := signInForm(token, "guess"+strconv.Itoa(i)+"@school.example.kz", "wrong password here")
		if resp := postForm(t, inst, c, "/staff/login", form, "X-Forwarded-For", "198.51.100."+strconv.Itoa(i+1)); resp.StatusCode != http.StatusOK {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	form := signInForm(token, "another@school.example.kz", "wrong password here")
	if resp := postForm(t, inst, c, "/staff/login", form, "X-Forwarded-For", "198.51.100.200"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the 21st guess from one address behind forged X-Forwarded-For: %d, want 429", resp.StatusCode)
	}
}
