package app_test

import (
	"bytes"
	"context"
	"html"
	"io"
	"mime/multipart"
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
	"rightsdesk/internal/store"
)

// deskPage is a staff member working on one request through its page.
type deskPage struct {
	t    *testing.T
	inst *apptest.Instance
	c    *http.Client
	ref  string
}

func openRequest(t *testing.T, inst *apptest.Instance, email, ref string) *deskPage {
	t.Helper()
	return &deskPage{t: t, inst: inst, c: inst.SignIn(t, email), ref: ref}
}

func (d *deskPage) path() string { return "/staff/requests/" + d.ref }

func (d *deskPage) get() (*http.Response, string) {
	d.t.Helper()
	return d.inst.Get(d.t, d.c, d.path())
}

// post sends one of the page's forms, with the page's CSRF token.
func (d *deskPage) post(action string, form url.Values) (*http.Response, string) {
	d.t.Helper()
	form.Set("_csrf", d.inst.StaffToken(d.t, d.c))
	return d.inst.Post(d.t, d.c, d.path()+"/"+action, form)
}

// complete sends the completion form as a browser does (multipart), with
// an optional file.
func (d *deskPage) complete(fields map[string]string, fileName string, file []byte) (*http.Response, string) {
	d.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("_csrf", d.inst.StaffToken(d.t, d.c))
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if fileName != "" {
		fw, err := w.CreateFormFile("file", fileName)
		if err != nil {
			d.t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	_ = w.Close()
	return postMultipart(d.t, d.c, d.inst.URL+d.path()+"/complete", &buf, w.FormDataContentType())
}

// done checks that an action was carried out: back to the page.
func (d *deskPage) done(resp *http.Response, body string) {
	d.t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != d.path() {
		d.t.Fatalf("action not done: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), refusedText(body))
	}
}

var (
	previewSubject = regexp.MustCompile(`id="preview-subject">([^<]*)</span>`)
	previewText    = regexp.MustCompile(`(?s)<pre class="email-text" id="preview-text">(.*?)</pre>`)
	hiddenField    = func(name string) *regexp.Regexp {
		return regexp.MustCompile(`name="` + name + `" value="([^"]*)"`)
	}
	secretLink  = regexp.MustCompile(`(/[sd]/)[A-Za-z0-9_-]{43}`)
	refusedBox  = regexp.MustCompile(`(?s)<div class="error-summary" role="alert" id="refused">.*?<p>(.*?)</p>`)
	timelineLis = regexp.MustCompile(`(?s)<li class="tl-[^"]*">.*?</li>`)
)

// refusedText is the message of a refused action on the page, if any.
func refusedText(page string) string {
	if m := refusedBox.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// preview reads the email shown before sending and the fields to send it.
func preview(t *testing.T, page string) (subject, text, digest, draft string) {
	t.Helper()
	s, x, g := previewSubject.FindStringSubmatch(page), previewText.FindStringSubmatch(page), hiddenField("digest").FindStringSubmatch(page)
	if s == nil || x == nil || g == nil {
		t.Fatalf("no email preview on the page:\n%s", refusedText(page))
	}
	if m := hiddenField("draft").FindStringSubmatch(page); m != nil {
		draft = m[1]
	}
	return html.UnescapeString(s[1]), html.UnescapeString(x[1]), g[1], draft
}

// sameEmail compares a delivered text with a preview, the per-email secret
// links aside.
func sameEmail(delivered, previewed string) bool {
	norm := func(s string) string {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = secretLink.ReplaceAllString(s, "${1}••••••")
		return strings.TrimSpace(s)
	}
	return norm(delivered) == norm(previewed)
}

// timelineEntry is the timeline line that mentions text.
func timelineEntry(page, text string) string {
	for _, li := range timelineLis.FindAllString(page, -1) {
		if strings.Contains(html.UnescapeString(li), text) {
			return html.UnescapeString(li)
		}
	}
	return ""
}

func waitForState(t *testing.T, inst *apptest.Instance, query string, args ...any) {
	t.Helper()
	waitFor(t, 20*time.Second, func() bool { return inst.Count(t, query, args...) > 0 })
}

var responseJSON = []byte(`{"courses":[{"name":"Python","progress":0.8}]}`)

func TestAnAgentWorksARequestFromItsPage(t *testing.T) {
	inst := apptest.Start(t, nil)
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	colleague := inst.AddStaff(t, "aruzhan@school.example.kz", "Аружан Коллегова", auth.Agent)
	ref, _ := filed(t, inst, request.Access, "kk")
	requester := "aigerim.access.kk@example.kz"
	setStatus(t, inst, ref, "new")
	d := openRequest(t, inst, "daniyar@school.example.kz", ref)

	if _, home := inst.Get(t, d.c, "/staff"); !strings.Contains(home, `href="/staff/requests/`+ref+`"`) {
		t.Error("the staff home does not link the request's page")
	}
	resp, page := d.get()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request page: %d", resp.StatusCode)
	}
	for _, want := range []string{ref, "Айгерим Нурланқызы", requester, "+7 701 123 45 67", "student-4411", "Прошу рассмотреть.",
		"Копию моих данных", "default.calendar_30d", "1 апреля 2026", "осталось 30 дней", `class="due ok"`, "Назначить себе"} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("the request page lacks %q", want)
		}
	}

	// Assigning to oneself emails nobody; to a colleague, the colleague.
	d.done(d.post("assign", url.Values{"to": {"me"}}))
	if n := emailsOfKind(t, inst, ref, "assigned"); n != 0 {
		t.Errorf("assigning to oneself sent %d emails", n)
	}
	d.done(d.post("assign", url.Values{"to": {strconv.FormatInt(colleague.ID, 10)}}))
	lastMailTo(t, inst, "aruzhan@school.example.kz", ref)
	d.done(d.post("assign", url.Values{"to": {"me"}}))
	if _, page := d.get(); !strings.Contains(page, `<dd id="assignee">Данияр Агентов</dd>`) {
		t.Error("the page does not show the assignee")
	}

	d.done(d.post("start", url.Values{}))
	question := "Жеке куәліктің көшірмесін жіберіңізші."
	d.done(d.post("ask", url.Values{"message": {question + "\r\nРақмет."}}))
	if _, text, _, _ := lastMailTo(t, inst, requester, "ақпарат қажет"); !strings.Contains(text, question) {
		t.Errorf("the question did not reach the requester:\n%s", text)
	}

	d.done(d.post("extend", url.Values{"reason": {"Деректер үш жүйеде сақталған"}}))
	_, page = d.get()
	for _, want := range []string{"1 мая 2026", "Первоначальный срок", "1 апреля 2026", "продлевался 1 раз", "default.calendar_30d"} {
		if !strings.Contains(page, want) {
			t.Errorf("after the extension the page lacks %q", want)
		}
	}
	if strings.Contains(page, `action="/staff/requests/`+ref+`/extend"`) {
		t.Error("a second extension is still offered")
	}

	// A copy of the data needs an identity check first: the page says so,
	// and refuses even the preview until one is recorded.
	response := "Деректеріңіздің көшірмесі қоса беріліп отыр."
	if _, page := d.get(); !strings.Contains(page, "Требуется до отправки ответа") || !strings.Contains(page, `action="/staff/requests/`+ref+`/identity#identity"`) {
		t.Fatal("the page does not say an identity check is needed, or offers no way to record it")
	}
	resp, page = d.complete(map[string]string{"response": response, "step": "preview"}, "my data.json", responseJSON)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(refusedText(page), "нужна проверка личности") {
		t.Fatalf("completing without the identity check: %d %q", resp.StatusCode, refusedText(page))
	}
	d.done(d.post("identity", url.Values{"method": {"video_call"}, "note": {"Удостоверение показано по видеосвязи"}}))
	if _, page := d.get(); !strings.Contains(page, `<dd id="identity-method">Видеосвязь</dd>`) || !strings.Contains(page, `<dd id="identity-by">Данияр Агентов</dd>`) {
		t.Error("the page does not show the identity check with its method and who made it")
	}

	// Complete with a file: preview first, then send exactly that.
	beforePreview := inst.RequestState(t, ref)
	resp, page = d.complete(map[string]string{"response": response, "step": "preview"}, "my data.json", responseJSON)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d %s", resp.StatusCode, refusedText(page))
	}
	subject, text, digest, draft := preview(t, page)
	if !strings.Contains(text, response) || !strings.Contains(text, "/d/••••••") || draft == "" ||
		!strings.Contains(page, "my data.json") || !strings.Contains(page, `name="step" value="send"`) ||
		!strings.Contains(page, ">"+response+"</textarea>") {
		t.Fatalf("the preview lacks the response, the download link, the file or the Send button:\n%s", text)
	}
	if !strings.Contains(page, "Это же письмо для вас: Русский (не отправляется)") {
		t.Error("no reference translation into the staff member's language")
	}
	if inst.RequestState(t, ref) != beforePreview {
		t.Fatal("previewing changed the request")
	}
	d.done(d.complete(map[string]string{"response": response, "step": "send", "digest": digest, "draft": draft}, "", nil))
	gotSubject, gotText, _, download := lastMailTo(t, inst, requester, "сұрауыңызға жауап")
	if gotSubject != subject || !sameEmail(gotText, text) {
		t.Errorf("the email sent differs from its preview:\nsent %q\n%s\npreviewed %q\n%s", gotSubject, gotText, subject, text)
	}
	if got := downloadBody(t, download); !bytes.Equal(got, responseJSON) {
		t.Errorf("the requester downloads %q", got)
	}
	if n := inst.Count(t, `SELECT count(*) FROM response_drafts`); n != 0 {
		t.Errorf("%d response drafts kept after sending", n)
	}

	// The timeline tells each step, with the agent's name, and each email
	// with its delivery state.
	waitForState(t, inst, `SELECT count(*) FROM requests r WHERE reference = $1
		AND NOT EXISTS (SELECT 1 FROM emails e WHERE e.request_id = r.id AND e.state <> 'sent')`, ref)
	_, page = d.get()
	for _, step := range []string{"Назначен исполнитель: Данияр Агентов", "Работа начата", "У заявителя запрошена информация",
		"Срок продлён до 1 мая 2026", "Завершён: ответ отправлен"} {
		if li := timelineEntry(page, step); !strings.Contains(li, "Данияр Агентов") {
			t.Errorf("timeline: %q without the agent's name: %q", step, li)
		}
	}
	if li := timelineEntry(page, "Срок продлён"); !strings.Contains(li, "Деректер үш жүйеде сақталған") {
		t.Error("the timeline does not give the extension's reason")
	}
	emails := inst.Count(t, `SELECT count(*) FROM emails e JOIN requests r ON r.id = e.request_id WHERE r.reference = $1`, ref)
	shown := strings.Count(page, `<li class="tl-email email-sent">`)
	if emails < 6 || shown != emails || strings.Count(page, "отправлено</span>") != emails {
		t.Errorf("%d emails, %d on the timeline as sent", emails, shown)
	}
	if li := timelineEntry(page, "Письмо «назначение» на адрес aruzhan@school.example.kz"); li == "" {
		t.Error("the assignment email is not on the timeline")
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.actor_id = $2 AND e.kind IN ('assigned', 'started', 'information_requested', 'extended', 'completed')`, ref, agent.ID); n != 7 {
		t.Errorf("%d of the agent's 7 actions logged with their id", n)
	}
	if strings.Contains(page, `action="/staff/requests/`+ref+`/complete`) || !strings.Contains(page, "Выполнен") {
		t.Error("a completed request still offers completion")
	}
}

