package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// journeyTexts is what a requester reads along the way, in one language.
type journeyTexts struct {
	lang       string
	switchTo   string // the header link that picks the language ("" when the browser's own language is it)
	formLink   string // the access right on the landing page
	copyChoice string // "a copy of my data"
	name       string
	email      string

	ackSubject      string // part of the acknowledgement's subject
	thanksTitle     string
	thanksCheck     string // the thank-you page's "check your email"
	confirmedSubj   string // part of the "confirmed" email's subject
	confirmAsk      string // the confirmation page's heading
	confirmButton   string
	confirmed       string // heading once confirmed
	statusNew       string
	question        string // what staff ask
	infoSubject     string
	statusAwaiting  string
	reply           string
	replySent       string
	response        string // staff's answer
	completedSubj   string
	statusCompleted string
	expiredTitle    string
	sendLink        string // the status page's button that emails a new download link
	linkSent        string // what the page says once it has
	linkSubj        string // part of that email's subject
}

func TestJourneyInRussian(t *testing.T) {
	walkJourney(t, journeyTexts{
		lang:       "ru",
		formLink:   "Доступ к данным",
		copyChoice: "Копию моих данных",
		name:       "Айгерим Нурлановна Сейткалиева",
		email:      "aigerim@example.kz",

		ackSubject:      "получен",
		thanksTitle:     "Запрос принят",
		thanksCheck:     "Проверьте почту",
		confirmedSubj:   "Адрес подтверждён",
		confirmAsk:      "Подтвердите адрес электронной почты",
		confirmButton:   "Да, это мой запрос",
		confirmed:       "Спасибо, адрес подтверждён",
		statusNew:       "Получен",
		question:        "Пришлите, пожалуйста, копию удостоверения личности.",
		infoSubject:     "Нужна информация по вашему запросу",
		statusAwaiting:  "Нужна информация от вас",
		reply:           "Копия удостоверения во вложении.",
		replySent:       "Спасибо, ваше сообщение отправлено.",
		response:        "Копия ваших данных во вложении.",
		completedSubj:   "Ответ на ваш запрос",
		statusCompleted: "Ответ дан",
		expiredTitle:    "Срок действия ссылки истёк",
		sendLink:        "Прислать новую ссылку на почту",
		linkSent:        "Мы отправили новую ссылку для скачивания на адрес, указанный в запросе.",
		linkSubj:        "Ссылка для скачивания",
	})
}

func TestJourneyInKazakh(t *testing.T) {
	walkJourney(t, journeyTexts{
		lang:       "kk",
		switchTo:   "Қазақша",
		formLink:   "Деректерге қол жеткізу",
		copyChoice: "Деректерімнің көшірмесі",
		name:       "Ержан Болатұлы Қасымов",
		email:      "erzhan@example.kz",

		ackSubject:      "сұрауыңыз қабылданды",
		thanksTitle:     "Сұрауыңыз қабылданды",
		thanksCheck:     "Поштаңызды тексеріңіз",
		confirmedSubj:   "Мекенжай расталды",
		confirmAsk:      "Электрондық пошта мекенжайын растаңыз",
		confirmButton:   "Иә, бұл менің сұрауым",
		confirmed:       "Рақмет, мекенжайыңыз расталды",
		statusNew:       "Қабылданды",
		question:        "Жеке куәліктің көшірмесін жіберіңізші.",
		infoSubject:     "сұрауыңыз бойынша ақпарат қажет",
		statusAwaiting:  "Сізден ақпарат қажет",
		reply:           "Жеке куәліктің көшірмесі қоса берілді.",
		replySent:       "Рақмет, хабарламаңыз жіберілді.",
		response:        "Деректеріңіздің көшірмесі қоса беріліп отыр.",
		completedSubj:   "сұрауыңызға жауап",
		statusCompleted: "Жауап берілді",
		expiredTitle:    "Сілтеменің мерзімі өтті",
		sendLink:        "Поштаға жаңа сілтеме жіберу",
		linkSent:        "Жүктеп алуға жаңа сілтемені сұрауда көрсетілген мекенжайға жібердік.",
		linkSubj:        "жүктеп алу сілтемесі",
	})
}

