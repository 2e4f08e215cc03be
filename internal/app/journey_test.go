package app_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
)

// filed submits a request through the public API and returns its reference
// and the path of its status page, read from the acknowledgement in the
// requester's mailbox: the only place the link goes.
func filed(t *testing.T, inst *apptest.Instance, typ request.Type, locale string) (string, string) {
	t.Helper()
	body := validBody(typ, locale)
	code, out, _ := postJSON(t, inst, encode(t, body))
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, out)
	}
	ref := out["reference"].(string)
	return ref, mailedStatusPath(t, inst, body["email"].(string), ref)
}

// mailedStatusPath returns the path of the status link in the newest email
// about ref that addr received (the test SMTP server) with one. A link sent
// later revokes the earlier ones, and emails are delivered concurrently, so
// the newest is the last the request recorded, not the last to arrive: it
// waits until every email of the request has been tried, then picks by the
// order the emails were recorded in.
func mailedStatusPath(t *testing.T, inst *apptest.Instance, addr, ref string) string {
	t.Helper()
	inst.SMTP.WaitForMail(t, addr, ref, 20*time.Second)
	waitFor(t, 20*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM emails e JOIN requests r ON r.id = e.request_id
			WHERE r.reference = $1 AND e.state = 'queued'`, ref) == 0
	})
	rows, err := inst.Pool.Query(t.Context(), `SELECT e.message_id FROM emails e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 ORDER BY e.id DESC`, ref)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	box := inst.SMTP.Mailbox(addr)
	for _, id := range ids {
		for _, m := range box {
			if link := m.Links().Status; m.MessageID == id && strings.HasPrefix(link, inst.URL+"/s/") {
				return strings.TrimPrefix(link, inst.URL)
			}
		}
	}
	t.Fatalf("no email about %s to %s carries a status link", ref, addr)
	return ""
}

func setStatus(t *testing.T, inst *apptest.Instance, ref, status string) {
	t.Helper()
	// Staff actions arrive with the staff workspace; until then tests put
	// the request where they need it directly.
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE requests SET status = $2 WHERE reference = $1`, ref, status); err != nil {
		t.Fatal(err)
	}
}

func emailsOfKind(t *testing.T, inst *apptest.Instance, ref, kind string) int {
	t.Helper()
	return inst.Count(t, `SELECT count(*) FROM emails e JOIN requests r ON r.id = e.request_id WHERE r.reference = $1 AND e.kind = $2`, ref, kind)
}

