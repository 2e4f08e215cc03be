package app_test

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
)

var confirmLink = regexp.MustCompile(`http://[^\s]+/confirm/[A-Za-z0-9_-]{43}`)

// submitAndReadConfirmLink files a request through the API and returns its
// reference and the confirmation link from the acknowledgement received
// over SMTP.
func submitAndReadConfirmLink(t *testing.T, inst *apptest.Instance, locale string) (string, string) {
	t.Helper()
	before := len(inst.SMTP.Messages())
	code, out, _ := postJSON(t, inst, encode(t, validBody(request.Objection, locale)))
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	ref := out["reference"].(string)
	for _, m := range inst.SMTP.WaitForMessages(t, before+2, 20*time.Second) {
		if strings.Contains(m.Subject, ref) && m.To[0] != "privacy@school.example.kz" {
			if link := confirmLink.FindString(m.Text); link != "" {
				return ref, link
			}
		}
	}
	t.Fatalf("no confirmation link for %s", ref)
	return "", ""
}

func statusOf(t *testing.T, inst *apptest.Instance, ref string) string {
	t.Helper()
	var s string
	if err := inst.Pool.QueryRow(t.Context(), `SELECT status FROM requests WHERE reference = $1`, ref).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfirmationLinkConfirmsOnceAndTellsTheRequester(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, link := submitAndReadConfirmLink(t, inst, "kk")
	c := browser(t)

	// Opening the link only asks: a mail scanner following it confirms nothing.
	resp, page := get(t, c, link)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, ref) || !strings.Contains(page, "Иә, бұл менің сұрауым") {
		t.Fatalf("confirmation page: %d", resp.StatusCode)
	}
	if s := statusOf(t, inst, ref); s != "unverified" {
		t.Fatalf("opening the link changed the status to %s", s)
	}

	token := formToken(t, page)
	resp, page = post(t, c, link, url.Values{"_csrf": {token}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Рақмет, мекенжайыңыз расталды") {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	if s := statusOf(t, inst, ref); s != "new" {
		t.Fatalf("status after confirming: %s", s)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.kind = 'confirmed' AND e.from_status = 'unverified' AND e.to_status = 'new'
		AND r.confirmed_at = e.created_at`, ref); n != 1 {
		t.Errorf("%d confirmed events", n)
	}
	msgs := inst.SMTP.WaitForMessages(t, 3, 20*time.Second)
	if last := msgs[2]; last.Subject != "Мекенжай расталды: "+ref+" сұрауы" {
		t.Errorf("confirmation email subject %q", last.Subject)
	}

	// Using the link again changes nothing and sends nothing.
	for _, again := range []func() (*http.Response, string){
		func() (*http.Response, string) { return get(t, c, link) },
		func() (*http.Response, string) { return post(t, c, link, url.Values{"_csrf": {token}}) },
	} {
		resp, page = again()
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Бұл мекенжай бұрын расталған") {
			t.Errorf("second use: %d", resp.StatusCode)
		}
	}
	inst.Settle(t)
	if n := len(inst.SMTP.Messages()); n != 3 {
		t.Errorf("%d emails after the second use, want 3", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'confirmed'`); n != 1 {
		t.Errorf("%d confirmed events after the second use", n)
	}
}

func TestExpiredOrGuessedConfirmationLinkDoesNothing(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, link := submitAndReadConfirmLink(t, inst, "ru")
	c := browser(t)

	inst.Clock.Advance(7*24*time.Hour + time.Minute)
	resp, expired := get(t, c, link)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(expired, "Ссылка недействительна") {
		t.Fatalf("expired link: %d", resp.StatusCode)
	}
	_, form := get(t, c, inst.URL+"/request/erasure")
	resp, _ = post(t, c, link, url.Values{"_csrf": {formToken(t, form)}})
	if resp.StatusCode != http.StatusNotFound || statusOf(t, inst, ref) != "unverified" {
		t.Fatalf("posting an expired link: %d, status %s", resp.StatusCode, statusOf(t, inst, ref))
	}
	guessed := link[:len(link)-43] + strings.Repeat("Q", 43)
	_, page := get(t, c, guessed)
	if mainOf(page) != mainOf(expired) {
		t.Error("a guessed link is answered differently from an expired one")
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'confirmed'`); n != 0 {
		t.Errorf("%d confirmations recorded", n)
	}
}

func TestTwoClicksAtOnceConfirmOnce(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, link := submitAndReadConfirmLink(t, inst, "en")
	c := browser(t)
	_, page := get(t, c, link)
	token := formToken(t, page)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.PostForm(link, url.Values{"_csrf": {token}})
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if s := statusOf(t, inst, ref); s != "new" {
		t.Fatalf("status %s", s)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'confirmed'`); n != 1 {
		t.Errorf("%d confirmed events", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'confirmed'`); n != 1 {
		t.Errorf("%d confirmation emails", n)
	}
}

func TestClockThatStartsAtConfirmationDatesTheRequestWhenConfirmed(t *testing.T) {
	policy := t.TempDir() + "/policy.yaml"
	if err := os.WriteFile(policy, []byte("types:\n  objection:\n    value: 10\n    unit: calendar_days\n    start: confirmation\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := apptest.Start(t, map[string]string{"POLICY_FILE": policy})
	ref, link := submitAndReadConfirmLink(t, inst, "ru")
	var due time.Time
	if err := inst.Pool.QueryRow(t.Context(), `SELECT due_at FROM requests WHERE reference = $1`, ref).Scan(&due); err != nil {
		t.Fatal(err)
	}
	// Until it is confirmed the request shows the earliest date it can have.
	if got := due.In(inst.Config.Location).Format(time.DateOnly); got != "2026-03-12" {
		t.Errorf("provisional due date %s, want 2026-03-12", got)
	}
	inst.Clock.Advance(3 * 24 * time.Hour)
	c := browser(t)
	_, page := get(t, c, link)
	if resp, _ := post(t, c, link, url.Values{"_csrf": {formToken(t, page)}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	if err := inst.Pool.QueryRow(t.Context(), `SELECT due_at FROM requests WHERE reference = $1`, ref).Scan(&due); err != nil {
		t.Fatal(err)
	}
	if got := due.In(inst.Config.Location).Format(time.DateOnly); got != "2026-03-15" {
		t.Errorf("due date after confirming on 5 March: %s, want 2026-03-15", got)
	}
}

func TestWithoutVerificationRequestsStartNewAndNoLinkIsSent(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	code, out, _ := postJSON(t, inst, encode(t, validBody(request.Erasure, "ru")))
	if code != http.StatusCreated || out["status"] != "new" {
		t.Fatalf("%d %v", code, out)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests WHERE status = 'new' AND confirmed_at = received_at`); n != 1 {
		t.Error("the request was not stored as new and confirmed at receipt")
	}
	for _, m := range inst.SMTP.WaitForMessages(t, 2, 20*time.Second) {
		if strings.Contains(m.Text, "/confirm/") {
			t.Errorf("%q carries a confirmation link", m.Subject)
		}
	}
}
