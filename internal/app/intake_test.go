package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
)

// postJSON sends body to the intake API and decodes the JSON answer.
func postJSON(t *testing.T, inst *apptest.Instance, body string, header ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, inst.URL+"/api/v1/requests", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON (body %s)", ct, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, out, resp.Header
}

func validBody(t request.Type, locale string) map[string]any {
	b := map[string]any{
		"type": string(t), "full_name": "Айгерим Нурланқызы", "email": "aigerim." + string(t) + "." + locale + "@example.kz",
		"phone": "+7 701 123 45 67", "account_id": "student-4411", "details": "Прошу рассмотреть.",
		"locale": locale, "consent": true,
	}
	switch t {
	case request.Access:
		b["access_scope"] = "copy"
	case request.Rectification:
		b["correction"] = "Фамилия записана с ошибкой: Нурланова → Нурланқызы"
	case request.Restriction, request.Objection, request.ConsentWithdrawal:
		b["processing"] = "Рассылки о новых курсах"
	}
	return b
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The subject line tells the language of an email apart.
var subjectFor = map[string]func(ref string) string{
	"ru": func(ref string) string { return "Ваш запрос " + ref + " получен" },
	"kk": func(ref string) string { return ref + " сұрауыңыз қабылданды" },
	"en": func(ref string) string { return "We received your request " + ref },
}

func TestEveryTypeInEveryLanguageIsStoredDatedLoggedAndEmailed(t *testing.T) {
	inst := apptest.Start(t, nil)
	// 2 March 2026, 10:00 in Almaty: 30 calendar days later is 1 April.
	wantDue := time.Date(2026, 4, 1, 23, 59, 59, 0, inst.Config.Location)

	type filed struct{ ref, email, locale string }
	var all []filed
	for _, typ := range request.AllTypes() {
		for _, locale := range []string{"ru", "kk", "en"} {
			body := validBody(typ, locale)
			code, out, hdr := postJSON(t, inst, encode(t, body))
			if code != http.StatusCreated {
				t.Fatalf("%s/%s: status %d: %v", typ, locale, code, out)
			}
			ref, _ := out["reference"].(string)
			if _, err := request.ParseReference(ref); err != nil {
				t.Fatalf("%s/%s: reference %q does not parse: %v", typ, locale, ref, err)
			}
			if out["status"] != "unverified" || out["due_at"] != "2026-04-01T23:59:59+05:00" || out["received_at"] != "2026-03-02T10:00:00+05:00" {
				t.Errorf("%s/%s: answer %v", typ, locale, out)
			}
			// The public answer names the request and carries no way into
			// it: the status link goes to the mailbox only.
			if _, has := out["status_url"]; has || hdr.Get("Location") != "" || len(out) != 4 {
				t.Errorf("%s/%s: the public answer %v (Location %q) holds more than reference, status and dates", typ, locale, out, hdr.Get("Location"))
			}
			var due time.Time
			var gotType, gotLocale, rule string
			err := inst.Pool.QueryRow(context.Background(),
				`SELECT due_at, type, locale, deadline_rule FROM requests WHERE reference = $1`, ref).Scan(&due, &gotType, &gotLocale, &rule)
			if err != nil {
				t.Fatalf("%s/%s: stored request: %v", typ, locale, err)
			}
			if !due.Equal(wantDue) || gotType != string(typ) || gotLocale != locale || rule == "" {
				t.Errorf("%s/%s: stored due %v type %s locale %s rule %q", typ, locale, due, gotType, gotLocale, rule)
			}
			if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
				WHERE r.reference = $1 AND e.kind = 'received' AND e.to_status = 'unverified'`, ref); n != 1 {
				t.Errorf("%s/%s: %d received events", typ, locale, n)
			}
			all = append(all, filed{ref, body["email"].(string), locale})
		}
	}

	msgs := inst.SMTP.WaitForMessages(t, 2*len(all), 30*time.Second)
	for _, f := range all {
		var ack, staff int
		for _, m := range msgs {
			if !strings.Contains(m.Subject, f.ref) {
				continue
			}
			switch {
			case len(m.To) == 1 && m.To[0] == f.email:
				ack++
				if m.Subject != subjectFor[f.locale](f.ref) {
					t.Errorf("%s: acknowledgement subject %q is not in %s", f.ref, m.Subject, f.locale)
				}
				if !strings.Contains(m.Text, f.ref) || !strings.Contains(m.HTML, f.ref) {
					t.Errorf("%s: acknowledgement body lacks the reference", f.ref)
				}
				if !strings.Contains(m.Text, inst.URL+"/confirm/") || !strings.Contains(m.Text, inst.URL+"/s/") {
					t.Errorf("%s: acknowledgement lacks the confirmation or status link:\n%s", f.ref, m.Text)
				}
				if strings.Contains(m.Text, "__RDSECRET_") {
					t.Errorf("%s: a secret placeholder reached the requester", f.ref)
				}
			case len(m.To) == 1 && m.To[0] == "privacy@school.example.kz":
				staff++
				if !strings.HasPrefix(m.Subject, "Новый запрос "+f.ref) {
					t.Errorf("%s: staff subject %q", f.ref, m.Subject)
				}
				if strings.Contains(m.Text, f.email) || strings.Contains(m.Text, "Айгерим") {
					t.Errorf("%s: the staff notification carries the requester's personal data", f.ref)
				}
			default:
				t.Errorf("%s: unexpected recipient %v", f.ref, m.To)
			}
		}
		if ack != 1 || staff != 1 {
			t.Errorf("%s: %d acknowledgements and %d staff notifications, want 1 and 1", f.ref, ack, staff)
		}
	}
	if logs := inst.Logs(); strings.Contains(logs, "@example.kz") || strings.Contains(logs, "Айгерим") {
		t.Errorf("personal data in the logs:\n%s", logs)
	}
}

func TestEmailsWaitForSMTPAndArriveExactlyOnce(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.SMTP.Stop()

	var refs []string
	for i := range 3 {
		body := validBody(request.Erasure, "ru")
		body["email"] = fmt.Sprintf("person%d@example.kz", i)
		code, out, _ := postJSON(t, inst, encode(t, body))
		if code != http.StatusCreated {
			t.Fatalf("submission with SMTP down: %d %v", code, out)
		}
		refs = append(refs, out["reference"].(string))
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 3 {
		t.Fatalf("%d requests stored, want 3", n)
	}
	// Delivery has been tried and failed; the failure is recorded. A
	// submission's two emails travel in one job, which stops at the first
	// when the server cannot be reached: the other waits, untried.
	if n := inst.Count(t, `SELECT count(*) FROM river_job WHERE kind = 'deliver_email' AND jsonb_array_length(args->'email_ids') = 2`); n != 3 {
		t.Errorf("%d delivery jobs of two emails, want one per submission", n)
	}
	waitFor(t, 10*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM emails WHERE state = 'failed' AND attempts > 0 AND last_error <> ''`) == 3 &&
			inst.Count(t, `SELECT count(*) FROM emails WHERE state = 'queued' AND attempts = 0`) == 3
	})
	if got := len(inst.SMTP.Messages()); got != 0 {
		t.Fatalf("%d messages arrived while SMTP was down", got)
	}

	inst.SMTP.Restart(t)
	inst.SMTP.WaitForMessages(t, 6, 30*time.Second)
	// Nothing left to deliver or retry: what has arrived is all that will.
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE state = 'sent' AND secrets IS NULL AND sent_at IS NOT NULL`); n != 6 {
		t.Errorf("%d emails recorded as sent with their secrets wiped, want 6", n)
	}
	msgs := inst.SMTP.Messages()
	if len(msgs) != 6 {
		t.Fatalf("%d messages delivered, want exactly 6", len(msgs))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.MessageID] {
			t.Errorf("message %s delivered twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	for _, ref := range refs {
		n := 0
		for _, m := range msgs {
			if strings.Contains(m.Subject, ref) {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s: %d emails, want 2", ref, n)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'email_sent'`); n != 6 {
		t.Errorf("%d email_sent events, want 6", n)
	}
}

