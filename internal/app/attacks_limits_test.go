package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
)

// The abuse a status link, the intake and the acknowledgement emails
// allowed before their limits (docs/security.md, "Limits"). Each attack is
// carried out the way an attacker would, through the real HTTP surface;
// each refusal must say why in the visitor's language and change nothing.

// statusLinkOf submits body through the API and returns the reference and
// the path of the status link the acknowledgement brought to the mailbox.
func statusLinkOf(t *testing.T, inst *apptest.Instance, body map[string]any) (ref, statusPath string) {
	t.Helper()
	code, out, _ := postJSON(t, inst, encode(t, body))
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	ref = out["reference"].(string)
	_, _, link, _ := lastMailTo(t, inst, body["email"].(string), ref)
	if link == "" {
		t.Fatalf("the acknowledgement of %s carries no status link", ref)
	}
	return ref, strings.TrimPrefix(link, inst.URL)
}

// replyOn sends a reply with files from the status page at statusPath.
func replyOn(t *testing.T, inst *apptest.Instance, c *http.Client, statusPath, text string, files map[string][]byte) (*http.Response, string) {
	t.Helper()
	_, page := get(t, c, inst.URL+statusPath)
	body, ctype := multipartReply(t, formToken(t, page), text, files)
	return postMultipart(t, c, inst.URL+statusPath+"/reply", body, ctype)
}

func messagesTo(inst *apptest.Instance, addr string) int {
	n := 0
	for _, m := range inst.SMTP.Messages() {
		if strings.EqualFold(m.To[0], addr) {
			n++
		}
	}
	return n
}

// TestAttackReplyFloodIsRefusedPerLinkAndPerRequest floods a request with
// replies through its status link (each one stored and mailed to staff),
// then through fresh links asked for again and again: five an hour per
// link and twenty a day per request get through, the rest are refused with
// the limit and the time it lifts, and nothing of them is stored or sent.
func TestAttackReplyFloodIsRefusedPerLinkAndPerRequest(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	body := validBody(request.Access, "ru")
	ref, link := statusLinkOf(t, inst, body)
	c := browser(t)
	replies := func() int {
		return inst.Count(t, `SELECT count(*) FROM messages m JOIN requests r ON r.id = m.request_id
			WHERE r.reference = $1 AND m.author = 'requester'`, ref)
	}
	accepted := func(n int, link string) {
		t.Helper()
		for i := range n {
			resp, _ := replyOn(t, inst, c, link, fmt.Sprintf("Сообщение %d", replies()+1), nil)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("reply %d through %s: %d, want it accepted", i+1, link, resp.StatusCode)
			}
		}
	}
	refused := func(link, want string) {
		t.Helper()
		before := replies()
		resp, page := replyOn(t, inst, c, link, "Ещё одно сообщение, которое не пройдёт", map[string][]byte{"scan.pdf": pdf})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("reply past the limit: %d, want 429", resp.StatusCode)
		}
		if !strings.Contains(page, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, mainOf(page))
		}
		if !strings.Contains(page, "Ещё одно сообщение, которое не пройдёт</textarea>") {
			t.Error("the refused message is not kept in the form")
		}
		if sec, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || sec <= 0 || sec > 24*3600 {
			t.Errorf("Retry-After %q, want seconds until the limit lifts", resp.Header.Get("Retry-After"))
		}
		if replies() != before {
			t.Errorf("the refused reply was stored")
		}
	}

	accepted(request.MaxRepliesPerLink, link)
	refused(link, "Через эту ссылку можно отправить не больше 5 сообщений в час")
	refused(link, "написать снова можно с 2 марта 2026 года, 11:00")
	// An hour after the first, the link takes a reply again.
	inst.Clock.Advance(time.Hour + time.Minute)
	accepted(1, link)

	// New links, asked for with the reference and the address, each allow
	// five more: the request as a whole stops at twenty a day.
	fresh := func() string {
		t.Helper()
		_, page := get(t, c, inst.URL+"/status")
		resp, _ := post(t, c, inst.URL+"/status", url.Values{"_csrf": {formToken(t, page)}, "reference": {ref}, "email": {body["email"].(string)}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("asking for a new link: %d", resp.StatusCode)
		}
		inst.Settle(t)
		_, _, l, _ := lastMailTo(t, inst, body["email"].(string), ref)
		return strings.TrimPrefix(l, inst.URL)
	}
	for replies() < request.MaxRepliesPerRequest {
		next := fresh()
		if next == link {
			t.Fatal("asking again gave the same link")
		}
		link = next
		accepted(min(request.MaxRepliesPerLink, request.MaxRepliesPerRequest-replies()), link)
	}
	refused(link, "По одному запросу можно отправить не больше 20 сообщений в сутки")

	inst.Settle(t)
	if n := emailsOfKind(t, inst, ref, request.EmailStaffReply); n != request.MaxRepliesPerRequest {
		t.Errorf("%d reply notices to staff, want one per accepted reply (%d)", n, request.MaxRepliesPerRequest)
	}
	if n := inst.Count(t, `SELECT count(*) FROM files f JOIN requests r ON r.id = f.request_id WHERE r.reference = $1`, ref); n != 0 {
		t.Errorf("%d files stored from refused replies", n)
	}
	// A day after the first reply, the request takes replies again.
	inst.Clock.Advance(24 * time.Hour)
	accepted(1, link)
}