func TestWithdrawingAsksFirstTellsBothSidesAndHappensOnce(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, statusPath := filed(t, inst, request.Erasure, "ru")
	c := browser(t)
	_, page := get(t, c, inst.URL+statusPath)
	if !strings.Contains(page, statusPath+"/withdraw") {
		t.Fatal("the status page offers no way to withdraw")
	}
	resp, confirm := get(t, c, inst.URL+statusPath+"/withdraw")
	if resp.StatusCode != http.StatusOK || !strings.Contains(confirm, "Да, отозвать запрос") {
		t.Fatalf("confirmation step: %d", resp.StatusCode)
	}
	if s := statusOf(t, inst, ref); s != "unverified" {
		t.Fatalf("asking changed the status to %s", s)
	}
	token := formToken(t, confirm)
	resp, _ = post(t, c, inst.URL+statusPath+"/withdraw", url.Values{"_csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", resp.StatusCode)
	}
	_, page = get(t, c, inst.URL+resp.Header.Get("Location"))
	if !strings.Contains(page, "Запрос отозван.") || !strings.Contains(page, "Вы отозвали запрос") || strings.Contains(page, statusPath+"/withdraw") {
		t.Error("the status page does not show the withdrawal")
	}
	if s := statusOf(t, inst, ref); s != "withdrawn" {
		t.Fatalf("status %s", s)
	}
	resp, _ = post(t, c, inst.URL+statusPath+"/withdraw", url.Values{"_csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("second withdrawal: %d", resp.StatusCode)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'withdrawn'`); n != 1 {
		t.Errorf("%d withdrawn events", n)
	}
	if emailsOfKind(t, inst, ref, "withdrawn") != 1 || emailsOfKind(t, inst, ref, "staff_withdrawn") != 1 {
		t.Error("withdrawal emails not recorded once each")
	}
	msgs := inst.SMTP.WaitForMessages(t, 4, 20*time.Second)
	var mine, staff bool
	for _, m := range msgs {
		mine = mine || m.Subject == "Запрос "+ref+" отозван"
		staff = staff || (m.To[0] == "privacy@school.example.kz" && strings.Contains(m.Subject, ref) && strings.Contains(m.Subject, "отозвал"))
	}
	if !mine || !staff {
		t.Errorf("withdrawal emails: requester %v, staff %v", mine, staff)
	}
}

func multipartReply(t *testing.T, token, text string, files map[string][]byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("_csrf", token)
	_ = w.WriteField("message", text)
	for name, content := range files {
		fw, err := w.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(content)
	}
	_ = w.Close()
	return &buf, w.FormDataContentType()
}

func postMultipart(t *testing.T, c *http.Client, u string, body *bytes.Buffer, ctype string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Post(u, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

var pdf = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")

func TestRequesterAnswersWithTextAndDocuments(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, statusPath := filed(t, inst, request.Access, "ru")
	c := browser(t)

	_, page := get(t, c, inst.URL+statusPath)
	if strings.Contains(page, `name="message"`) {
		t.Error("an unconfirmed request offers a reply form")
	}
	setStatus(t, inst, ref, "awaiting_requester")
	_, page = get(t, c, inst.URL+statusPath)
	if !strings.Contains(page, "Нам нужна информация от вас") || !strings.Contains(page, `enctype="multipart/form-data"`) {
		t.Fatal("the status page does not ask for the information")
	}
	token := formToken(t, page)

	// A text file called .pdf is refused by its content, and nothing is kept.
	body, ctype := multipartReply(t, token, "Вот паспорт", map[string][]byte{"passport.pdf": []byte("just text, not a PDF")})
	resp, page := postMultipart(t, c, inst.URL+statusPath+"/reply", body, ctype)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Файл «passport.pdf» — не PDF, JPEG или PNG.") {
		t.Fatalf("disguised file: %d", resp.StatusCode)
	}
	if !strings.Contains(page, "Вот паспорт") {
		t.Error("the typed message was lost")
	}
	if n := inst.Count(t, `SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM files)`); n != 0 {
		t.Fatalf("a refused reply stored %d rows", n)
	}

	png := append([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, bytes.Repeat([]byte{0}, 64)...)
	body, ctype = multipartReply(t, token, "Вот паспорт и доверенность", map[string][]byte{"../../etc/passport.pdf": pdf, "скан.png": png})
	resp, _ = postMultipart(t, c, inst.URL+statusPath+"/reply", body, ctype)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", resp.StatusCode)
	}
	if s := statusOf(t, inst, ref); s != "in_progress" {
		t.Errorf("status after the reply: %s, want in_progress", s)
	}
	stored := 0
	for _, f := range inst.Files(t, ref) {
		if f.Name == "passport.pdf" && f.ContentType == "application/pdf" && bytes.Equal(inst.FileContent(t, f.ID), pdf) {
			stored++
		}
	}
	if stored != 1 {
		t.Error("the PDF was not stored under a safe name")
	}
	if n := inst.Count(t, `SELECT count(*) FROM files WHERE content_type = 'image/png' AND message_id IS NOT NULL`); n != 1 {
		t.Error("the PNG was not stored with its message")
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'requester_replied' AND from_status = 'awaiting_requester' AND to_status = 'in_progress'`); n != 1 {
		t.Error("the reply was not logged")
	}
	_, page = get(t, c, inst.URL+resp.Header.Get("Location"))
	for _, want := range []string{"Спасибо, ваше сообщение отправлено.", "Вот паспорт и доверенность", "passport.pdf", "скан.png", "Вы отправили сообщение"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if emailsOfKind(t, inst, ref, "staff_reply") != 1 {
		t.Error("nobody on staff was told of the reply")
	}
}

func TestTooManyOrTooLargeFilesAreRefused(t *testing.T) {
	verr := &request.ValidationError{}
	var six []request.Upload
	for i := range 6 {
		six = append(six, request.Upload{Name: fmt.Sprintf("%d.pdf", i), Content: pdf})
	}
	if request.CheckUploads("files", request.FileRequester, six, 0, verr); verr.Fields["files"].Key != "error.too_many_files" {
		t.Errorf("six files: %v", verr.Fields)
	}
	verr = &request.ValidationError{}
	big := append(append([]byte{}, pdf...), make([]byte, request.MaxUploadSize)...)
	if request.CheckUploads("files", request.FileRequester, []request.Upload{{Name: "big.pdf", Content: big}}, 0, verr); verr.Fields["files"].Key != "error.file_too_large" {
		t.Errorf("big file: %v", verr.Fields)
	}
	for _, name := range []string{"../../x.pdf", "C:\\Users\\a\\x.pdf", ".hidden.pdf", "a\x00b.pdf", "evil\".pdf"} {
		if got := request.SafeFileName(name); strings.ContainsAny(got, "/\\\x00\"") || strings.HasPrefix(got, ".") {
			t.Errorf("SafeFileName(%q) = %q", name, got)
		}
	}
}

func TestLostLinkIsSentAgainWithoutTellingWhoHasARequest(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, oldPath := filed(t, inst, request.Objection, "kk")
	inst.SMTP.WaitForMessages(t, 2, 20*time.Second)
	c := browser(t)
	_, page := get(t, c, inst.URL+"/status")
	token := formToken(t, page)

	ask := func(reference, email string) string {
		_, page := post(t, c, inst.URL+"/status", url.Values{"_csrf": {token}, "reference": {reference}, "email": {email}})
		return mainOf(page)
	}
	wrongEmail := ask(ref, "someone.else@example.kz")
	unknownRef := ask("RD-0000-0000-0000", "aigerim.objection.kk@example.kz")
	garbage := ask("not a reference", "x")
	if wrongEmail != unknownRef || unknownRef != garbage {
		t.Fatal("the answers differ between a wrong email, an unknown reference and garbage")
	}
	inst.Settle(t)
	if n := len(inst.SMTP.Messages()); n != 2 {
		t.Fatalf("%d emails after non-matching asks, want 2", n)
	}
	right := ask(strings.ToLower(strings.ReplaceAll(ref, "-", " ")), "AIGERIM.objection.kk@example.kz")
	if right != wrongEmail {
		t.Error("a matching ask is answered differently")
	}
	msgs := inst.SMTP.WaitForMessages(t, 3, 20*time.Second)
	link := ""
	for _, m := range msgs {
		if m.Subject == ref+" сұрауыңызға жаңа сілтеме" {
			for _, f := range strings.Fields(m.Text) {
				if strings.Contains(f, "/s/") {
					link = f
				}
			}
		}
	}
	if link == "" {
		t.Fatal("no new link arrived")
	}
	if resp, _ := get(t, c, link); resp.StatusCode != http.StatusOK {
		t.Errorf("new link: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, inst.URL+oldPath); resp.StatusCode != http.StatusNotFound {
		t.Errorf("old link still works: %d", resp.StatusCode)
	}
}

func TestUnconfirmedRequestsExpireOnceAndTheRequesterIsTold(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, link := submitAndReadConfirmLink(t, inst, "en")
	ctx := context.Background()
	if n, err := inst.App.Expirer.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d %v", n, err)
	}
	inst.Clock.Advance(7*24*time.Hour + time.Second)
	if n, err := inst.App.Expirer.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after expiry: %d %v", n, err)
	}
	if n, err := inst.App.Expirer.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
	if s := statusOf(t, inst, ref); s != "expired" {
		t.Fatalf("status %s", s)
	}
	found := false
	for _, m := range inst.SMTP.WaitForMessages(t, 3, 20*time.Second) {
		found = found || m.Subject == "Request "+ref+" closed: email address not confirmed"
	}
	if !found {
		t.Error("the requester was not told")
	}
	if resp, _ := get(t, browser(t), link); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the confirmation link of an expired request answers %d", resp.StatusCode)
	}
}

func TestRepresentativeAttachesProofWithTheForm(t *testing.T) {
	inst := apptest.Start(t, nil)
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/access")
	if !strings.Contains(page, `enctype="multipart/form-data"`) || !strings.Contains(page, `name="proof"`) {
		t.Fatal("the form offers no way to attach proof")
	}
	token := formToken(t, page)
	send := func(onBehalf bool, proof map[string][]byte) (*http.Response, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		fields := map[string]string{"_csrf": token, "locale": "ru", "full_name": "Асель Бекова", "email": "asel@example.kz",
			"access_scope": "copy", "consent": "true", "subject_name": "Алихан Беков", "relationship": "parent"}
		if onBehalf {
			fields["on_behalf"] = "true"
		}
		for k, v := range fields {
			_ = w.WriteField(k, v)
		}
		for name, content := range proof {
			fw, _ := w.CreateFormFile("proof", name)
			_, _ = fw.Write(content)
		}
		_ = w.Close()
		return postMultipart(t, c, inst.URL+"/request/access", &buf, w.FormDataContentType())
	}
	if resp, page := send(true, map[string][]byte{"birth.pdf": []byte("<html>not a pdf</html>")}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "не PDF, JPEG или PNG") {
		t.Errorf("disguised proof: %d", resp.StatusCode)
	}
	if resp, _ := send(false, map[string][]byte{"birth.pdf": pdf}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("proof without acting for someone: %d", resp.StatusCode)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 0 {
		t.Fatalf("%d requests stored by refused forms", n)
	}
	if resp, _ := send(true, map[string][]byte{"birth.pdf": pdf}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("with proof: %d", resp.StatusCode)
	}
	var ref string
	if err := inst.Pool.QueryRow(context.Background(), `SELECT r.reference FROM files f JOIN requests r ON r.id = f.request_id
		WHERE f.purpose = 'proof' AND f.content_type = 'application/pdf'`).Scan(&ref); err != nil {
		t.Fatalf("the proof was not stored: %v", err)
	}
	if r := inst.Request(t, ref); !r.OnBehalf || r.SubjectName != "Алихан Беков" || r.Relationship != "parent" {
		t.Errorf("the proof was not stored with the representative's request: %+v", r)
	}
}

func TestTheExpirySweepRunsOnItsOwn(t *testing.T) {
	// PERIODIC_JOBS is a test switch of apptest, not a setting: production
	// always runs the sweeps.
	inst := apptest.Start(t, map[string]string{"PERIODIC_JOBS": "on", "CONFIRM_LINK_TTL": "1h"})
	inst.Clock.Advance(-2 * time.Hour) // file the request two hours ago
	ref, _ := filed(t, inst, request.Erasure, "ru")
	inst.Clock.Advance(2 * time.Hour)
	// River elects a leader and runs the sweep once on start.
	waitFor(t, 30*time.Second, func() bool { return statusOf(t, inst, ref) == "expired" })
}