// One of a submission's emails refused does not hold back the other: a
// recipient the relay refuses for good (550) leaves the acknowledgement
// failed, for staff to see, while the privacy contact's notice arrives; one
// refused for now (450, greylisting) is retried until it arrives, once.
func TestOneRefusedEmailDoesNotHoldBackTheOther(t *testing.T) {
	inst := apptest.Start(t, nil)
	submit := func(addr string) string {
		body := validBody(request.Erasure, "ru")
		body["email"] = addr
		code, out, _ := postJSON(t, inst, encode(t, body))
		if code != http.StatusCreated {
			t.Fatalf("submit: %d %v", code, out)
		}
		return out["reference"].(string)
	}
	to := func(ref, addr string) int {
		n := 0
		for _, m := range inst.SMTP.Messages() {
			if strings.Contains(m.Subject, ref) && len(m.To) == 1 && m.To[0] == addr {
				n++
			}
		}
		return n
	}

	inst.SMTP.RefuseRecipient("gone@example.kz", 550)
	gone := submit("gone@example.kz")
	waitFor(t, 20*time.Second, func() bool {
		return to(gone, "privacy@school.example.kz") == 1 &&
			inst.Count(t, `SELECT count(*) FROM river_job WHERE kind = 'deliver_email' AND state = 'cancelled'`) == 1
	})
	if n := to(gone, "gone@example.kz"); n != 0 {
		t.Errorf("the refused acknowledgement arrived %d times", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'acknowledgement' AND state = 'failed' AND last_error LIKE '%550%'`); n != 1 {
		t.Errorf("%d acknowledgements failed with the server's 550, want 1", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'staff_new' AND state = 'sent'`); n != 1 {
		t.Errorf("%d notices recorded as sent, want 1", n)
	}

	inst.SMTP.RefuseRecipient("later@example.kz", 450)
	later := submit("later@example.kz")
	waitFor(t, 20*time.Second, func() bool {
		return to(later, "privacy@school.example.kz") == 1 &&
			inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'acknowledgement' AND state = 'failed' AND last_error LIKE '%450%'`) == 1
	})
	inst.SMTP.RefuseRecipient("later@example.kz", 0)
	waitFor(t, 30*time.Second, func() bool { return to(later, "later@example.kz") == 1 })
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE state = 'sent'`); n != 3 {
		t.Errorf("%d emails recorded as sent, want 3", n)
	}
	if a, n := to(later, "later@example.kz"), to(later, "privacy@school.example.kz"); a != 1 || n != 1 {
		t.Errorf("after the retry: acknowledgement arrived %d times, notice %d times; want once each", a, n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'email_sent'`); n != 3 {
		t.Errorf("%d email_sent events, want 3", n)
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestInvalidInputNamesTheFieldAndStoresNothing(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"ENABLED_TYPES": "access,rectification,objection,erasure"})
	cases := []struct {
		name  string
		field string
		edit  func(b map[string]any)
	}{
		{"unknown type", "type", func(b map[string]any) { b["type"] = "teleportation" }},
		{"type not enabled", "type", func(b map[string]any) { b["type"] = "portability" }},
		{"missing type", "type", func(b map[string]any) { delete(b, "type") }},
		{"missing name", "full_name", func(b map[string]any) { b["full_name"] = "   " }},
		{"name too long", "full_name", func(b map[string]any) { b["full_name"] = strings.Repeat("Ә", 201) }},
		{"name with line break", "full_name", func(b map[string]any) { b["full_name"] = "Иван\r\nBcc: x@evil.example" }},
		{"name with NUL", "full_name", func(b map[string]any) { b["full_name"] = "Иван\x00" }},
		{"missing email", "email", func(b map[string]any) { delete(b, "email") }},
		{"bad email", "email", func(b map[string]any) { b["email"] = "not-an-address" }},
		{"email header injection", "email", func(b map[string]any) { b["email"] = "a@example.kz\r\nBcc: victim@example.kz" }},
		{"bad phone", "phone", func(b map[string]any) { b["phone"] = "call me maybe" }},
		{"account id too long", "account_id", func(b map[string]any) { b["account_id"] = strings.Repeat("x", 201) }},
		{"details too long", "details", func(b map[string]any) { b["details"] = strings.Repeat("д", 5001) }},
		{"details with control character", "details", func(b map[string]any) { b["details"] = "ok\x1b[31m" }},
		{"unknown locale", "locale", func(b map[string]any) { b["locale"] = "de" }},
		{"on behalf without subject", "subject_name", func(b map[string]any) { b["on_behalf"] = true; b["relationship"] = "parent" }},
		{"on behalf without relationship", "relationship", func(b map[string]any) { b["on_behalf"] = true; b["subject_name"] = "Ерлан" }},
		{"unknown relationship", "relationship", func(b map[string]any) {
			b["on_behalf"] = true
			b["subject_name"] = "Ерлан"
			b["relationship"] = "uncle"
		}},
		{"no consent", "consent", func(b map[string]any) { b["consent"] = false }},
		{"missing access scope", "access_scope", func(b map[string]any) { delete(b, "access_scope") }},
		{"bad access scope", "access_scope", func(b map[string]any) { b["access_scope"] = "everything" }},
		{"missing correction", "correction", func(b map[string]any) { b["type"] = "rectification"; delete(b, "access_scope") }},
		{"missing processing", "processing", func(b map[string]any) { b["type"] = "objection"; delete(b, "access_scope") }},
		{"unknown field", "favourite_colour", func(b map[string]any) { b["favourite_colour"] = "blue" }},
		{"wrong JSON type", "consent", func(b map[string]any) { b["consent"] = "yes" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := validBody(request.Access, "en")
			c.edit(body)
			code, out, _ := postJSON(t, inst, encode(t, body))
			if code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %v", code, out)
			}
			errs, _ := out["errors"].(map[string]any)
			msg, _ := errs[c.field].(string)
			if msg == "" || strings.Contains(msg, "missing:") {
				t.Errorf("errors %v do not explain %q", errs, c.field)
			}
		})
	}
	if n := inst.Count(t, `SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM emails) + (SELECT count(*) FROM events)`); n != 0 {
		t.Errorf("invalid submissions stored %d rows", n)
	}
}

func TestErrorsAreLocalizedByLocaleOrAcceptLanguage(t *testing.T) {
	inst := apptest.Start(t, nil)
	body := validBody(request.Erasure, "kk")
	delete(body, "full_name")
	_, out, _ := postJSON(t, inst, encode(t, body))
	if got := out["errors"].(map[string]any)["full_name"]; got != "Бұл өрісті толтырыңыз." {
		t.Errorf("Kazakh by locale: %v", got)
	}
	delete(body, "locale")
	_, out, _ = postJSON(t, inst, encode(t, body), "Accept-Language", "en-GB,en;q=0.9")
	if got := out["errors"].(map[string]any)["full_name"]; got != "Please fill in this field." {
		t.Errorf("English by Accept-Language: %v", got)
	}
	_, out, _ = postJSON(t, inst, encode(t, body))
	if got := out["errors"].(map[string]any)["full_name"]; got != "Заполните это поле." {
		t.Errorf("Russian by default: %v", got)
	}
}

func TestMalformedOversizedAndMistypedBodies(t *testing.T) {
	inst := apptest.Start(t, nil)
	for name, body := range map[string]string{
		"truncated":     `{"type": "access", "full_name": `,
		"not an object": `["access"]`,
		"two objects":   `{"type":"access"} {"type":"erasure"}`,
		"empty":         ``,
	} {
		if code, out, _ := postJSON(t, inst, body); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%v)", name, code, out)
		}
	}
	huge := encode(t, map[string]any{"type": "access", "details": strings.Repeat("x", 200_000)})
	if code, _, _ := postJSON(t, inst, huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: status %d, want 413", code)
	}
	resp, err := http.Post(inst.URL+"/api/v1/requests", "text/plain", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: status %d, want 415", resp.StatusCode)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("%d requests stored", n)
	}
}

func TestTooManySubmissionsFromOneAddressAreRefused(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"INTAKE_RATE_LIMIT": "2"})
	for i := range 2 {
		body := validBody(request.Erasure, "ru")
		body["email"] = fmt.Sprintf("p%d@example.kz", i)
		if code, out, _ := postJSON(t, inst, encode(t, body)); code != http.StatusCreated {
			t.Fatalf("submission %d: %d %v", i, code, out)
		}
	}
	code, out, hdr := postJSON(t, inst, encode(t, validBody(request.Erasure, "ru")))
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("third submission: %d %v (Retry-After %q)", code, out, hdr.Get("Retry-After"))
	}
	// The window is per minute of the injected clock: a minute later it is open again.
	inst.Clock.Advance(time.Minute)
	if code, out, _ := postJSON(t, inst, encode(t, validBody(request.Erasure, "ru"))); code != http.StatusCreated {
		t.Fatalf("after a minute: %d %v", code, out)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 3 {
		t.Errorf("%d requests stored, want 3", n)
	}
}

func TestSecondOpenRequestForTheSameRightIsLinkedNotDropped(t *testing.T) {
	inst := apptest.Start(t, nil)
	body := encode(t, validBody(request.Erasure, "ru"))
	for range 2 {
		if code, out, _ := postJSON(t, inst, body); code != http.StatusCreated {
			t.Fatalf("%d %v", code, out)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests r JOIN requests first ON r.duplicate_of = first.id
		WHERE first.duplicate_of IS NULL`); n != 1 {
		t.Errorf("%d requests linked to the first, want 1", n)
	}
	// A different right is not a duplicate.
	if code, _, _ := postJSON(t, inst, encode(t, validBody(request.Access, "ru"))); code != http.StatusCreated {
		t.Fatal("access request refused")
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests WHERE duplicate_of IS NOT NULL`); n != 1 {
		t.Errorf("%d linked requests, want 1", n)
	}
}

func TestTheEventLogRefusesChanges(t *testing.T) {
	inst := apptest.Start(t, nil)
	if code, _, _ := postJSON(t, inst, encode(t, validBody(request.Erasure, "ru"))); code != http.StatusCreated {
		t.Fatal("submission refused")
	}
	// The delivery workers write to emails and events; TRUNCATE ... CASCADE
	// locks both and may deadlock with them before the trigger is reached.
	// Let the outbox settle so the trigger is what answers.
	inst.Settle(t)
	ctx := context.Background()
	for _, stmt := range []string{
		`UPDATE events SET kind = 'forged'`,
		`DELETE FROM events`,
		`TRUNCATE events CASCADE`,
	} {
		if _, err := inst.Pool.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want refusal", stmt, err)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'received'`); n != 1 {
		t.Errorf("%d received events after the attempts, want 1", n)
	}
}

// TestEmailDeliveryPausesAndResumesWithNothingLost: the operator pauses
// delivery (relay maintenance) from the command line; requests are still
// taken and their emails wait, shown by `email status` and the metrics;
// `email resume` sends each of them once.
func TestEmailDeliveryPausesAndResumesWithNothingLost(t *testing.T) {
	inst := apptest.Start(t, nil)
	ops := httptest.NewServer(inst.App.Metrics.OpsHandler())
	t.Cleanup(ops.Close)
	if code, out, _ := postJSON(t, inst, encode(t, validBody(request.Access, "ru"))); code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	inst.SMTP.WaitForMessages(t, 2, 20*time.Second)

	// The instance hears of the pause through PostgreSQL's notifications a
	// moment after the command commits it; the submissions below wait for
	// that moment, as the command cannot see into other processes.
	heard, stopListening := inst.App.Runner.Client().Subscribe(river.EventKindQueuePaused)
	defer stopListening()
	// As an operator runs it: LOG_LEVEL not set.
	code, stdout, stderr := runCLIWith(inst, map[string]string{"LOG_LEVEL": ""}, "", "email", "pause")
	if code != 0 || !strings.Contains(stdout, "delivery\tpaused since ") {
		t.Fatalf("email pause: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The command says what it did, and nothing of the database's start-up.
	if want := "email delivery paused on every instance; emails wait until: rightsdesk email resume\n"; stderr != want {
		t.Errorf("email pause wrote to stderr %q, want %q", stderr, want)
	}
	waitForPause(t, heard, "email")
	lastJob := inst.Count(t, `SELECT coalesce(max(id), 0) FROM river_job`)
	for i := range 3 {
		body := validBody(request.Erasure, "kk")
		body["email"] = fmt.Sprintf("paused%d@example.kz", i)
		if code, out, _ := postJSON(t, inst, encode(t, body)); code != http.StatusCreated {
			t.Fatalf("submit while paused: %d %v", code, out)
		}
	}
	// The paused queue's jobs wait untried; whether they were tried before
	// the resume is told by their rows afterwards, not by waiting here.
	if n := inst.Count(t, `SELECT count(*) FROM river_job WHERE id > $1 AND kind = 'deliver_email'
		AND state = 'available' AND attempt = 0 AND attempted_at IS NULL`, lastJob); n != 3 {
		t.Errorf("%d delivery jobs waiting untried while paused, want the 3 of the submissions", n)
	}
	if n := len(inst.SMTP.Messages()); n != 2 {
		t.Fatalf("%d messages while delivery was paused, want the 2 from before", n)
	}
	code, stdout, _ = runCLI(inst, "", "email", "status")
	if code != 0 || !strings.Contains(stdout, "delivery\tpaused since ") || !strings.Contains(stdout, "queued\t6\n") || !strings.Contains(stdout, "oldest\t") {
		t.Errorf("email status while paused: exit %d\n%s", code, stdout)
	}
	if _, text := scrape(t, ops.URL+"/metrics"); !strings.Contains(text, `rightsdesk_queue_paused{queue="email"} 1`) {
		t.Errorf("the metrics do not show the paused queue:\n%s", text)
	}

	var resumed time.Time // on the database's clock, as River's attempted_at
	if err := inst.Pool.QueryRow(t.Context(), `SELECT now()`).Scan(&resumed); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(inst, "", "email", "resume")
	if code != 0 || !strings.Contains(stdout, "delivery\trunning") {
		t.Fatalf("email resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	inst.SMTP.WaitForMessages(t, 8, 20*time.Second)
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE state = 'sent'`); n != 8 {
		t.Errorf("%d emails recorded as sent, want 8", n)
	}
	// Each job of the pause was tried once, after the resume: none while paused.
	if n := inst.Count(t, `SELECT count(*) FROM river_job WHERE id > $1 AND kind = 'deliver_email'
		AND state = 'completed' AND attempt = 1 AND attempted_at > $2`, lastJob, resumed); n != 3 {
		t.Errorf("%d of the paused submissions' 3 jobs were first tried after the resume", n)
	}
	seen := map[string]bool{}
	for _, m := range inst.SMTP.Messages() {
		if seen[m.MessageID] {
			t.Errorf("%s delivered twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	if len(seen) != 8 {
		t.Errorf("%d distinct messages, want 8", len(seen))
	}
	code, stdout, _ = runCLI(inst, "", "email", "status")
	if code != 0 || stdout != "delivery\trunning\nqueued\t0\nfailed\t0\n" {
		t.Errorf("email status after resume: exit %d\n%q", code, stdout)
	}
	if _, text := scrape(t, ops.URL+"/metrics"); !strings.Contains(text, `rightsdesk_queue_paused{queue="email"} 0`) {
		t.Errorf("the metrics still show the queue paused")
	}
}

// A submission wakes the email workers: its acknowledgement does not wait
// for their next look at the queue (here 30 s away). That later inserts
// wake them too, at most once per wake interval, is the outbox's rule,
// tested with a clock in internal/jobs.
func TestASubmissionWakesTheEmailWorkers(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"JOB_POLL_INTERVAL": "30s"})
	start := time.Now()
	if code, out, _ := postJSON(t, inst, encode(t, validBody(request.Objection, "en"))); code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	inst.SMTP.WaitForMessages(t, 2, 5*time.Second)
	t.Logf("both emails delivered %v after the submission was sent", time.Since(start).Round(time.Millisecond))
}

// waitForPause waits until the instance's workers have paused queue.
func waitForPause(t *testing.T, events <-chan *river.Event, queue string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Queue != nil && e.Queue.Name == queue {
				return
			}
		case <-timeout:
			t.Fatalf("the instance did not pause queue %s within 20 s", queue)
		}
	}
}
