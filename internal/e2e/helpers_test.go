package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// referencePattern is what a request reference looks like.
var referencePattern = regexp.MustCompile(`^RD-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$`)

const mailTimeout = 10 * time.Second

// browser starts a Chromium for the test and saves a screenshot of wherever
// it was when the test fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	ctx := testkit.Browser(t)
	testkit.ScreenshotOnFailure(t, ctx)
	return ctx
}

// stepTimeout bounds one call of run or get: a selector that never matches
// fails the test in seconds rather than at the browser's overall deadline.
const stepTimeout = 15 * time.Second

// run performs browser steps in order and fails the test at the first error.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// get performs one browser step that reads something.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// open loads a page and fails the test unless it answers 200 OK.
func open(t *testing.T, ctx context.Context, u string) {
	t.Helper()
	resp := get(t, ctx, chromedp.NavigateResponse(u))
	if resp.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.Status, resp.StatusText)
	}
}

// labelWithText finds a label by what the requester reads on it.
func labelWithText(s string) string {
	return `//label[normalize-space()="` + s + `"]`
}

func pageLang(t *testing.T, ctx context.Context) string {
	t.Helper()
	return get(t, ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang")).Value
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(get(t, ctx, chromedp.Text(chromedp.CSS(sel))))
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	return get(t, ctx, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}

func scrollWidth(t *testing.T, ctx context.Context) int {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
}

// messageTo waits for the instance's mail to reach addr and returns it.
func messageTo(t *testing.T, inst *apptest.Instance, addr string) testkit.ReceivedMessage {
	t.Helper()
	deadline := time.Now().Add(mailTimeout)
	for {
		for _, m := range inst.SMTP.Messages() {
			for _, to := range m.To {
				if strings.EqualFold(to, addr) {
					if m.ParseErr != nil {
						t.Fatalf("message to %s does not parse: %v", addr, m.ParseErr)
					}
					return m
				}
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range inst.SMTP.Messages() {
				got = append(got, strings.Join(m.To, ",")+": "+m.Subject)
			}
			t.Fatalf("no email to %s within %v; got %q", addr, mailTimeout, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fetch GETs a page outside the browser, as a Russian-speaking visitor with
// a cookie jar (the forms set a CSRF cookie).
func fetch(t *testing.T, u string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", testkit.BrowserLanguage)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode >= 500 {
		t.Errorf("GET %s: %s", u, resp.Status)
	}
	return string(b)
}

// openAnswering loads a page and fails the test unless it answers with the
// status code want (a form with errors answers 422, a bad link 404).
func openAnswering(t *testing.T, ctx context.Context, u string, want int64) {
	t.Helper()
	resp := get(t, ctx, chromedp.NavigateResponse(u))
	if resp.Status != want {
		t.Fatalf("GET %s: %d %s, want %d", u, resp.Status, resp.StatusText, want)
	}
}

// clickAndWait clicks what sel finds and waits until the page it leads to
// shows wait.
func clickAndWait(t *testing.T, ctx context.Context, sel, wait string) {
	t.Helper()
	run(t, ctx, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(wait)))
}

// mailAbout waits for the newest email to addr whose subject contains
// part, and returns it with its links.
func mailAbout(t *testing.T, inst *apptest.Instance, addr, part string) (testkit.ReceivedMessage, testkit.MailLinks) {
	t.Helper()
	deadline := time.Now().Add(mailTimeout)
	for {
		msgs := inst.SMTP.Messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			m := msgs[i]
			if len(m.To) > 0 && strings.EqualFold(m.To[0], addr) && strings.Contains(m.Subject, part) {
				if m.ParseErr != nil {
					t.Fatalf("email %q to %s does not parse: %v", m.Subject, addr, m.ParseErr)
				}
				return m, m.Links()
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range msgs {
				got = append(got, strings.Join(m.To, ",")+": "+m.Subject)
			}
			t.Fatalf("no email to %s about %q within %v; got %q", addr, part, mailTimeout, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// filed is a request submitted through the JSON API, as an integration
// would, to put pages in the state a test needs without typing.
type filed struct {
	Reference string
	Email     string
	Token     string // the status-page secret, from the acknowledgement in the requester's mailbox
}

// fileRequest submits a valid request of type typ in locale through the API.
func fileRequest(t *testing.T, inst *apptest.Instance, typ request.Type, locale, email string) filed {
	t.Helper()
	body := map[string]any{
		"type": string(typ), "full_name": "Айгерим Нурланқызы", "email": email,
		"details": "Прошу рассмотреть / Қарауыңызды сұраймын.", "locale": locale, "consent": true,
	}
	switch typ {
	case request.Access:
		body["access_scope"] = "copy"
	case request.Rectification:
		body["correction"] = "Нурланова → Нурланқызы"
	case request.Restriction, request.Objection, request.ConsentWithdrawal:
		body["processing"] = "Рассылки о новых курсах"
	}
	return postRequest(t, inst, body)
}

// postRequest submits body through the JSON API and returns the request filed.
func postRequest(t *testing.T, inst *apptest.Instance, body map[string]any) filed {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(inst.URL+"/api/v1/requests", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("submit through the API: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Reference string `json:"reference"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit through the API: %s (%v)", resp.Status, err)
	}
	// The answer holds no link: the mailbox does.
	email := body["email"].(string)
	_, links := mailAbout(t, inst, email, out.Reference)
	i := strings.LastIndex(links.Status, "/s/")
	if i < 0 {
		t.Fatalf("the acknowledgement to %s carries no status link", email)
	}
	return filed{Reference: out.Reference, Email: email, Token: links.Status[i+len("/s/"):]}
}

// thanksPage files an access request through the form, as a browser without
// JavaScript would post it, and returns its reference and the thank-you
// page the form redirects to.
func thanksPage(t *testing.T, inst *apptest.Instance, email string) (ref, path string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(inst.URL + "/request/access")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatal("the access form has no CSRF token")
	}
	resp, err = client.PostForm(inst.URL+"/request/access", url.Values{
		"_csrf": {string(csrf[1])}, "locale": {"ru"}, "full_name": {"Айгерим Нурланқызы"}, "email": {email},
		"access_scope": {"copy"}, "consent": {"true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	path = resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(path, "/thanks/") {
		t.Fatalf("the form: %s to %q", resp.Status, path)
	}
	ref, _, _ = strings.Cut(strings.TrimPrefix(path, "/thanks/"), ".")
	return ref, path
}

// addStaff creates a member of staff directly in the database (the desk
// needs only the row) and returns their id.
func addStaff(t *testing.T, inst *apptest.Instance, name, email, locale string) int64 {
	t.Helper()
	var id int64
	err := inst.Pool.QueryRow(context.Background(), `INSERT INTO staff (email, name, role, locale, created_at, updated_at)
		VALUES ($1, $2, 'agent', $3, now(), now()) RETURNING id`, email, name, locale).Scan(&id)
	if err != nil {
		t.Fatalf("add staff %s: %v", email, err)
	}
	return id
}

// setStatus puts a request in a state directly, for pages whose state
// comes before what the test exercises.
func setStatus(t *testing.T, inst *apptest.Instance, ref, status string) {
	t.Helper()
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE requests SET status = $2 WHERE reference = $1`, ref, status); err != nil {
		t.Fatalf("set %s to %s: %v", ref, status, err)
	}
}
