package app_test

// Requester impersonation: someone files a request in another person's
// name, to read, answer for, or download that person's data. Each test here
// is one way of trying it, through the real HTTP surface of a whole
// instance, and what stops it (docs/security.md, "Requester impersonation").

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
)

const mailWait = 20 * time.Second

// victim is the person whose address the attacker types in.
const victim = "aigerim.victim@example.kz"

// tokenLike finds whatever in an answer could be a secret link's token.
var tokenLike = regexp.MustCompile(`[A-Za-z0-9_-]{43}`)

// opensNothing fails the test when anything the submitter was handed opens
// a status, confirmation or download page, or names such a link.
func opensNothing(t *testing.T, inst *apptest.Instance, what, got string) {
	t.Helper()
	opensNone(t, inst, what, got, "/s/", "/confirm/", "/d/")
}

// opensNone fails the test when got names a link of one of the kinds
// (paths such as "/d/"), or holds a token that opens one.
func opensNone(t *testing.T, inst *apptest.Instance, what, got string, kinds ...string) {
	t.Helper()
	for _, kind := range kinds {
		if strings.Contains(got, kind) {
			t.Errorf("%s names a %s link:\n%s", what, kind, got)
		}
	}
	for _, tok := range tokenLike.FindAllString(got, -1) {
		for _, path := range kinds {
			if resp, _ := get(t, browser(t), inst.URL+path+tok); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s holds %s…, which opens %s (%d)", what, tok[:6], path, resp.StatusCode)
			}
		}
	}
}

// answerText is everything an HTTP answer handed over: status, headers
// (cookies and Location included) and body.
func answerText(resp *http.Response, body string) string {
	var b strings.Builder
	b.WriteString(resp.Status + "\n")
	_ = resp.Header.Write(&b)
	b.WriteString("\n" + body)
	return b.String()
}

