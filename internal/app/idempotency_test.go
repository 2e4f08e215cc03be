package app_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
)

func TestRetriedAPICallWithTheSameKeyFilesOneRequest(t *testing.T) {
	inst := apptest.Start(t, nil)
	body := encode(t, validBody(request.Erasure, "ru"))
	code, first, _ := postJSON(t, inst, body, "Idempotency-Key", "retry-7f3a")
	if code != http.StatusCreated {
		t.Fatalf("first: %d %v", code, first)
	}
	inst.Clock.Advance(time.Minute)
	code, again, _ := postJSON(t, inst, body, "Idempotency-Key", "retry-7f3a")
	if code != http.StatusCreated {
		t.Fatalf("retry: %d %v", code, again)
	}
	for _, k := range []string{"reference", "status", "received_at", "due_at"} {
		if first[k] != again[k] {
			t.Errorf("%s: first %v, retry %v", k, first[k], again[k])
		}
	}
	// Neither answer holds a link, and the retry made none.
	if _, has := again["status_url"]; has || len(again) != 4 {
		t.Errorf("the retry's answer %v holds more than reference, status and dates", again)
	}
	if n := inst.Count(t, `SELECT count(*) FROM status_links`); n != 1 {
		t.Errorf("%d status links, want only the one the acknowledgement carries", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails`); n != 2 {
		t.Errorf("%d emails, want the 2 of the first submission", n)
	}

	other := validBody(request.Erasure, "ru")
	other["details"] = "something else"
	code, out, _ := postJSON(t, inst, encode(t, other), "Idempotency-Key", "retry-7f3a")
	if code != http.StatusUnprocessableEntity || out["errors"].(map[string]any)["Idempotency-Key"] == nil {
		t.Errorf("same key, other content: %d %v", code, out)
	}
	if code, out, _ := postJSON(t, inst, body, "Idempotency-Key", "bad key with spaces"); code != http.StatusUnprocessableEntity {
		t.Errorf("malformed key: %d %v", code, out)
	}
}

func TestConcurrentRetriesFileOneRequest(t *testing.T) {
	inst := apptest.Start(t, nil)
	body := encode(t, validBody(request.Access, "kk"))
	refs := make([]string, 6)
	var wg sync.WaitGroup
	for i := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, inst.URL+"/api/v1/requests", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "burst-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var b strings.Builder
			buf := make([]byte, 4096)
			n, _ := resp.Body.Read(buf)
			b.Write(buf[:n])
			refs[i] = regexp.MustCompile(`RD-[0-9A-Z-]{14}`).FindString(b.String())
		}()
	}
	wg.Wait()
	for _, r := range refs {
		if r == "" || r != refs[0] {
			t.Fatalf("answers name different requests: %v", refs)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestFormSentTwiceFilesOneRequest(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/erasure")
	formID := regexp.MustCompile(`name="form_id" value="([^"]+)"`).FindStringSubmatch(page)
	if formID == nil {
		t.Fatal("the form has no id")
	}
	form := erasureForm(formToken(t, page))
	form.Set("form_id", formID[1])
	var receipts []string
	for range 2 { // a double click, or back and send again
		resp, _ := post(t, c, inst.URL+"/request/erasure", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		_, receipt := get(t, c, inst.URL+resp.Header.Get("Location"))
		receipts = append(receipts, regexp.MustCompile(`RD-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(receipt))
	}
	if receipts[0] == "" || receipts[0] != receipts[1] {
		t.Errorf("two receipts for one form: %v", receipts)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	// Back, change an answer and send: that is a new request.
	changed := url.Values{}
	for k, v := range form {
		changed[k] = v
	}
	changed.Set("details", "Ещё и переписку удалите.")
	if resp, _ := post(t, c, inst.URL+"/request/erasure", changed); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("changed form: %d", resp.StatusCode)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 2 {
		t.Errorf("%d requests after changing the answers, want 2", n)
	}
}