// replyPDF is a small, valid PDF: one empty A4 page.
const replyPDF = "%PDF-1.4\n" +
	"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
	"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n" +
	"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n" +
	"trailer << /Root 1 0 R >>\n" +
	"%%EOF\n"

// walkJourney follows one requester from the form to the downloaded answer,
// through the emails they receive over SMTP and the pages those emails
// open, with staff acting in between. Pages that only this journey reaches
// (confirmed, replied, answered, expired link) are checked with axe too.
func walkJourney(t *testing.T, w journeyTexts) {
	inst := apptest.Start(t, nil)
	ctx := browser(t)
	desk := inst.App.Desk
	bg := context.Background()

	// 1. The requester finds the right on the landing page, in their
	// language, and files it.
	open(t, ctx, inst.URL+"/")
	if w.switchTo != "" {
		run(t, ctx,
			chromedp.Click(`//header//a[normalize-space()="`+w.switchTo+`"]`),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="`+w.lang+`"]`)),
		)
	}
	if got := pageLang(t, ctx); got != w.lang {
		t.Fatalf("the landing page is in %q, want %q", got, w.lang)
	}
	run(t, ctx,
		chromedp.Click(`//main//a[normalize-space()="`+w.formLink+`"]`),
		chromedp.WaitVisible(chromedp.CSS("#f-full_name")),
		chromedp.SendKeys(chromedp.CSS("#f-full_name"), w.name),
		chromedp.SendKeys(chromedp.CSS("#f-email"), w.email),
		chromedp.Click(labelWithText(w.copyChoice)),
		chromedp.Click(chromedp.CSS("#f-consent")),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#reference")),
	)
	if h1 := text(t, ctx, "h1"); h1 != w.thanksTitle {
		t.Errorf("thank-you heading = %q, want %q", h1, w.thanksTitle)
	}
	ref := text(t, ctx, "#reference")
	testkit.Axe(t, ctx)
	if !referencePattern.MatchString(ref) {
		t.Fatalf("reference on the thank-you page = %q, want the pattern %s", ref, referencePattern)
	}
	// The browser that filed it holds no way into the request: the page
	// sends the person to their email.
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href*="/s/"], a[href*="/confirm/"], a[href*="/d/"]').length`)); n != 0 {
		t.Errorf("the thank-you page carries %d secret links", n)
	}
	if got := text(t, ctx, "#check-email h2"); got != w.thanksCheck {
		t.Errorf("the thank-you page says %q, want %q", got, w.thanksCheck)
	}
	statusOf := func() string {
		t.Helper()
		var s string
		if err := inst.Pool.QueryRow(bg, `SELECT status FROM requests WHERE reference = $1`, ref).Scan(&s); err != nil {
			t.Fatalf("status of %s: %v", ref, err)
		}
		return s
	}
	if s := statusOf(); s != "unverified" {
		t.Fatalf("a new request is %s, want unverified until the email is confirmed", s)
	}

	// 2. The acknowledgement arrives; its link asks before confirming.
	ack, links := mailAbout(t, inst, w.email, ref)
	if !strings.Contains(ack.Subject, w.ackSubject) {
		t.Errorf("acknowledgement subject %q is not the %s one (want it to contain %q)", ack.Subject, w.lang, w.ackSubject)
	}
	if links.Confirm == "" || links.Status == "" {
		t.Fatalf("the acknowledgement lacks a confirmation or status link:\n%s", ack.Text)
	}
	open(t, ctx, links.Confirm)
	if h1 := text(t, ctx, "h1"); h1 != w.confirmAsk {
		t.Errorf("confirmation page heading = %q, want %q", h1, w.confirmAsk)
	}
	if s := statusOf(); s != "unverified" {
		t.Errorf("opening the confirmation link alone made the request %s; only the button may confirm", s)
	}
	run(t, ctx,
		chromedp.Click(`//main//button[normalize-space()="`+w.confirmButton+`"]`),
		chromedp.WaitVisible(`//h1[normalize-space()="`+w.confirmed+`"]`),
	)
	if got := text(t, ctx, "main"); !strings.Contains(got, ref) {
		t.Errorf("the confirmed page does not name the request %s:\n%s", ref, got)
	}
	testkit.Axe(t, ctx)
	if s := statusOf(); s != "new" {
		t.Fatalf("after confirming the request is %s, want new", s)
	}

	// 3. Confirming sent a fresh status link and retired the first one.
	confirmedMail, confirmedLinks := mailAbout(t, inst, w.email, w.confirmedSubj)
	if confirmedLinks.Status == "" || confirmedLinks.Status == links.Status {
		t.Fatalf("the confirmed email carries no new status link:\n%s", confirmedMail.Text)
	}
	openAnswering(t, ctx, links.Status, http.StatusNotFound)
	open(t, ctx, confirmedLinks.Status)
	if got := pageLang(t, ctx); got != w.lang {
		t.Errorf("the status page is in %q, want %q", got, w.lang)
	}
	if got := text(t, ctx, "h1"); !strings.Contains(got, ref) {
		t.Errorf("status page heading %q does not name %s", got, ref)
	}
	if got := text(t, ctx, ".facts strong"); got != w.statusNew {
		t.Errorf("status shown = %q, want %q", got, w.statusNew)
	}

	// 4. Staff take it up and ask for a document.
	agent := addStaff(t, inst, "Гульнара Сапарова", "gulnara@school.example.kz", "ru")
	if _, err := desk.Assign(bg, ref, request.ByStaff(agent), agent); err != nil {
		t.Fatalf("assign: %v", err)
	}
	if _, err := desk.Start(bg, ref, request.ByStaff(agent)); err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := desk.AskForInformation(bg, ref, request.ByStaff(agent), w.question); err != nil {
		t.Fatalf("ask for information: %v", err)
	}
	info, infoLinks := mailAbout(t, inst, w.email, w.infoSubject)
	if !strings.Contains(info.Text, w.question) || infoLinks.Status == "" {
		t.Fatalf("the information request email lacks the question or a status link:\n%s", info.Text)
	}

	// 5. From the new email's link, the requester answers with a PDF.
	open(t, ctx, infoLinks.Status)
	if got := text(t, ctx, ".facts strong"); got != w.statusAwaiting {
		t.Errorf("status shown = %q, want %q", got, w.statusAwaiting)
	}
	if got := text(t, ctx, ".conversation"); !strings.Contains(got, w.question) {
		t.Errorf("the status page does not show staff's question %q:\n%s", w.question, got)
	}
	file := filepath.Join(t.TempDir(), "udostoverenie.pdf")
	if err := os.WriteFile(file, []byte(replyPDF), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-message"), w.reply),
		chromedp.SetUploadFiles(chromedp.CSS("#f-files"), []string{file}),
		chromedp.Click(chromedp.CSS(`form[action$="/reply"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if got := text(t, ctx, ".notice"); got != w.replySent {
		t.Errorf("after sending, the page says %q, want %q", got, w.replySent)
	}
	testkit.Axe(t, ctx)
	conversation := text(t, ctx, ".conversation")
	if !strings.Contains(conversation, w.reply) || !strings.Contains(conversation, "udostoverenie.pdf") {
		t.Errorf("the conversation does not show the reply and its file:\n%s", conversation)
	}
	req := inst.Request(t, ref)
	msgs, err := inst.App.Store.Messages(bg, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	var reply *store.Message
	for i, m := range msgs {
		if m.Author == request.ActorRequester && m.Body == w.reply {
			reply = &msgs[i]
		}
	}
	if reply == nil || len(reply.Files) != 1 || reply.Files[0].Name != "udostoverenie.pdf" || reply.Files[0].ContentType != "application/pdf" {
		t.Fatalf("the reply is not stored with the typed text and its PDF: %+v", msgs)
	}
	// Read as the database holds it (a staff download would be logged).
	var sealedPDF []byte
	if err := inst.Pool.QueryRow(bg, `SELECT content FROM files WHERE id = $1`, reply.Files[0].ID).Scan(&sealedPDF); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealedPDF), "%PDF") {
		t.Error("the uploaded PDF is stored in the clear")
	}
	if stored, err := testkit.Keys().Open(sealed.FileContent, sealedPDF); err != nil || string(stored) != replyPDF {
		t.Errorf("the stored file differs from the uploaded one (%d bytes, want %d; %v)", len(stored), len(replyPDF), err)
	}
	if s := statusOf(); s != "in_progress" {
		t.Errorf("after the reply the request is %s, want in_progress", s)
	}

	// 6. Staff check who the requester is (a copy of the data needs it),
	// then answer with the copy; the completion email carries a download
	// link.
	if _, err := desk.RecordIdentityCheck(bg, ref, request.ByStaff(agent), request.IdentityDocumentSeen, "Удостоверение личности в ответе сверено с учётной записью"); err != nil {
		t.Fatalf("identity check: %v", err)
	}
	export := []byte(`{"student":"` + w.name + `","courses":2}`)
	if _, err := desk.Complete(bg, ref, request.ByStaff(agent), request.Completion{Response: w.response, File: &request.Upload{
		Name: "dannye.json", Content: export,
	}}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	done, doneLinks := mailAbout(t, inst, w.email, w.completedSubj)
	if !strings.Contains(done.Text, w.response) || doneLinks.Download == "" || doneLinks.Status == "" {
		t.Fatalf("the completion email lacks the response, a download link or a status link:\n%s", done.Text)
	}
	open(t, ctx, doneLinks.Status)
	if got := text(t, ctx, ".facts strong"); got != w.statusCompleted {
		t.Errorf("status shown = %q, want %q", got, w.statusCompleted)
	}
	if got := text(t, ctx, ".conversation"); !strings.Contains(got, w.response) {
		t.Errorf("the status page does not show the response %q", w.response)
	}
	testkit.Axe(t, ctx)

	// 7. The download gives the file, and is logged.
	resp, err := http.Get(doneLinks.Download)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, export) {
		t.Fatalf("download: %s, %q; want 200 and %q", resp.Status, got, export)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, "dannye.json") {
		t.Errorf("download Content-Disposition = %q, want an attachment named dannye.json", cd)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.kind = 'file_downloaded'`, ref); n != 1 {
		t.Errorf("downloads logged: %d, want 1", n)
	}

	// 8. A week later the link has expired, and the page says so.
	inst.Clock.Advance(7*24*time.Hour + time.Minute)
	openAnswering(t, ctx, doneLinks.Download, http.StatusGone)
	if got := pageLang(t, ctx); got != w.lang {
		t.Errorf("the expired-link page is in %q, want %q", got, w.lang)
	}
	if h1 := text(t, ctx, "h1"); h1 != w.expiredTitle {
		t.Errorf("expired download heading = %q, want %q", h1, w.expiredTitle)
	}
	testkit.Axe(t, ctx)
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'file_downloaded'`); n != 1 {
		t.Errorf("downloads logged after the expired attempt: %d, want still 1", n)
	}

	// 9. The status page serves no file; its button emails a new link,
	// which the mailbox receives and which downloads the file again.
	open(t, ctx, doneLinks.Status)
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href*="/d/"], a[href*="/files/"]').length`)); n != 0 {
		t.Errorf("the status page links the file itself (%d links)", n)
	}
	run(t, ctx,
		chromedp.Click(`//main//button[starts-with(normalize-space(), "`+w.sendLink+`")]`),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if got := text(t, ctx, ".notice"); got != w.linkSent {
		t.Errorf("after asking for a new link the page says %q, want %q", got, w.linkSent)
	}
	testkit.Axe(t, ctx)
	_, fresh := mailAbout(t, inst, w.email, w.linkSubj)
	if fresh.Download == "" || fresh.Download == doneLinks.Download {
		t.Fatalf("the new download link email carries no new link: %+v", fresh)
	}
	resp, err = http.Get(fresh.Download)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, export) {
		t.Fatalf("download through the new link: %s, %q", resp.Status, got)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'file_downloaded'`); n != 2 {
		t.Errorf("downloads logged: %d, want 2", n)
	}
}