// TestAttackStorageExhaustionIsRefusedWithTheQuotaNamed uploads as much as
// a status link takes, then more: past 50 MB in all for the request the
// files are refused with the quota and what is left, and nothing is
// stored.
func TestAttackStorageExhaustionIsRefusedWithTheQuotaNamed(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	ref, link := statusLinkOf(t, inst, validBody(request.Erasure, "kk"))
	c := browser(t)
	scan := func(mb int) []byte {
		return append(append([]byte{}, pdf...), bytes.Repeat([]byte{'x'}, mb<<20-len(pdf))...)
	}
	stored := func() int64 {
		var n int64
		if err := inst.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(size), 0) FROM files f JOIN requests r ON r.id = f.request_id
			WHERE r.reference = $1`, ref).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	big := map[string][]byte{}
	for i := range 5 {
		big[fmt.Sprintf("scan-%d.pdf", i)] = scan(9)
	}
	if resp, _ := replyOn(t, inst, c, link, "Құжаттар", big); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("45 MB of documents: %d, want them accepted", resp.StatusCode)
	}
	resp, page := replyOn(t, inst, c, link, "Тағы құжаттар", map[string][]byte{"more-1.pdf": scan(3), "more-2.pdf": scan(3)})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("6 MB more: %d, want 422", resp.StatusCode)
	}
	if want := "Бір сұраудың файлдарының жалпы көлемі 50 МБ-тан аспауы керек, 5 МБ қалды."; !strings.Contains(page, want) {
		t.Errorf("the refusal does not name the quota (%q):\n%s", want, mainOf(page))
	}
	if got := stored(); got != 45<<20 {
		t.Errorf("%d bytes stored, want the first 45 MB only", got)
	}
	if n := inst.Count(t, `SELECT count(*) FROM messages m JOIN requests r ON r.id = m.request_id WHERE r.reference = $1`, ref); n != 1 {
		t.Errorf("%d messages, want the first reply only", n)
	}
	// What still fits is taken.
	if resp, _ := replyOn(t, inst, c, link, "Соңғы құжат", map[string][]byte{"last.pdf": scan(4)}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("4 MB within the quota: %d, want it accepted", resp.StatusCode)
	}
	if got := stored(); got != 49<<20 {
		t.Errorf("%d bytes stored, want 49 MB", got)
	}
}

// TestAttackIPv6Slash64RotationIsOneClient submits from ever new addresses
// of one IPv6 /64, as any host given a /64 can: they share one intake
// limit, while another /64 has its own; an IPv4 client counts the same
// whether written plainly or IPv4-mapped.
func TestAttackIPv6Slash64RotationIsOneClient(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"INTAKE_RATE_LIMIT": "3", "TRUSTED_PROXIES": "127.0.0.1/32"})
	n := 0
	from := func(addr string) (int, http.Header) {
		t.Helper()
		n++
		body := validBody(request.Erasure, "ru")
		body["email"] = fmt.Sprintf("rotating%d@example.kz", n)
		code, out, hdr := postJSON(t, inst, encode(t, body), "X-Forwarded-For", addr)
		if code != http.StatusCreated && code != http.StatusTooManyRequests {
			t.Fatalf("from %s: %d %v", addr, code, out)
		}
		return code, hdr
	}
	for _, addr := range []string{"2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6:aaaa:bbbb:cccc:dddd"} {
		if code, _ := from(addr); code != http.StatusCreated {
			t.Fatalf("from %s: %d, want the first three of the /64 accepted", addr, code)
		}
	}
	code, hdr := from("2001:db8:5:6:ffff:ffff:ffff:fffe")
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("a fourth address of the same /64: %d (Retry-After %q), want 429", code, hdr.Get("Retry-After"))
	}
	if code, _ := from("2001:db8:5:7::1"); code != http.StatusCreated {
		t.Errorf("the next /64: %d, want its own limit", code)
	}
	for range 3 {
		if code, _ := from("203.0.113.9"); code != http.StatusCreated {
			t.Fatalf("an IPv4 client: %d, want its own limit", code)
		}
	}
	if code, _ := from("::ffff:203.0.113.9"); code != http.StatusTooManyRequests {
		t.Errorf("the same IPv4 client written IPv4-mapped: %d, want 429", code)
	}
	if got := inst.Count(t, `SELECT count(*) FROM requests`); got != 3+1+3 {
		t.Errorf("%d requests stored, want 7", got)
	}
}

// TestAttackAcknowledgementMailBombIsCappedPerAddress files request after
// request in a victim's name, through the API and the form, so that the
// portal mails the victim: past ACKNOWLEDGEMENTS_PER_DAY (5 by default) a
// day, however the address is written, the submission is refused (429 with
// Retry-After, in the submitter's language), nothing is stored and nothing
// more is mailed; another address is not affected, and the next day the
// victim's address is served again.
func TestAttackAcknowledgementMailBombIsCappedPerAddress(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"ACKNOWLEDGEMENTS_PER_DAY": ""}) // the default
	const victim = "victim@example.kz"
	types := request.AllTypes()
	for i := range 5 {
		body := validBody(types[i%len(types)], "ru")
		body["email"] = []string{victim, "Victim@Example.KZ", " victim@EXAMPLE.kz"}[i%3]
		if code, out, _ := postJSON(t, inst, encode(t, body)); code != http.StatusCreated {
			t.Fatalf("submission %d: %d %v", i+1, code, out)
		}
	}
	body := validBody(request.Objection, "ru")
	body["email"] = "VICTIM@example.kz"
	code, out, hdr := postJSON(t, inst, encode(t, body))
	if code != http.StatusTooManyRequests {
		t.Fatalf("a sixth submission for the address: %d %v, want 429", code, out)
	}
	// The instance's clock says 2 March 2026, 10:00 in Almaty: the day ends in 14 hours.
	if hdr.Get("Retry-After") != strconv.Itoa(14*3600) {
		t.Errorf("Retry-After %q, want the seconds until the operator's next day (%d)", hdr.Get("Retry-After"), 14*3600)
	}
	if msg, _ := out["error"].(string); !strings.Contains(msg, "предельное число писем о новых запросах (5 в день)") {
		t.Errorf("API answer %q does not say why in Russian", msg)
	}

	// The form, in Kazakh.
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/erasure", "Accept-Language", "kk")
	form := erasureForm(formToken(t, page))
	form.Set("locale", "kk")
	form.Set("email", victim)
	resp, page := post(t, c, inst.URL+"/request/erasure", form)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the form past the limit: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if want := "бүгін бір күндік шегіне жетті (күніне 5)"; !strings.Contains(page, want) {
		t.Errorf("the form does not say why in Kazakh (%q):\n%s", want, mainOf(page))
	}
	if !strings.Contains(page, `value="Ерлан Сапаров"`) {
		t.Error("the refused form lost what was typed")
	}

	// Someone else is served.
	other := validBody(request.Erasure, "en")
	other["email"] = "someone.else@example.kz"
	if code, out, _ := postJSON(t, inst, encode(t, other)); code != http.StatusCreated {
		t.Fatalf("another address: %d %v", code, out)
	}
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 6 {
		t.Errorf("%d requests stored, want 5 for the victim and 1 for the other address", n)
	}
	if n := messagesTo(inst, victim); n != 5 {
		t.Errorf("the victim received %d emails, want 5", n)
	}

	// The operator's next day (Asia/Almaty) starts a new count.
	inst.Clock.Advance(14 * time.Hour)
	if code, out, _ := postJSON(t, inst, encode(t, body)); code != http.StatusCreated {
		t.Fatalf("the next day: %d %v", code, out)
	}
}

// TestAttackLingeringFilesOfUnverifiedRequestsArePurgedAtExpiry attaches
// documents to requests whose address is never confirmed - as someone
// filing in another's name does - and checks that their content goes as
// soon as the request expires or is withdrawn unconfirmed, that the staff
// download link then serves nothing, and that the daily retention sweep
// removes what an earlier version left behind.
func TestAttackLingeringFilesOfUnverifiedRequestsArePurgedAtExpiry(t *testing.T) {
	inst := apptest.Start(t, nil) // VERIFY_EMAIL: requests start unverified
	inst.AddStaff(t, "officer@school.example.kz", "Офицер", auth.Admin)
	ctx := context.Background()
	withProof := func(email string) (ref string, fileID int64) {
		t.Helper()
		resp, _ := proofForm(t, inst, email, map[string][]byte{"birth-certificate.pdf": pdf})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("form with proof: %d", resp.StatusCode)
		}
		subject, _, _, _ := lastMailTo(t, inst, email, "")
		ref = regexp.MustCompile(`RD-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(subject)
		files := inst.Files(t, ref)
		if len(files) != 1 || !bytes.Equal(inst.FileContent(t, files[0].ID), pdf) {
			t.Fatalf("the proof of %s is not stored", ref)
		}
		return ref, files[0].ID
	}
	purged := func(ref string, fileID int64) {
		t.Helper()
		if n := inst.Count(t, `SELECT count(*) FROM files WHERE id = $1 AND content IS NULL AND deleted_at IS NOT NULL`, fileID); n != 1 {
			t.Errorf("the proof of %s still has its content", ref)
		}
		if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
			WHERE r.reference = $1 AND e.kind = 'files_deleted' AND e.data->>'files' = '1'`, ref); n != 1 {
			t.Errorf("%d files_deleted events for %s, want 1", n, ref)
		}
		staff := inst.SignIn(t, "officer@school.example.kz") // now: the clock moves by days
		resp, body := get(t, staff, fmt.Sprintf("%s/staff/requests/%s/files/%d", inst.URL, ref, fileID))
		if resp.StatusCode != http.StatusGone || strings.Contains(body, string(pdf)) {
			t.Errorf("the staff download link of %s answers %d, want 410 and no file", ref, resp.StatusCode)
		}
	}

	// Expiry: the sweep that closes the request takes its files.
	expiring, expiringFile := withProof("someone.else@example.kz")
	inst.Clock.Advance(inst.Config.ConfirmLinkTTL + time.Minute)
	if n, err := inst.App.Expirer.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("expiry sweep: %d, %v", n, err)
	}
	if s := statusOf(t, inst, expiring); s != "expired" {
		t.Fatalf("status %s, want expired", s)
	}
	purged(expiring, expiringFile)
	if n := inst.Count(t, `SELECT count(*) FROM download_links`); n != 0 {
		t.Errorf("%d download links left", n)
	}

	// Withdrawn before the address was confirmed: the same.
	withdrawn, withdrawnFile := withProof("another.victim@example.kz")
	_, _, link, _ := lastMailTo(t, inst, "another.victim@example.kz", withdrawn)
	c := browser(t)
	_, page := get(t, c, link+"/withdraw")
	if resp, _ := post(t, c, link+"/withdraw", url.Values{"_csrf": {formToken(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", resp.StatusCode)
	}
	purged(withdrawn, withdrawnFile)

	// Left behind by a version that kept them: the next retention run
	// deletes them, although the request closed minutes ago.
	left, leftFile := withProof("third.person@example.kz")
	if _, err := inst.Pool.Exec(ctx, `UPDATE requests SET status = 'expired', closed_at = $2 WHERE reference = $1`, left, inst.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := inst.App.Retention.Run(ctx, inst.Clock.Now().Add(time.Minute))
	if err != nil || res.FilesDeleted != 1 {
		t.Fatalf("retention run: %+v, %v; want the one file left behind deleted", res, err)
	}
	purged(left, leftFile)

	// A confirmed request's documents stay for FILE_RETENTION after closing.
	kept, keptFile := withProof("real.parent@example.kz")
	if _, err := inst.Pool.Exec(ctx, `UPDATE requests SET status = 'withdrawn', confirmed_at = $2, closed_at = $2 WHERE reference = $1`, kept, inst.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.App.Retention.Run(ctx, inst.Clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inst.FileContent(t, keptFile), pdf) {
		t.Error("the retention run took the documents of a confirmed request before FILE_RETENTION")
	}
}

// TestAttackLinkEmailsAskedForAreCappedPerRequest presses the status page's
// "email me a download link" button, and sends the lost-link form, again
// and again: each mails the request's own address, so whoever holds a
// forwarded status link, or knows a reference and its address, could fill
// that mailbox. Three of each an hour reach it; the button says why it sent
// nothing more, the lost-link form answers as ever and sends nothing; the
// next hour they work again.
func TestAttackLinkEmailsAskedForAreCappedPerRequest(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false", "INTAKE_RATE_LIMIT": "0"})
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, statusPath := filed(t, inst, request.Access, "ru")
	owner := "aigerim.access.ru@example.kz"
	ctx := context.Background()
	if _, err := inst.App.Desk.RecordIdentityCheck(ctx, ref, request.ByStaff(agent.ID), request.IdentityDocumentSeen, "Удостоверение личности"); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.App.Desk.Complete(ctx, ref, request.ByStaff(agent.ID), request.Completion{Response: "Ваши данные во вложении.", File: &request.Upload{Name: "data.json", Content: []byte(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	fileID := inst.Count(t, `SELECT max(id) FROM files WHERE purpose = 'response'`)
	c := browser(t)
	press := func() (*http.Response, string) {
		_, page := get(t, c, inst.URL+statusPath)
		return post(t, c, inst.URL+statusPath+"/files/"+strconv.Itoa(fileID)+"/link", url.Values{"_csrf": {formToken(t, page)}})
	}
	for i := 0; i < request.MaxLinkEmailsPerHour; i++ {
		if resp, _ := press(); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("press %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := press()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a press past the limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "не больше 3 писем со ссылкой") {
		t.Errorf("the refusal does not say why:\n%s", body)
	}

	// The lost-link form: the same answer whether it sent or not.
	resend := func() string {
		_, page := get(t, c, inst.URL+"/status")
		_, body := post(t, c, inst.URL+"/status", url.Values{"_csrf": {formToken(t, page)}, "reference": {ref}, "email": {owner}})
		return body
	}
	var answers []string
	for i := 0; i <= request.MaxLinkEmailsPerHour; i++ {
		answers = append(answers, resend())
	}
	if answers[len(answers)-1] != answers[0] {
		t.Error("the lost-link form answers differently once it stops sending")
	}
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'download_link'`); n != request.MaxLinkEmailsPerHour {
		t.Errorf("%d download-link emails, want %d", n, request.MaxLinkEmailsPerHour)
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'status_link'`); n != request.MaxLinkEmailsPerHour {
		t.Errorf("%d lost-link emails, want %d", n, request.MaxLinkEmailsPerHour)
	}

	// The next hour the button works again, through the one link still
	// live: each lost-link email revoked the earlier ones. (The newest mail
	// to arrive need not be the last sent: the emails are delivered at once,
	// in any order.)
	inst.Clock.Advance(time.Hour)
	statusPath = liveStatusPath(t, inst, c, owner, ref)
	if resp, _ := press(); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the button an hour later: %d", resp.StatusCode)
	}
	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'download_link'`); n != request.MaxLinkEmailsPerHour+1 {
		t.Errorf("%d download-link emails after an hour, want %d", n, request.MaxLinkEmailsPerHour+1)
	}
}

// liveStatusPath is the path of the one status link, among those mailed to
// addr about ref, that still opens the status page.
func liveStatusPath(t *testing.T, inst *apptest.Instance, c *http.Client, addr, ref string) string {
	t.Helper()
	var live []string
	for _, m := range inst.SMTP.Mailbox(addr) {
		link := m.Links().Status
		if !strings.Contains(m.Subject, ref) || link == "" {
			continue
		}
		if resp, _ := get(t, c, link); resp.StatusCode == http.StatusOK {
			live = append(live, strings.TrimPrefix(link, inst.URL))
		}
	}
	if len(live) != 1 {
		t.Fatalf("%d live status links mailed to %s about %s, want 1", len(live), addr, ref)
	}
	return live[0]
}