// attackerAPI files an access request for a copy of victim's data through
// the public API and returns its reference and all the answer held.
func attackerAPI(t *testing.T, inst *apptest.Instance, email string) (string, string) {
	t.Helper()
	body := validBody(request.Access, "ru")
	body["email"] = email
	req, _ := http.NewRequest(http.MethodPost, inst.URL+"/api/v1/requests", strings.NewReader(encode(t, body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %s", resp.StatusCode, raw)
	}
	return out["reference"].(string), answerText(resp, string(raw))
}

// attackerForm files the same through the form, follows the redirect to
// the thank-you page, and returns the reference, the thank-you page's path
// and everything the browser was handed on the way.
func attackerForm(t *testing.T, inst *apptest.Instance, typ request.Type, email string) (ref, thanksPath, got string) {
	t.Helper()
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/"+string(typ))
	form := url.Values{
		"_csrf": {formToken(t, page)}, "locale": {"ru"}, "full_name": {"Айгерим Нурланқызы"}, "email": {email}, "consent": {"true"},
	}
	if typ == request.Access {
		form.Set("access_scope", "copy")
	}
	if id := regexp.MustCompile(`name="form_id" value="([^"]+)"`).FindStringSubmatch(page); id != nil {
		form.Set("form_id", id[1])
	}
	resp, body := post(t, c, inst.URL+"/request/"+string(typ), form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/thanks/") {
		t.Fatalf("submit: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	thanksPath = resp.Header.Get("Location")
	got = answerText(resp, body)
	resp, thanks := get(t, c, inst.URL+thanksPath)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("thank-you page: %d", resp.StatusCode)
	}
	ref = regexp.MustCompile(`id="reference">(RD-[0-9A-Z-]+)<`).FindStringSubmatch(thanks)[1]
	return ref, thanksPath, got + "\n" + answerText(resp, thanks)
}

// TestAttackFilingInAnotherPersonsNameGivesTheSubmitterNoLink: the attacker
// files a request with the victim's address, through the API and through
// the form, with email verification on and off. Whatever the attacker's
// client was handed opens nothing; the victim, reading their mailbox,
// reaches their status page; and once they confirm, only the link in the
// "confirmed" email works.
func TestAttackFilingInAnotherPersonsNameGivesTheSubmitterNoLink(t *testing.T) {
	for _, verify := range []string{"true", "false"} {
		for _, door := range []string{"api", "form"} {
			t.Run(door+"/VERIFY_EMAIL="+verify, func(t *testing.T) {
				inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": verify})
				var ref, got string
				if door == "api" {
					ref, got = attackerAPI(t, inst, victim)
				} else {
					ref, _, got = attackerForm(t, inst, request.Access, victim)
				}
				opensNothing(t, inst, "the "+door+"'s answer", got)

				// The owner of the mailbox, and only they, got the links.
				ack := inst.SMTP.WaitForMail(t, victim, ref, mailWait)
				links := ack.Links()
				if links.Status == "" || (verify == "true") != (links.Confirm != "") {
					t.Fatalf("the acknowledgement's links: %+v\n%s", links, ack.Text)
				}
				if got := inst.SMTP.Mailbox(victim); len(got) != 1 {
					t.Errorf("the victim got %d emails, want the acknowledgement only", len(got))
				}
				c := browser(t)
				resp, page := get(t, c, links.Status)
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, ref) {
					t.Fatalf("the mailbox's status link: %d", resp.StatusCode)
				}
				if verify == "false" {
					if !strings.Contains(page, "Мы получили ваш запрос и скоро возьмём его в работу.") {
						t.Error("without verification the request is not shown as received")
					}
					return
				}
				// Confirming issues a fresh link and revokes the first one.
				_, confirmPage := get(t, c, links.Confirm)
				if resp, _ := post(t, c, links.Confirm, url.Values{"_csrf": {formToken(t, confirmPage)}}); resp.StatusCode != http.StatusOK {
					t.Fatalf("confirm: %d", resp.StatusCode)
				}
				confirmed := inst.SMTP.WaitForMail(t, victim, "Адрес подтверждён", mailWait)
				fresh := confirmed.Links().Status
				if fresh == "" || fresh == links.Status {
					t.Fatalf("the confirmed email carries no new status link:\n%s", confirmed.Text)
				}
				if resp, _ := get(t, browser(t), links.Status); resp.StatusCode != http.StatusNotFound {
					t.Errorf("the acknowledgement's link after confirmation: %d, want 404", resp.StatusCode)
				}
				if resp, page := get(t, browser(t), fresh); resp.StatusCode != http.StatusOK || !strings.Contains(page, ref) {
					t.Errorf("the confirmed email's link: %d", resp.StatusCode)
				}
			})
		}
	}
}

// TestAttackALinkHandedOutBeforeConfirmationStopsWorkingWhenTheOwnerConfirms:
// a status link the submitter holds from before (one an earlier version
// handed out in its answer, or a resent one) is worth nothing once the owner
// of the address confirms.
func TestAttackALinkHandedOutBeforeConfirmationStopsWorkingWhenTheOwnerConfirms(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, _ := attackerAPI(t, inst, victim)
	// The link an earlier version returned to whoever submitted.
	held, err := request.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(context.Background(), `INSERT INTO status_links (token_hash, request_id, created_at)
		SELECT $1, id, received_at FROM requests WHERE reference = $2`, held.Hash, ref); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, browser(t), inst.URL+"/s/"+held.Plain); resp.StatusCode != http.StatusOK {
		t.Fatalf("the held link does not work before confirmation (%d): the test proves nothing", resp.StatusCode)
	}
	ack := inst.SMTP.WaitForMail(t, victim, ref, mailWait)
	c := browser(t)
	_, page := get(t, c, ack.Links().Confirm)
	if resp, _ := post(t, c, ack.Links().Confirm, url.Values{"_csrf": {formToken(t, page)}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	for name, link := range map[string]string{"the submitter's": inst.URL + "/s/" + held.Plain, "the acknowledgement's": ack.Links().Status} {
		resp, page := get(t, browser(t), link)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(page, ref) {
			t.Errorf("%s link after confirmation: %d, want 404", name, resp.StatusCode)
		}
		// Nor does it act: no reply, no withdrawal.
		if resp, _ := post(t, browser(t), link+"/withdraw", url.Values{}); resp.StatusCode == http.StatusSeeOther {
			t.Errorf("%s link withdraws the request after confirmation", name)
		}
	}
	if statusOf(t, inst, ref) != "new" {
		t.Errorf("status %s, want new", statusOf(t, inst, ref))
	}
	fresh := inst.SMTP.WaitForMail(t, victim, "Адрес подтверждён", mailWait).Links().Status
	if resp, _ := get(t, browser(t), fresh); resp.StatusCode != http.StatusOK {
		t.Errorf("the confirmed email's link: %d", resp.StatusCode)
	}
	if n := inst.Count(t, `SELECT count(*) FROM status_links l JOIN requests r ON r.id = l.request_id
		WHERE r.reference = $1 AND l.revoked_at IS NULL`, ref); n != 1 {
		t.Errorf("%d live status links after confirmation, want only the confirmed email's", n)
	}
}

// TestAttackTheThankYouPageRevealsNoLinkNoEarlierRequestAndExpires: the
// thank-you page is all the form's submitter sees. It holds no link, says
// nothing of whether the address already has an open request of that type
// (staff see that), grants nothing but itself, and closes after an hour.
func TestAttackTheThankYouPageRevealsNoLinkNoEarlierRequestAndExpires(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	// The victim's own erasure request, open.
	first, _, _ := attackerForm(t, inst, request.Erasure, victim)
	// The attacker's, in the victim's name, and another for a stranger.
	ref, thanksPath, got := attackerForm(t, inst, request.Erasure, victim)
	other, otherPath, _ := attackerForm(t, inst, request.Erasure, "nobody.else@example.kz")
	opensNothing(t, inst, "the form's answers", got)

	_, thanks := get(t, browser(t), inst.URL+thanksPath)
	_, fresh := get(t, browser(t), inst.URL+otherPath)
	// The two pages differ in nothing but their own facts.
	same := func(page, ref string) string { return strings.ReplaceAll(mainOf(page), ref, "REF") }
	if a, b := same(thanks, ref), same(fresh, other); a != b {
		t.Errorf("the thank-you page reads differently for an address that already has an open request of the type:\n%s\n---\n%s", a, b)
	}
	for _, tell := range []string{"уже есть открытый запрос", "связали", first} {
		if strings.Contains(thanks, tell) {
			t.Errorf("the thank-you page tells %q", tell)
		}
	}
	if !strings.Contains(thanks, "Проверьте почту") || !strings.Contains(thanks, "Откройте ссылку из письма") {
		t.Error("the thank-you page does not send the person to their email")
	}
	// Staff, and only staff, see the possible duplicate.
	if _, page := openRequest(t, inst, "daniyar@school.example.kz", ref).get(); !strings.Contains(page, "Возможный дубликат") || !strings.Contains(page, first) {
		t.Error("the staff request page does not show the possible duplicate")
	}

	// The receipt opens nothing else, and nothing of another request.
	receipt := strings.TrimPrefix(thanksPath, "/thanks/")
	for _, path := range []string{"/s/" + receipt, "/confirm/" + receipt, "/d/" + receipt,
		"/thanks/" + strings.Replace(receipt, ref, first, 1), "/thanks/" + ref, "/thanks/" + receipt + "x"} {
		if resp, page := get(t, browser(t), inst.URL+path); resp.StatusCode != http.StatusNotFound || strings.Contains(mainOf(page), first) {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	// A reload within the hour shows it again; after the hour it is gone.
	inst.Clock.Advance(request.ReceiptFor - time.Minute)
	if resp, _ := get(t, browser(t), inst.URL+thanksPath); resp.StatusCode != http.StatusOK {
		t.Errorf("the thank-you page within the hour: %d", resp.StatusCode)
	}
	inst.Clock.Advance(2 * time.Minute)
	resp, page := get(t, browser(t), inst.URL+thanksPath)
	if resp.StatusCode != http.StatusGone || strings.Contains(mainOf(page), ref) || !strings.Contains(page, "ссылке из письма") {
		t.Errorf("the thank-you page after its hour: %d", resp.StatusCode)
	}
}

// TestAttackAnIdempotentReplayRevealsNoLinkAndNoOneElsesRequest: replaying
// a submission (the same Idempotency-Key and body, or the same form) gives
// back what the first answer gave and nothing more; and one client's key
// never lands on another client's request.
func TestAttackAnIdempotentReplayRevealsNoLinkAndNoOneElsesRequest(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	body := validBody(request.Access, "ru")
	body["email"] = victim
	code, first, _ := postJSON(t, inst, encode(t, body), "Idempotency-Key", "order-1")
	if code != http.StatusCreated {
		t.Fatalf("first: %d %v", code, first)
	}
	ref := first["reference"].(string)
	inst.SMTP.WaitForMail(t, victim, ref, mailWait)
	emails := inst.Count(t, `SELECT count(*) FROM emails`)

	inst.Clock.Advance(time.Minute)
	req, _ := http.NewRequest(http.MethodPost, inst.URL+"/api/v1/requests", strings.NewReader(encode(t, body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "order-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var again map[string]any
	_ = json.Unmarshal(raw, &again)
	if resp.StatusCode != http.StatusCreated || len(again) != 4 {
		t.Fatalf("replay: %d %v", resp.StatusCode, again)
	}
	for _, k := range []string{"reference", "status", "received_at", "due_at"} {
		if again[k] != first[k] {
			t.Errorf("replay's %s: %v, first %v", k, again[k], first[k])
		}
	}
	opensNothing(t, inst, "the replay's answer", answerText(resp, string(raw)))
	if n := inst.Count(t, `SELECT count(*) FROM status_links`); n != 1 {
		t.Errorf("%d status links after the replay, want the acknowledgement's only", n)
	}
	// An email is recorded with the change that sends it: none was.
	if n := inst.Count(t, `SELECT count(*) FROM emails`); n != emails {
		t.Errorf("the replay recorded %d more emails", n-emails)
	}

	// Another client with the same key: its own request, not the victim's.
	mine := validBody(request.Access, "ru")
	mine["email"] = "someone.else@example.kz"
	code, out, _ := postJSON(t, inst, encode(t, mine), "Idempotency-Key", "order-1")
	if code != http.StatusCreated || out["reference"] == ref {
		t.Errorf("the same key from another client: %d %v", code, out)
	}
	// The operator's system with the same key and the victim's body: its
	// own request too (keys are scoped to the API key as well).
	key := newAPIKey(t, inst, "CRM", auth.Agent)
	status, vouched := apiCall(t, inst, key, http.MethodPost, "/api/v1/requests", encode(t, body), "Idempotency-Key", "order-1")
	if status != http.StatusCreated || vouched["reference"] == ref {
		t.Errorf("the same key from a vouching system: %d %v", status, vouched)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}

	// The form sent twice shows the same receipt, with no link either.
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/erasure")
	form := erasureForm(formToken(t, page))
	form.Set("email", victim)
	form.Set("form_id", regexp.MustCompile(`name="form_id" value="([^"]+)"`).FindStringSubmatch(page)[1])
	var receipts []string
	for range 2 {
		resp, body := post(t, c, inst.URL+"/request/erasure", form)
		_, thanks := get(t, c, inst.URL+resp.Header.Get("Location"))
		opensNothing(t, inst, "a repeated form's answers", answerText(resp, body)+thanks)
		receipts = append(receipts, regexp.MustCompile(`id="reference">(RD-[0-9A-Z-]+)<`).FindStringSubmatch(thanks)[1])
	}
	if receipts[0] != receipts[1] {
		t.Errorf("the same form filed %v", receipts)
	}
}

// TestAttackAResponseFileIsReachableOnlyThroughTheEmailedLink: a status
// link can travel (forwarded, seen over a shoulder, held from before);
// the answer's file does not come with it. The status page serves no file
// and no download link; its button sends a fresh link to the mailbox.
func TestAttackAResponseFileIsReachableOnlyThroughTheEmailedLink(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	desk := inst.App.Desk
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, statusPath := filed(t, inst, request.Access, "ru")
	owner := "aigerim.access.ru@example.kz"
	ctx := context.Background()
	if _, err := desk.RecordIdentityCheck(ctx, ref, request.ByStaff(agent.ID), request.IdentityDocumentSeen, "Удостоверение личности"); err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"grades":[5,4,5]}`)
	if _, err := desk.Complete(ctx, ref, request.ByStaff(agent.ID), request.Completion{Response: "Ваши данные во вложении.", File: &request.Upload{Name: "data.json", Content: secret}}); err != nil {
		t.Fatal(err)
	}
	emailed := inst.SMTP.WaitForMail(t, owner, "Ответ на ваш запрос", mailWait).Links().Download
	if emailed == "" {
		t.Fatal("the completion email carries no download link")
	}
	fileID := int64(inst.Count(t, `SELECT max(id) FROM files WHERE purpose = 'response'`))

	// Whoever holds the status link: the page has neither file nor link.
	c := browser(t)
	_, page := get(t, c, inst.URL+statusPath)
	if strings.Contains(page, "/d/") || strings.Contains(page, string(secret)) || strings.Contains(page, "grades") {
		t.Fatal("the status page hands out the file or its link")
	}
	if !strings.Contains(page, "Ссылку для скачивания этого файла мы отправили вам на почту") {
		t.Error("the status page does not say the link was emailed")
	}
	for _, path := range []string{statusPath + "/files/" + itoa(fileID), statusPath + "/files/" + itoa(fileID) + "/link"} {
		if resp, body := get(t, c, inst.URL+path); resp.StatusCode == http.StatusOK || strings.Contains(body, "grades") {
			t.Errorf("GET %s serves the file: %d", path, resp.StatusCode)
		}
	}
	downloads := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'file_downloaded'`)
	mails := len(inst.SMTP.Mailbox(owner))

	// The button: the new link goes to the mailbox, the browser learns only that.
	action := statusPath + "/files/" + itoa(fileID) + "/link"
	if resp, _ := post(t, c, inst.URL+action, url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the button without a CSRF token: %d", resp.StatusCode)
	}
	resp, body := post(t, c, inst.URL+action, url.Values{"_csrf": {formToken(t, page)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the button: %d", resp.StatusCode)
	}
	_, after := get(t, c, inst.URL+resp.Header.Get("Location"))
	opensNone(t, inst, "the button's answer", answerText(resp, body)+after, "/d/")
	if !strings.Contains(after, "Мы отправили новую ссылку для скачивания") {
		t.Error("the page does not say where the link went")
	}
	sent := inst.SMTP.WaitForMail(t, owner, "Ссылка для скачивания", mailWait)
	fresh := sent.Links().Download
	if fresh == "" || fresh == emailed || sent.Links().Status != "" {
		t.Fatalf("the download-link email: %+v\n%s", sent.Links(), sent.Text)
	}
	if got := downloadBody(t, fresh); !bytes.Equal(got, secret) {
		t.Errorf("the emailed link downloads %q", got)
	}
	if got := downloadBody(t, emailed); !bytes.Equal(got, secret) {
		t.Errorf("the completion email's link stopped working: %q", got)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'file_downloaded'`); n != downloads+2 {
		t.Errorf("%d downloads logged, want %d", n, downloads+2)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'download_link_sent' AND actor = 'requester'`); n != 1 {
		t.Errorf("%d download links sent on request, want 1 logged", n)
	}

	// The button for the answer of another request, or for no file, sends
	// nothing.
	otherRef, _ := filed(t, inst, request.Rectification, "ru")
	if _, err := desk.Complete(ctx, otherRef, request.ByStaff(agent.ID), request.Completion{Response: "Исправлено.", File: &request.Upload{Name: "other.json", Content: []byte(`{"other":1}`)}}); err != nil {
		t.Fatal(err)
	}
	otherFile := int64(inst.Count(t, `SELECT max(id) FROM files WHERE purpose = 'response'`))
	before := len(inst.SMTP.Mailbox(owner))
	for _, id := range []string{itoa(otherFile), itoa(otherFile + 1000), "-1", "0", "99999999999999999999", "x"} {
		_, page := get(t, c, inst.URL+statusPath)
		if resp, _ := post(t, c, inst.URL+statusPath+"/files/"+id+"/link", url.Values{"_csrf": {formToken(t, page)}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("the button for file %s: %d, want 404", id, resp.StatusCode)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'download_link'`); n != 1 || len(inst.SMTP.Mailbox(owner)) != before || before != mails+1 {
		t.Errorf("refused buttons sent emails: %d download-link emails", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM download_links l JOIN files f ON f.id = l.file_id WHERE f.id = $1`, otherFile); n != 1 {
		t.Errorf("another request's file got %d download links, want its own one", n)
	}
}

// TestAttackVerifiedIntakeTrustsOnlyAValidKeyThatMayVouch: the operator's
// own system files for a requester its sign-in proved, with a key whose
// role may vouch. A key that is sent but unknown, revoked, malformed or an
// auditor's is refused: never quietly taken for the public intake.
func TestAttackVerifiedIntakeTrustsOnlyAValidKeyThatMayVouch(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"INTAKE_RATE_LIMIT": "1"})
	keys := map[string]string{}
	for _, role := range auth.Roles() {
		keys[string(role)] = newAPIKey(t, inst, "LMS "+string(role), role)
	}
	revoked := newAPIKey(t, inst, "old", auth.Admin)
	runCLI(inst, "", "apikey", "revoke", itoa(apiKeyID(t, inst, "old")))
	submit := func(email, auth string) (int, map[string]any, http.Header) {
		t.Helper()
		body := validBody(request.Access, "kk")
		body["email"] = email
		if auth == "" {
			return postJSON(t, inst, encode(t, body))
		}
		return postJSON(t, inst, encode(t, body), "Authorization", auth)
	}

	// The public intake takes one a minute from this address.
	if code, _, _ := submit("public.one@example.kz", ""); code != http.StatusCreated {
		t.Fatalf("the first public submission: %d", code)
	}
	for _, role := range []string{"agent", "admin"} {
		email := "student." + role + "@example.kz"
		code, out, hdr := submit(email, "Bearer "+keys[role])
		if code != http.StatusCreated || out["status"] != "new" {
			t.Fatalf("%s key: %d %v", role, code, out)
		}
		ref := out["reference"].(string)
		statusURL, _ := out["status_url"].(string)
		if resp, page := get(t, browser(t), statusURL); resp.StatusCode != http.StatusOK || !strings.Contains(page, ref) {
			t.Errorf("%s key: the status_url answered to the trusted caller: %d", role, resp.StatusCode)
		}
		if hdr.Get("Location") != inst.URL+"/api/v1/requests/"+ref {
			t.Errorf("%s key: Location %q", role, hdr.Get("Location"))
		}
		// Confirmed from the start; the event names the key; the identity
		// check is the key's, by the operator's own account sign-in.
		keyID := apiKeyID(t, inst, "LMS "+role)
		if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id WHERE r.reference = $1
			AND e.kind = 'received' AND e.actor = 'staff' AND e.actor_id IS NULL AND e.to_status = 'new'
			AND (e.data->>'api_key_id')::bigint = $2 AND e.data->>'identity_method' = 'operator_account'`, ref, keyID); n != 1 {
			t.Errorf("%s key: the received event does not name the key that vouched", role)
		}
		r := inst.Request(t, ref)
		if r.ConfirmedAt.IsZero() || r.Identity.Method != request.IdentityOperatorAccount || r.Identity.APIKeyID != keyID || r.Identity.ByName != "API: LMS "+role {
			t.Errorf("%s key: confirmed %v, identity %+v", role, r.ConfirmedAt, r.Identity)
		}
		// No confirmation email: the acknowledgement, with its status link, only.
		ack := inst.SMTP.WaitForMail(t, email, ref, mailWait)
		if ack.Links().Confirm != "" || ack.Links().Status == "" {
			t.Errorf("%s key: the acknowledgement's links %+v", role, ack.Links())
		}
		if n := emailsOfKind(t, inst, ref, "acknowledgement"); n != 1 {
			t.Errorf("%s key: %d acknowledgements", role, n)
		}
	}
	// Both went past the per-address limit; the public intake is held to it.
	if code, _, _ := submit("public.two@example.kz", ""); code != http.StatusTooManyRequests {
		t.Errorf("the public intake after the limit: %d, want 429", code)
	}

	inst.Clock.Advance(time.Minute)
	before := inst.Count(t, `SELECT count(*) FROM requests`)
	for name, header := range map[string]string{
		"auditor":   "Bearer " + keys["auditor"],
		"revoked":   "Bearer " + revoked,
		"unknown":   "Bearer rdk_" + strings.Repeat("A", 43),
		"malformed": "Bearer not-a-key",
		"basic":     "Basic YWRtaW46YWRtaW4=",
		"empty":     "Bearer ",
	} {
		code, out, hdr := submit("student.forged@example.kz", header)
		want := http.StatusUnauthorized
		if name == "auditor" {
			want = http.StatusForbidden
		}
		if code != want || out["error"] == nil || out["reference"] != nil {
			t.Errorf("%s key: %d %v, want %d", name, code, out, want)
		}
		if want == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s key: 401 without WWW-Authenticate", name)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != before {
		t.Errorf("refused keys filed %d requests", n-before)
	}
	// No key at all: the public intake, as before.
	code, out, _ := submit("public.three@example.kz", "")
	if _, has := out["status_url"]; code != http.StatusCreated || out["status"] != "unverified" || has {
		t.Errorf("no key: %d %v", code, out)
	}
}

// TestAttackDataLeavesOnlyAfterTheIdentityCheckTheDeploymentRequires: an
// impersonator who controls the mailbox (a shared or stolen one) still
// cannot have a copy of the data, or its erasure, sent without staff
// recording who the requester is, where the deployment asks for that. The
// rule follows IDENTITY_CHECK; rejecting stays possible.
func TestAttackDataLeavesOnlyAfterTheIdentityCheckTheDeploymentRequires(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
		agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
		key := newAPIKey(t, inst, "CRM", auth.Agent)
		ctx := context.Background()
		for _, typ := range []request.Type{request.Access, request.Portability, request.Erasure} {
			ref, _ := filed(t, inst, typ, "ru")
			before := inst.RequestState(t, ref)
			if _, err := inst.App.Desk.Complete(ctx, ref, request.ByStaff(agent.ID), request.Completion{Response: "Готово."}); !errors.Is(err, request.ErrIdentityCheckMissing) {
				t.Errorf("%s: completing without a check: %v", typ, err)
			}
			if status, out := apiCall(t, inst, key, http.MethodPost, "/api/v1/requests/"+ref+"/transitions", `{"to":"completed","note":"Done."}`); status != http.StatusConflict || !strings.Contains(out["error"].(string), "проверка личности") {
				t.Errorf("%s: completing through the API without a check: %d %v", typ, status, out)
			}
			if after := inst.RequestState(t, ref); after != before {
				t.Errorf("%s: the refused completions changed the request", typ)
			}
		}
		// Through the workspace: refused with the reason, in words.
		ref, _ := filed(t, inst, request.Access, "ru")
		d := openRequest(t, inst, "daniyar@school.example.kz", ref)
		_, page := d.get()
		if !strings.Contains(page, "Требуется до отправки ответа") {
			t.Error("the request page does not say a check is needed")
		}
		resp, page := d.complete(map[string]string{"response": "Копия во вложении.", "step": "preview"}, "", nil)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(refusedText(page), "нужна проверка личности") {
			t.Errorf("completing from the page without a check: %d %q", resp.StatusCode, refusedText(page))
		}
		// Rejection stays possible: identity not confirmed is a ground.
		rejected, _ := filed(t, inst, request.Erasure, "kk")
		if _, err := inst.App.Desk.Reject(ctx, rejected, request.ByStaff(agent.ID), request.Rejection{Reason: "identity_not_confirmed", Text: "Жеке басыңыз расталмады."}); err != nil {
			t.Errorf("rejecting without a check: %v", err)
		}
		// Recorded on the page, completion goes through, and the log keeps
		// who checked and how; the note stays sealed beside it.
		note := "Удостоверение № 041234567 предъявлено лично"
		d.done(d.post("identity", url.Values{"method": {"in_person"}, "note": {note}}))
		_, page = d.complete(map[string]string{"response": "Копия во вложении.", "step": "preview"}, "", nil)
		_, _, digest, _ := preview(t, page)
		d.done(d.complete(map[string]string{"response": "Копия во вложении.", "step": "send", "digest": digest}, "", nil))
		if s := statusOf(t, inst, ref); s != "completed" {
			t.Fatalf("after the check: %s", s)
		}
		if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id WHERE r.reference = $1
			AND e.kind = 'identity_checked' AND e.actor = 'staff' AND e.actor_id = $2 AND e.data->>'method' = 'in_person'
			AND e.data::text NOT LIKE '%041234567%'`, ref, agent.ID); n != 1 {
			t.Error("the log does not keep who checked and how (or holds the note in the clear)")
		}
		var raw []byte
		if err := inst.Pool.QueryRow(ctx, `SELECT x.body FROM event_texts x JOIN events e ON e.id = x.event_id WHERE e.kind = 'identity_checked'`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("041234567")) {
			t.Error("the identity note is stored in the clear")
		}
		if texts := inst.EventTexts(t, "identity_checked"); len(texts) != 1 || texts[0] != note {
			t.Errorf("the identity note: %q", texts)
		}
		_, page = d.get()
		if li := timelineEntry(page, "Личность проверена: Лично"); !strings.Contains(li, "Данияр Агентов") || !strings.Contains(li, note) {
			t.Errorf("the timeline's identity check: %q", li)
		}
		// A request the operator's system vouched for needs no further check.
		status, out := apiCall(t, inst, key, http.MethodPost, "/api/v1/requests", encode(t, validBody(request.Portability, "en")))
		if status != http.StatusCreated {
			t.Fatalf("vouched intake: %d %v", status, out)
		}
		if _, err := inst.App.Desk.Complete(ctx, out["reference"].(string), request.ByStaff(agent.ID), request.Completion{Response: "Your export."}); err != nil {
			t.Errorf("completing a vouched request: %v", err)
		}
		// Information about the processing needs the email proof only.
		info := validBody(request.Access, "en")
		info["access_scope"], info["email"] = "information", "info@example.kz"
		code, out, _ := postJSON(t, inst, encode(t, info))
		if code != http.StatusCreated {
			t.Fatal(code)
		}
		if _, err := inst.App.Desk.Complete(ctx, out["reference"].(string), request.ByStaff(agent.ID), request.Completion{Response: "We process…"}); err != nil {
			t.Errorf("completing an access request for information: %v", err)
		}
	})

	t.Run("IDENTITY_CHECK=rectification", func(t *testing.T) {
		inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false", "IDENTITY_CHECK": "rectification"})
		agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
		ctx := context.Background()
		erasure, _ := filed(t, inst, request.Erasure, "ru")
		if _, err := inst.App.Desk.Complete(ctx, erasure, request.ByStaff(agent.ID), request.Completion{Response: "Удалено."}); err != nil {
			t.Errorf("erasure, configured as email proof only: %v", err)
		}
		rect, _ := filed(t, inst, request.Rectification, "ru")
		if _, err := inst.App.Desk.Complete(ctx, rect, request.ByStaff(agent.ID), request.Completion{Response: "Исправлено."}); !errors.Is(err, request.ErrIdentityCheckMissing) {
			t.Errorf("rectification, configured to need the check: %v", err)
		}
		if _, page := openRequest(t, inst, "daniyar@school.example.kz", erasure).get(); !strings.Contains(page, "Не требуется") {
			t.Error("the request page does not say the check is not needed")
		}
	})

	t.Run("IDENTITY_CHECK=none", func(t *testing.T) {
		inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false", "IDENTITY_CHECK": "none"})
		agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
		for _, typ := range []request.Type{request.Access, request.Portability, request.Erasure} {
			ref, _ := filed(t, inst, typ, "ru")
			if _, err := inst.App.Desk.Complete(context.Background(), ref, request.ByStaff(agent.ID), request.Completion{Response: "Готово."}); err != nil {
				t.Errorf("%s with email proof only: %v", typ, err)
			}
		}
	})
}

// TestAttackALinkHandedOutByAnOlderVersionStopsWorkingOnceReissued covers
// the upgrade: before issue 11 the public intake answered whoever filed a
// request with its status link, so someone who filed in another person's
// name may still hold a working one. `rightsdesk links reissue` makes every
// link made before the upgrade stop working and mails the owner of the
// address the only one that works; requests not yet confirmed (their links
// go at confirmation) and closed ones are left alone, and a second run
// finds nothing to do.
func TestAttackALinkHandedOutByAnOlderVersionStopsWorkingOnceReissued(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	ref, _ := filed(t, inst, request.Erasure, "ru")
	owner := "aigerim.erasure.ru@example.kz"
	// What the old API answered the filer with: a status link of the
	// request, stored as the old version stored it.
	token, err := request.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(context.Background(), `INSERT INTO status_links (token_hash, request_id, created_at)
		SELECT $1, id, $3 FROM requests WHERE reference = $2`, token.Hash, ref, inst.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	attacker := browser(t)
	if resp, _ := get(t, attacker, inst.URL+"/s/"+token.Plain); resp.StatusCode != http.StatusOK {
		t.Fatalf("the old link does not open the page to begin with: %d", resp.StatusCode)
	}
	closed, closedPath := filed(t, inst, request.Access, "ru")
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE requests SET status = 'withdrawn', closed_at = $2 WHERE reference = $1`, closed, inst.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	before := inst.Clock.Now().Add(time.Minute).Format(time.RFC3339)
	inst.Settle(t)
	mails := len(inst.SMTP.Messages())

	reissue := func(args ...string) (int, string, string) {
		return runCLIWith(inst, map[string]string{"BASE_URL": inst.URL}, "", append([]string{"links", "reissue", "--before", before}, args...)...)
	}
	code, out, errOut := reissue("--dry-run")
	if code != 0 || !strings.Contains(out, "would reissue the status links of (dry run, nothing changed) 1 requests") {
		t.Fatalf("dry run: exit %d, %q %q", code, out, errOut)
	}
	if resp, _ := get(t, attacker, inst.URL+"/s/"+token.Plain); resp.StatusCode != http.StatusOK {
		t.Fatal("a dry run changed the links")
	}

	code, out, errOut = reissue()
	if code != 0 || !strings.Contains(out, "reissued the status links of 1 requests") {
		t.Fatalf("reissue: exit %d, %q %q", code, out, errOut)
	}
	inst.Settle(t)
	if resp, _ := get(t, attacker, inst.URL+"/s/"+token.Plain); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the link handed out before the upgrade still opens the page: %d", resp.StatusCode)
	}
	got := inst.SMTP.Messages()[mails:]
	if len(got) != 1 || got[0].To[0] != owner || !strings.Contains(got[0].Subject, "Новая ссылка на ваш запрос "+ref) ||
		!strings.Contains(got[0].Text, "теперь ссылка на страницу приходит только на адрес") {
		t.Fatalf("emails after the reissue: %+v", got)
	}
	if resp, _ := get(t, browser(t), got[0].Links().Status); resp.StatusCode != http.StatusOK {
		t.Errorf("the reissued link does not open the page: %d", resp.StatusCode)
	}
	if resp, _ := get(t, browser(t), inst.URL+closedPath); resp.StatusCode != http.StatusOK {
		t.Errorf("a closed request's link was reissued too: %d", resp.StatusCode)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = $1 AND actor = 'system'`, request.EventLinksReissued); n != 1 {
		t.Errorf("%d reissue events, want 1", n)
	}

	code, out, _ = reissue()
	if code != 0 || !strings.Contains(out, "reissued the status links of 0 requests") {
		t.Errorf("a second run: exit %d, %q", code, out)
	}
}