// downloadBody fetches a requester's download link.
func downloadBody(t *testing.T, link string) []byte {
	t.Helper()
	if link == "" {
		t.Fatal("no download link in the email")
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func TestARejectionIsPreviewedInTheRequestersLanguageAndSentAsShown(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, _ := filed(t, inst, request.Erasure, "en")
	setStatus(t, inst, ref, "in_progress")
	d := openRequest(t, inst, "daniyar@school.example.kz", ref)

	resp, page := d.post("reject", url.Values{"reason": {"made_up"}, "text": {"x"}, "step": {"preview"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(refusedText(page), "Выберите основание") {
		t.Errorf("unknown ground: %d %q", resp.StatusCode, refusedText(page))
	}
	text := "We keep grades for 5 years under the law on education."
	resp, page = d.post("reject", url.Values{"reason": {"legal_exemption"}, "text": {text}, "step": {"preview"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d %s", resp.StatusCode, refusedText(page))
	}
	subject, previewed, digest, _ := preview(t, page)
	if !strings.Contains(previewed, "the law allows us not to act on this request") || !strings.Contains(previewed, text) || !strings.Contains(page, `lang="en"`) {
		t.Fatalf("rejection preview:\n%s", previewed)
	}
	// Text changed after the preview: nothing is sent, the new email is shown.
	before := inst.RequestState(t, ref)
	resp, page = d.post("reject", url.Values{"reason": {"legal_exemption"}, "text": {text + " Sorry."}, "step": {"send"}, "digest": {digest}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(refusedText(page), "Письмо изменилось после просмотра") {
		t.Errorf("send after editing: %d %q", resp.StatusCode, refusedText(page))
	}
	if inst.RequestState(t, ref) != before {
		t.Error("a send that did not match its preview changed the request")
	}
	d.done(d.post("reject", url.Values{"reason": {"legal_exemption"}, "text": {text}, "step": {"send"}, "digest": {digest}}))
	gotSubject, gotText, _, _ := lastMailTo(t, inst, "aigerim.erasure.en@example.kz", "Decision")
	if gotSubject != subject || !sameEmail(gotText, previewed) {
		t.Errorf("the refusal sent differs from its preview:\n%s\n---\n%s", gotText, previewed)
	}
	if _, page := d.get(); timelineEntry(page, "Отказ: Исключение, установленное законом") == "" {
		t.Error("the refusal and its ground are not on the timeline")
	}
}

func TestAnAuditorSeesTheRequestButCannotChangeIt(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "gulnar@school.example.kz", "Гульнар Аудиторова", auth.Auditor)
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, _ := filed(t, inst, request.Access, "ru")
	setStatus(t, inst, ref, "in_progress")
	// Both intake emails delivered: a delivery still under way would record
	// "sent" over the failure staged below.
	waitFor(t, 20*time.Second, func() bool { return inst.Count(t, `SELECT count(*) FROM emails WHERE state = 'sent'`) == 2 })
	var emailID int64
	if err := inst.Pool.QueryRow(context.Background(), `SELECT min(e.id) FROM emails e JOIN requests r ON r.id = e.request_id WHERE r.reference = $1`, ref).Scan(&emailID); err != nil {
		t.Fatal(err)
	}
	// A failed email would offer a retry to an agent; not to an auditor.
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE emails SET state = 'failed', last_error = '451 try later' WHERE id = $1`, emailID); err != nil {
		t.Fatal(err)
	}
	d := openRequest(t, inst, "gulnar@school.example.kz", ref)
	resp, page := d.get()
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Айгерим Нурланқызы") || !strings.Contains(page, "Запрос получен") ||
		!strings.Contains(page, "451 try later") {
		t.Fatalf("auditor's view: %d name %v received %v error %v", resp.StatusCode, strings.Contains(page, "Айгерим Нурланқызы"), strings.Contains(page, "Запрос получен"), strings.Contains(page, "451 try later"))
	}
	if strings.Contains(page, `action="/staff/requests/`) || strings.Contains(page, "Действия") {
		t.Error("an auditor is offered action forms")
	}

	before := inst.RequestState(t, ref)
	for action, form := range map[string]url.Values{
		"assign":   {"to": {"me"}},
		"start":    {},
		"ask":      {"message": {"?"}},
		"extend":   {"reason": {"need time"}},
		"reject":   {"reason": {"excessive"}, "text": {"no"}, "step": {"preview"}},
		"notes":    {"note": {"auditor was here"}},
		"complete": {"response": {"done"}, "step": {"preview"}},
		"emails/" + strconv.FormatInt(emailID, 10) + "/retry": {},
	} {
		if resp, _ := d.post(action, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("auditor %s: %d, want 403", action, resp.StatusCode)
		}
	}
	if after := inst.RequestState(t, ref); after != before {
		t.Errorf("auditor's posts changed the request: %s → %s", before, after)
	}
	// An agent gets the forms, retry included.
	_, page = openRequest(t, inst, "daniyar@school.example.kz", ref).get()
	for _, action := range []string{"/assign", "/ask", "/extend", "/complete", "/reject", "/notes", "/emails/" + strconv.FormatInt(emailID, 10) + "/retry"} {
		if !strings.Contains(page, `action="/staff/requests/`+ref+action) {
			t.Errorf("the agent (%d) is not offered %s", agent.ID, action)
		}
	}
}

func TestRefusedActionsSayWhyAndChangeNothing(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, _ := filed(t, inst, request.Erasure, "ru")
	setStatus(t, inst, ref, "in_progress")
	d := openRequest(t, inst, "daniyar@school.example.kz", ref)

	refused := func(what string, wantStatus int, wantText string, resp *http.Response, page string) {
		t.Helper()
		if resp.StatusCode != wantStatus || !strings.Contains(refusedText(page), wantText) {
			t.Errorf("%s: %d %q, want %d %q", what, resp.StatusCode, refusedText(page), wantStatus, wantText)
		}
	}
	before := inst.RequestState(t, ref)
	resp, page := d.post("ask", url.Values{"message": {"   "}})
	refused("empty question", http.StatusUnprocessableEntity, "Напишите текст", resp, page)
	resp, page = d.post("extend", url.Values{"reason": {""}})
	refused("extension without a reason", http.StatusUnprocessableEntity, "Укажите причину", resp, page)
	resp, page = d.post("assign", url.Values{"to": {"999999"}})
	refused("assign to a stranger", http.StatusUnprocessableEntity, "действующего сотрудника", resp, page)
	resp, page = d.post("notes", url.Values{"note": {""}})
	refused("empty note", http.StatusUnprocessableEntity, "Напишите заметку", resp, page)
	// Erasure needs a staff-recorded identity check (IDENTITY_CHECK's default).
	resp, page = d.complete(map[string]string{"response": "Готово", "step": "preview"}, "", nil)
	refused("completing without an identity check", http.StatusConflict, "нужна проверка личности", resp, page)
	resp, page = d.post("identity", url.Values{"method": {""}, "note": {"Паспорт"}})
	refused("identity check without a method", http.StatusUnprocessableEntity, "Выберите из списка, как проверена личность", resp, page)
	resp, page = d.post("identity", url.Values{"method": {"a_hunch"}, "note": {"Паспорт"}})
	refused("identity check by a method not on the list", http.StatusUnprocessableEntity, "Выберите из списка, как проверена личность", resp, page)
	resp, page = d.post("identity", url.Values{"method": {"in_person"}, "note": {"  "}})
	refused("identity check without a note", http.StatusUnprocessableEntity, "Напишите примечание к проверке (до 2000 символов)", resp, page)
	if after := inst.RequestState(t, ref); after != before {
		t.Errorf("refused actions changed the request: %s → %s", before, after)
	}
	d.done(d.post("identity", url.Values{"method": {"in_person"}, "note": {"Пришёл в офис с удостоверением"}}))
	before = inst.RequestState(t, ref)
	resp, page = d.post("identity", url.Values{"method": {"video_call"}, "note": {"Ещё раз"}})
	refused("a second identity check", http.StatusConflict, "уже отмечена", resp, page)
	resp, page = d.complete(map[string]string{"response": "Готово", "step": "preview"}, "notes.txt", []byte("just some text"))
	refused("a text file", http.StatusUnprocessableEntity, "Этот файл отправить нельзя", resp, page)
	resp, page = d.complete(map[string]string{"response": "Готово", "step": "preview"}, "fake.pdf", []byte("MZ\x90\x00 not a pdf"))
	refused("a program called .pdf", http.StatusUnprocessableEntity, "Этот файл отправить нельзя", resp, page)
	big := append([]byte("%PDF-1.4\n"), make([]byte, 25<<20)...)
	resp, page = d.complete(map[string]string{"response": "Готово", "step": "preview"}, "big.pdf", big)
	refused("a file over 25 MB", http.StatusRequestEntityTooLarge, "Файл слишком большой", resp, page)
	if after := inst.RequestState(t, ref); after != before {
		t.Errorf("refused actions changed the request: %s → %s", before, after)
	}
	if n := inst.Count(t, `SELECT count(*) FROM response_drafts`); n != 0 {
		t.Errorf("refused files were kept as %d drafts", n)
	}

	// Extend twice: the second is refused.
	d.done(d.post("extend", url.Values{"reason": {"Данные в трёх системах"}}))
	before = inst.RequestState(t, ref)
	resp, page = d.post("extend", url.Values{"reason": {"ещё раз"}})
	refused("second extension", http.StatusConflict, "Срок продлить нельзя", resp, page)
	if after := inst.RequestState(t, ref); after != before {
		t.Errorf("a second extension changed the request: %s → %s", before, after)
	}

	// Complete a completed request.
	_, page = d.complete(map[string]string{"response": "Данные удалены.", "step": "preview"}, "", nil)
	_, _, digest, _ := preview(t, page)
	d.done(d.complete(map[string]string{"response": "Данные удалены.", "step": "send", "digest": digest}, "", nil))
	before = inst.RequestState(t, ref)
	resp, page = d.complete(map[string]string{"response": "Данные удалены.", "step": "send", "digest": digest}, "", nil)
	refused("completing a completed request", http.StatusConflict, "пока запрос в состоянии «Выполнен»", resp, page)
	resp, page = d.post("start", url.Values{})
	refused("starting a completed request", http.StatusConflict, "пока запрос в состоянии «Выполнен»", resp, page)
	if after := inst.RequestState(t, ref); after != before {
		t.Errorf("acting on a completed request changed it: %s → %s", before, after)
	}
	if n := emailsOfKind(t, inst, ref, "completed"); n != 1 {
		t.Errorf("%d completion emails", n)
	}

	// Extend after the deadline.
	late, _ := filed(t, inst, request.Erasure, "kk")
	setStatus(t, inst, late, "in_progress")
	inst.Clock.Advance(31 * 24 * time.Hour)
	d = openRequest(t, inst, "daniyar@school.example.kz", late) // the old session ran out with the clock
	_, page = d.get()
	if !strings.Contains(page, `<span class="due overdue">срок прошёл</span>`) {
		t.Error("an overdue request is not shown as overdue in words and colour")
	}
	if strings.Contains(page, `action="/staff/requests/`+late+`/extend"`) {
		t.Error("an extension is offered after the deadline")
	}
	before = inst.RequestState(t, late)
	resp, page = d.post("extend", url.Values{"reason": {"поздно"}})
	refused("extension after the deadline", http.StatusConflict, "Срок уже истёк", resp, page)
	if after := inst.RequestState(t, late); after != before {
		t.Errorf("a late extension changed the request: %s → %s", before, after)
	}
}

func TestAFailedEmailIsRetriedFromTheRequestPage(t *testing.T) {
	inst := apptest.Start(t, nil)
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, _ := filed(t, inst, request.Access, "kk")
	setStatus(t, inst, ref, "in_progress")
	inst.SMTP.WaitForMessages(t, 2, 20*time.Second) // the intake's emails
	d := openRequest(t, inst, "daniyar@school.example.kz", ref)

	inst.SMTP.Stop()
	d.done(d.post("ask", url.Values{"message": {"Құжатты жіберіңізші."}}))
	waitForState(t, inst, `SELECT count(*) FROM emails WHERE kind = 'information_requested' AND state = 'failed' AND last_error <> ''`)
	_, page := d.get()
	li := timelineEntry(page, "Письмо «запрос информации»")
	if !strings.Contains(li, "ошибка отправки") || !strings.Contains(li, "Ошибка:") || !strings.Contains(li, "Повторить сейчас") {
		t.Fatalf("a failed email is not shown as failed with its error and a retry:\n%s", li)
	}

	// The server comes back refusing the message for good: delivery gives
	// up on its own and waits for staff.
	inst.SMTP.SetRejecting(550)
	inst.SMTP.Restart(t)
	var emailID int64
	if err := inst.Pool.QueryRow(context.Background(), `SELECT id FROM emails WHERE kind = 'information_requested'`).Scan(&emailID); err != nil {
		t.Fatal(err)
	}
	waitForState(t, inst, `SELECT count(*) FROM emails WHERE id = $1 AND state = 'failed' AND last_error LIKE '%550%'`, emailID)
	waitForState(t, inst, `SELECT count(*) FROM river_job WHERE kind = 'deliver_email' AND state = 'cancelled' AND args @> jsonb_build_object('email_ids', jsonb_build_array($1::bigint))`, emailID)
	_, page = d.get()
	if li := timelineEntry(page, "Письмо «запрос информации»"); !strings.Contains(li, "550") {
		t.Errorf("the timeline lacks the server's refusal:\n%s", li)
	}
	inst.SMTP.SetRejecting(0)
	arrived := func() int {
		n := 0
		for _, m := range inst.SMTP.Messages() {
			if strings.Contains(m.Subject, "ақпарат қажет") {
				n++
			}
		}
		return n
	}
	if arrived() != 0 {
		t.Fatal("the email arrived before the retry")
	}
	d.done(d.post("emails/"+strconv.FormatInt(emailID, 10)+"/retry", url.Values{}))
	lastMailTo(t, inst, "aigerim.access.kk@example.kz", "ақпарат қажет")
	waitForState(t, inst, `SELECT count(*) FROM emails WHERE id = $1 AND state = 'sent'`, emailID)
	if n := arrived(); n != 1 {
		t.Errorf("the email arrived %d times", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'email_retried' AND actor = 'staff' AND actor_id = $1 AND (data->>'email_id')::bigint = $2`, agent.ID, emailID); n != 1 {
		t.Errorf("%d retry events naming the agent", n)
	}
	_, page = d.get()
	if li := timelineEntry(page, "Повторная отправка письма «запрос информации»"); !strings.Contains(li, "Данияр Агентов") {
		t.Errorf("the retry is not on the timeline with the agent's name: %q", li)
	}
	// A delivered email is not retried again.
	resp, page := d.post("emails/"+strconv.FormatInt(emailID, 10)+"/retry", url.Values{})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(refusedText(page), "не завершилось ошибкой") {
		t.Errorf("retrying a sent email: %d %q", resp.StatusCode, refusedText(page))
	}
}

func TestStaffDownloadsAreLoggedAndNotesNeverReachTheRequester(t *testing.T) {
	inst := apptest.Start(t, nil)
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)

	// A parent files for their child with proof of authority.
	c := browser(t)
	_, form := get(t, c, inst.URL+"/request/access")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"_csrf": formToken(t, form), "locale": "ru", "full_name": "Асель Бекова", "email": "asel@example.kz",
		"access_scope": "copy", "consent": "true", "on_behalf": "true", "subject_name": "Алихан Беков", "relationship": "parent"} {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("proof", `..\свидетельство "о рождении".pdf`)
	_, _ = fw.Write(pdf)
	_ = w.Close()
	resp, _ := postMultipart(t, c, inst.URL+"/request/access", &buf, w.FormDataContentType())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	found, err := inst.App.Store.Queue(context.Background(), store.QueueFilter{Tab: store.TabAll, Search: "asel@example.kz"}, store.Page{Limit: 2})
	if err != nil || len(found.Rows) != 1 {
		t.Fatalf("the submitted request: %+v, %v", found.Rows, err)
	}
	ref := found.Rows[0].Reference
	setStatus(t, inst, ref, "in_progress")
	statusPath := mailedStatusPath(t, inst, "asel@example.kz", ref)

	d := openRequest(t, inst, "daniyar@school.example.kz", ref)
	_, page := d.get()
	onBehalf := page[strings.Index(page, `<section class="onbehalf"`):]
	onBehalf = onBehalf[:strings.Index(onBehalf, "</section>")]
	if !strings.Contains(onBehalf, "Алихан Беков") || !strings.Contains(onBehalf, "Родитель") || !strings.Contains(onBehalf, "/files/") {
		t.Fatalf("acting for someone else is not shown with the subject, relationship and proof:\n%s", onBehalf)
	}
	link := regexp.MustCompile(`/staff/requests/` + ref + `/files/\d+`).FindString(onBehalf)
	resp, body := inst.Get(t, d.c, link)
	if resp.StatusCode != http.StatusOK || body != string(pdf) {
		t.Fatalf("staff download: %d", resp.StatusCode)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || strings.Contains(cd, `\`) || strings.Contains(cd, "..") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.kind = 'file_downloaded' AND e.actor = 'staff' AND e.actor_id = $2`, ref, agent.ID); n != 1 {
		t.Errorf("%d staff downloads logged", n)
	}
	if resp, _ := inst.Get(t, d.c, "/staff/requests/"+ref+"/files/999999"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a file of no request: %d", resp.StatusCode)
	}

	note := "Проверить свидетельство в ЦОН, номер 12-345"
	d.done(d.post("notes", url.Values{"note": {note}}))
	_, page = d.get()
	if li := timelineEntry(page, note); !strings.Contains(li, "Данияр Агентов") || !strings.Contains(li, "заявитель её не видит") {
		t.Errorf("the note is not on the timeline with its author: %q", li)
	}
	if li := timelineEntry(page, "Скачан файл"); !strings.Contains(li, "Данияр Агентов") || !strings.Contains(li, "о рождении") {
		t.Errorf("the download is not on the timeline: %q", li)
	}
	resp, status := get(t, browser(t), inst.URL+statusPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(status, ref) {
		t.Fatalf("status page: %d", resp.StatusCode)
	}
	if strings.Contains(status, "ЦОН") || strings.Contains(status, "заметк") {
		t.Error("the requester's status page shows the internal note")
	}
	sent, err := inst.App.Store.RecentEmails(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sent {
		if strings.Contains(e.Text, "ЦОН") || strings.Contains(e.HTML, "ЦОН") {
			t.Errorf("the note went out in the %s email", e.Kind)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE data::text LIKE '%ЦОН%'`); n != 0 {
		t.Error("the event log holds the note's text")
	}
}

func TestAnUnknownReferenceIsALocalizedNotFound(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "daniyar@school.example.kz", "Daniyar", auth.Agent)
	c := inst.SignIn(t, "daniyar@school.example.kz")
	ref, _ := filed(t, inst, request.Access, "ru")
	other := []byte(ref)
	other[len(other)-2] = map[bool]byte{true: 'A', false: 'B'}[other[len(other)-2] != 'A']
	for _, p := range []string{"/staff/requests/" + string(other), "/staff/requests/nonsense", "/staff/requests/" + string(other) + "/files/1"} {
		resp, page := inst.Get(t, c, p)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "Запрос не найден") {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	resp, _ := inst.Post(t, c, "/staff/requests/"+string(other)+"/start", url.Values{"_csrf": {inst.StaffToken(t, c)}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("start on an unknown reference: %d", resp.StatusCode)
	}
	// Any spelling of a reference people type leads to the page.
	if resp, _ := inst.Get(t, c, "/staff/requests/"+strings.ToLower(ref)); resp.StatusCode != http.StatusOK {
		t.Errorf("lower-case reference: %d", resp.StatusCode)
	}
	for _, lang := range []string{"ru", "kk", "en"} {
		inst.Get(t, c, "/lang/"+lang)
		resp, page := inst.Get(t, c, "/staff/requests/"+ref)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<html lang="`+lang+`">`) {
			t.Errorf("%s: %d", lang, resp.StatusCode)
		}
		if i := strings.Index(page, "missing:"); i >= 0 {
			t.Errorf("%s: untranslated %s", lang, page[i:min(len(page), i+60)])
		}
	}
}
