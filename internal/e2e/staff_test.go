package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// TestAgentWorksARequestInTheBrowser follows an agent through one request
// as they would work it: sign in, find it by the requester's name, take it,
// ask the requester a question, extend the deadline and answer with a PDF,
// reading the email before it goes. The requester's side is checked over
// SMTP and the desk's in the database.
func TestAgentWorksARequestInTheBrowser(t *testing.T) {
	inst := apptest.Start(t, nil)
	const agentName, agentEmail = "Данияр Агентов", "daniyar@school.example.kz"
	agent := inst.AddStaff(t, agentEmail, agentName, auth.Agent)

	// Three confirmed requests; the one to work is Yerzhan's, in Kazakh.
	target := fileNamed(t, inst, "Ержан Болатұлы Қасымов", "erzhan@example.kz", "kk")
	fileNamed(t, inst, "Айгерим Нурланқызы Сейткалиева", "aigerim@example.kz", "ru")
	fileNamed(t, inst, "Асель Тимурқызы Жанибекова", "asel@example.kz", "ru")
	for _, ref := range queueRefs(t, inst) {
		setStatus(t, inst, ref, "new")
	}

	ctx := browser(t)
	signIn(t, ctx, inst, agentEmail)
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.queue tbody tr").length`)); n != 3 {
		t.Errorf("the queue shows %d requests, want the 3 filed", n)
	}

	// The agent types part of the surname in lower case (Kazakh letter қ)
	// into the search box and finds exactly Yerzhan's request.
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#q"), "қасым"),
		chromedp.Click(`//form[@role="search"]//button[normalize-space()="Найти"]`),
		chromedp.WaitVisible(chromedp.CSS(`input#q[value="қасым"]`)),
	)
	rows := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.queue tbody tr")].map(tr => tr.innerText)`))
	if len(rows) != 1 || !strings.Contains(rows[0], target.Reference) || !strings.Contains(rows[0], "Ержан Болатұлы Қасымов") {
		t.Fatalf("search for «қасым» shows %q, want only %s of Ержан Болатұлы Қасымов", rows, target.Reference)
	}
	testkit.Axe(t, ctx)

	run(t, ctx,
		chromedp.Click(`//table//a[normalize-space()="`+target.Reference+`"]`),
		chromedp.WaitVisible(chromedp.CSS("#assign")),
	)
	if h1 := text(t, ctx, "h1"); !strings.Contains(h1, target.Reference) {
		t.Errorf("request page heading %q does not name %s", h1, target.Reference)
	}
	if got := text(t, ctx, "#requester-h + dl"); !strings.Contains(got, "Ержан Болатұлы Қасымов") || !strings.Contains(got, target.Email) {
		t.Errorf("the requester's data on the page: %q", got)
	}
	testkit.Axe(t, ctx)

	// Assign to me, then start.
	run(t, ctx,
		chromedp.Click(`//div[@id="assign"]//button[normalize-space()="Назначить себе"]`),
		chromedp.WaitVisible(`//dd[@id="assignee"][normalize-space()="`+agentName+`"]`),
		chromedp.Click(`//div[@id="start"]//button[normalize-space()="Начать работу"]`),
		chromedp.WaitVisible(timelineStep("Работа начата")),
	)
	if got := dbStatus(t, inst, target.Reference); got != "in_progress" {
		t.Fatalf("after «Начать работу» the request is %s, want in_progress", got)
	}

	// A question without text is refused at its box, which says so to a
	// screen reader too; nothing is sent.
	run(t, ctx,
		chromedp.Click(`//div[@id="ask"]//button[normalize-space()="Отправить вопрос"]`),
		chromedp.WaitVisible(chromedp.CSS("#ask-message-error")),
	)
	if got, want := text(t, ctx, "#ask-message-error"), "Напишите текст (до 5000 символов)."; !strings.Contains(got, want) {
		t.Errorf("the refused question's error reads %q, want %q", got, want)
	}
	if got := attr(t, ctx, "#ask-message", "aria-invalid"); got != "true" {
		t.Errorf(`the refused question's box: aria-invalid = %q, want "true"`, got)
	}
	if got := attr(t, ctx, "#ask-message", "aria-describedby"); got != "ask-message-hint ask-message-error" {
		t.Errorf("the refused question's box is described by %q, want its hint and its error", got)
	}
	if got := dbStatus(t, inst, target.Reference); got != "in_progress" {
		t.Errorf("after a refused question the request is %s, want in_progress", got)
	}
	testkit.Axe(t, ctx)

	// Ask the requester for information; the question reaches them by email.
	question := "Жеке куәліктің көшірмесін жіберіңізші."
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#ask-message"), question),
		chromedp.Click(`//div[@id="ask"]//button[normalize-space()="Отправить вопрос"]`),
		chromedp.WaitVisible(timelineStep("У заявителя запрошена информация")),
	)
	if info, links := mailAbout(t, inst, target.Email, "ақпарат қажет"); !strings.Contains(info.Text, question) || links.Status == "" {
		t.Errorf("the information request email lacks the question or a status link:\n%s", info.Text)
	}

	// Extend the deadline with a reason: the page offers 1 May and shows it
	// once done.
	const newDue = "1 мая 2026"
	if offer := text(t, ctx, "#extend p"); !strings.Contains(offer, newDue) ||
		!strings.Contains(offer, "(30 календарных дней (срок rightsdesk по умолчанию) + продление на 30 календарных дней)") {
		t.Errorf("the extension offers %q, want %s and how it counts, in Russian", offer, newDue)
	}
	if rule := text(t, ctx, "#rule"); rule != "default.calendar_30d — 30 календарных дней (срок rightsdesk по умолчанию)" {
		t.Errorf("the rule that set the deadline reads %q, want it in Russian", rule)
	}
	reason := "Деректер үш жүйеде сақталған"
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#extend-reason"), reason),
		chromedp.Click(`//div[@id="extend"]//button[normalize-space()="Продлить"]`),
		chromedp.WaitVisible(timelineStep("Срок продлён до "+newDue)),
	)
	if due := text(t, ctx, "#due"); !strings.HasPrefix(due, newDue) {
		t.Errorf("after the extension the due date reads %q, want %s", due, newDue)
	}
	if facts := text(t, ctx, "#facts-h + dl"); !strings.Contains(facts, "Первоначальный срок") || !strings.Contains(facts, "1 апреля 2026") {
		t.Errorf("after the extension the page does not give the original due date:\n%s", facts)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests WHERE reference = $1 AND extensions = 1`, target.Reference); n != 1 {
		t.Error("the extension is not stored")
	}
	if get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("extend-reason") !== null`)) {
		t.Error("a second extension is still offered")
	}

	// A copy of the data needs an identity check: the page says so, and
	// the agent records how they established who the requester is.
	if got := text(t, ctx, "#identity-state"); !strings.HasPrefix(got, "Требуется до отправки ответа") {
		t.Errorf("the identity check reads %q, want it needed", got)
	}
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#identity-method-select"), "video_call"),
		chromedp.SendKeys(chromedp.CSS("#identity-note"), "Жеке куәлік бейнебайланыста көрсетілді"),
		chromedp.Click(`//section[@id="identity"]//button[normalize-space()="Отметить проверку"]`),
		chromedp.WaitVisible(chromedp.CSS("#identity-method")),
	)
	if got := text(t, ctx, "#identity-method"); got != "Видеосвязь" {
		t.Errorf("the recorded method reads %q", got)
	}
	testkit.Axe(t, ctx)

	// Complete with a PDF: preview the exact email first, then send it.
	pdf := filepath.Join(t.TempDir(), "otvet.pdf")
	if err := os.WriteFile(pdf, []byte(replyPDF), 0o600); err != nil {
		t.Fatal(err)
	}
	response := "Деректеріңіздің көшірмесі қоса беріліп отыр."
	beforePreview := dbStatus(t, inst, target.Reference)
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#complete-response"), response),
		chromedp.SetUploadFiles(chromedp.CSS("#complete-file"), []string{pdf}),
		chromedp.Click(`//div[@id="complete"]//button[normalize-space()="Посмотреть письмо"]`),
		chromedp.WaitVisible(chromedp.CSS("#preview-text")),
	)
	subject, previewed := text(t, ctx, "#preview-subject"), text(t, ctx, "#preview-text")
	if !strings.Contains(previewed, response) || !strings.Contains(previewed, "/d/••••••") {
		t.Errorf("the preview lacks the response or the download link:\n%s", previewed)
	}
	if got := text(t, ctx, "#complete"); !strings.Contains(got, "otvet.pdf") {
		t.Errorf("the preview does not say the PDF is attached:\n%s", got)
	}
	if lang := attr(t, ctx, "#preview .mail", "lang"); lang != "kk" {
		t.Errorf("the preview is in %q, want the requester's kk", lang)
	}
	if got := dbStatus(t, inst, target.Reference); got != beforePreview {
		t.Fatalf("previewing made the request %s (it was %s)", got, beforePreview)
	}
	testkit.Axe(t, ctx)
	run(t, ctx,
		chromedp.Click(`//div[@id="complete"]//button[normalize-space()="Отправить"]`),
		chromedp.WaitVisible(timelineStep("Завершён: ответ отправлен")),
	)
	if got := dbStatus(t, inst, target.Reference); got != "completed" {
		t.Fatalf("after «Отправить» the request is %s, want completed", got)
	}
	done, links := mailAbout(t, inst, target.Email, "сұрауыңызға жауап")
	if done.Subject != subject || !sameEmailText(done.Text, previewed) {
		t.Errorf("the email sent differs from its preview:\nsent %q\n%s\npreviewed %q\n%s", done.Subject, done.Text, subject, previewed)
	}
	if links.Download == "" {
		t.Fatalf("the completion email has no download link:\n%s", done.Text)
	}
	resp, err := http.Get(links.Download)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != replyPDF {
		t.Errorf("the download link gives %s, %d bytes; want 200 and the uploaded PDF", resp.Status, len(got))
	}

	// The timeline names the agent for each step, and the database agrees.
	entries := timeline(t, ctx)
	for _, step := range []string{"Назначен исполнитель: " + agentName, "Работа начата", "У заявителя запрошена информация",
		"Срок продлён до " + newDue, "Завершён: ответ отправлен"} {
		found := false
		for _, e := range entries {
			if strings.HasPrefix(e.What, step) {
				found = true
				if e.Actor != agentName {
					t.Errorf("timeline: %q by %q, want %q", e.What, e.Actor, agentName)
				}
			}
		}
		if !found {
			t.Errorf("timeline lacks %q; it has %+v", step, entries)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.actor_id = $2 AND e.kind IN ('assigned', 'started', 'information_requested', 'extended', 'completed')`,
		target.Reference, agent.ID); n != 5 {
		t.Errorf("%d of the agent's 5 actions logged with their id", n)
	}
}

// TestAuditorCannotChangeAnything signs an auditor in: they read the queue
// and a request with its timeline, are offered no action, and the server
// refuses the actions when posted anyway with the page's own CSRF token and
// session.
func TestAuditorCannotChangeAnything(t *testing.T) {
	inst := apptest.Start(t, nil)
	const auditorEmail = "gulnar@school.example.kz"
	inst.AddStaff(t, auditorEmail, "Гульнар Аудиторова", auth.Auditor)
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	target := fileNamed(t, inst, "Ержан Болатұлы Қасымов", "erzhan@example.kz", "ru")
	setStatus(t, inst, target.Reference, "new")
	bg := context.Background()
	if _, err := inst.App.Desk.Assign(bg, target.Reference, request.ByStaff(agent.ID), agent.ID); err != nil {
		t.Fatalf("assign: %v", err)
	}
	if _, err := inst.App.Desk.Start(bg, target.Reference, request.ByStaff(agent.ID)); err != nil {
		t.Fatalf("start: %v", err)
	}

	ctx := browser(t)
	signIn(t, ctx, inst, auditorEmail)
	if got := text(t, ctx, "table.queue tbody"); !strings.Contains(got, target.Reference) || !strings.Contains(got, "Ержан Болатұлы Қасымов") {
		t.Fatalf("the auditor's queue does not show the request:\n%s", got)
	}
	run(t, ctx,
		chromedp.Click(`//table//a[normalize-space()="`+target.Reference+`"]`),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
	)
	if got := text(t, ctx, "#requester-h + dl"); !strings.Contains(got, "Ержан Болатұлы Қасымов") || !strings.Contains(got, target.Email) {
		t.Errorf("the auditor does not see the requester's data: %q", got)
	}
	var assigned bool
	for _, e := range timeline(t, ctx) {
		if e.What == "Назначен исполнитель: Данияр Агентов" && e.Actor == "Данияр Агентов" {
			assigned = true
		}
	}
	if !assigned {
		t.Errorf("the auditor's timeline does not show who assigned the request: %+v", timeline(t, ctx))
	}
	offered := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(
		'form[action^="/staff/requests/"], main form[method="post"], main textarea, #actions-h')].map(e => e.outerHTML.slice(0, 120))`))
	if len(offered) != 0 {
		t.Errorf("the auditor is offered actions: %q", offered)
	}
	testkit.Axe(t, ctx)

	// A form planted in the page, with the page's own token, posted by the
	// browser itself: refused with the role's page.
	token := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('input[name="_csrf"]').value`))
	// What the auditor's posts could change: the request, and a response
	// draft that a preview by someone allowed to answer would keep.
	state := func() string {
		return inst.RequestState(t, target.Reference) + "|" + strconv.Itoa(inst.Count(t, `SELECT count(*) FROM response_drafts`))
	}
	before := state()
	run(t, ctx,
		chromedp.Evaluate[chromedp.Void](`(() => {
			const f = document.createElement("form");
			f.method = "post";
			f.action = location.pathname + "/assign";
			for (const [k, v] of [["_csrf", document.querySelector('input[name="_csrf"]').value], ["to", "me"]]) {
				const i = document.createElement("input");
				i.type = "hidden"; i.name = k; i.value = v;
				f.append(i);
			}
			document.body.append(f);
			f.submit();
		})()`),
		chromedp.WaitVisible(`//h1[normalize-space()="Нет доступа"]`),
	)
	// Every action, sent from outside with the page's token and the
	// browser's cookies (the page's CSP, default-src 'none', stops a fetch
	// from inside it), and the answer's status checked.
	client := clientWithBrowserCookies(t, ctx, inst.URL)
	path := inst.URL + "/staff/requests/" + target.Reference
	if resp := do(t, client, http.MethodGet, path, nil); resp.code != http.StatusOK || !strings.Contains(resp.body, target.Reference) {
		t.Fatalf("the browser's session does not open the request from the client: %d", resp.code)
	}
	for action, form := range map[string]url.Values{
		"assign":   {"to": {"me"}},
		"start":    {},
		"ask":      {"message": {"?"}},
		"extend":   {"reason": {"need time"}},
		"complete": {"response": {"done"}, "step": {"preview"}},
		"reject":   {"reason": {"excessive"}, "text": {"no"}, "step": {"preview"}},
		"notes":    {"note": {"auditor was here"}},
	} {
		form.Set("_csrf", token)
		resp := do(t, client, http.MethodPost, path+"/"+action, form)
		if resp.code != http.StatusForbidden || !strings.Contains(resp.body, "Нет доступа") {
			t.Errorf("auditor POST %s: %d, want 403 «Нет доступа»", action, resp.code)
		}
	}
	if after := state(); after != before {
		t.Errorf("the auditor's posts changed the request: %s → %s", before, after)
	}
	// The same session and token do work for what an auditor may do (sign
	// out), so the 403s above are the role's refusal, not a stale token's.
	resp := do(t, client, http.MethodPost, inst.URL+"/staff/logout", url.Values{"_csrf": {token}})
	if resp.code != http.StatusSeeOther {
		t.Errorf("signing out with the page's token: %d, want 303\n%s", resp.code, resp.body)
	}
	open(t, ctx, path)
	if loc := get(t, ctx, chromedp.Location()); !strings.Contains(loc, "/staff/login") {
		t.Errorf("after signing out the browser still opens %s", loc)
	}
}

// fileNamed files an access request through the JSON API with the
// requester's name (fileRequest always uses the same one), and returns its
// reference.
func fileNamed(t *testing.T, inst *apptest.Instance, name, email, locale string) filed {
	t.Helper()
	return postRequest(t, inst, map[string]any{
		"type": "access", "access_scope": "copy", "full_name": name, "email": email,
		"details": "Прошу рассмотреть / Қарауыңызды сұраймын.", "locale": locale, "consent": true,
	})
}

// queueRefs lists every request's reference.
func queueRefs(t *testing.T, inst *apptest.Instance) []string {
	t.Helper()
	rows, err := inst.Pool.Query(context.Background(), `SELECT reference FROM requests ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	return refs
}

// signIn opens the staff area, is sent to the sign-in page, types the
// email and password and lands on the queue.
func signIn(t *testing.T, ctx context.Context, inst *apptest.Instance, email string) {
	t.Helper()
	open(t, ctx, inst.URL+"/staff")
	if loc := get(t, ctx, chromedp.Location()); !strings.Contains(loc, "/staff/login") {
		t.Fatalf("the staff area without a session opens %s, want the sign-in page", loc)
	}
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-password"), apptest.StaffPassword),
		chromedp.Click(`//main//button[normalize-space()="Войти"]`),
		chromedp.WaitVisible(chromedp.CSS("#q")),
	)
}

// timelineStep finds a timeline entry by its text.
func timelineStep(what string) string {
	return `//section[@id="timeline"]//p[@class="what"][starts-with(normalize-space(), "` + what + `")]`
}

type timelineEntry struct{ What, Actor string }

func timeline(t *testing.T, ctx context.Context) []timelineEntry {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[[]timelineEntry](`[...document.querySelectorAll("#timeline ol.timeline > li")].map(li => ({
		What: li.querySelector(".what").textContent.trim(), Actor: li.querySelector(".actor").textContent.trim()}))`))
}

func dbStatus(t *testing.T, inst *apptest.Instance, ref string) string {
	t.Helper()
	var s string
	if err := inst.Pool.QueryRow(context.Background(), `SELECT status FROM requests WHERE reference = $1`, ref).Scan(&s); err != nil {
		t.Fatalf("status of %s: %v", ref, err)
	}
	return s
}

// maskedLink is a requester's secret link in an email, which the preview
// shows masked.
var maskedLink = regexp.MustCompile(`(/[sd]/)[A-Za-z0-9_-]{22,}`)

// sameEmailText compares a delivered email's text with its preview, the
// secret links aside.
func sameEmailText(delivered, previewed string) bool {
	norm := func(s string) string {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		return strings.TrimSpace(maskedLink.ReplaceAllString(s, "${1}••••••"))
	}
	return norm(delivered) == norm(previewed)
}

// clientWithBrowserCookies is an HTTP client holding the browser's cookies
// for base (the session and CSRF cookies are HttpOnly, so they come from
// the DevTools protocol, not from the page).
func clientWithBrowserCookies(t *testing.T, ctx context.Context, base string) *http.Client {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/staff"}})
	if err != nil {
		t.Fatalf("browser cookies: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var cookies []*http.Cookie
	for _, c := range res.Cookies {
		cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path})
	}
	if len(cookies) == 0 {
		t.Fatal("the browser holds no cookies for the site")
	}
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, cookies)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	code int
	body string
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// What Chromium sends with a form posted from one of the site's pages:
	// the CSRF check trusts it (the page's token is then a placeholder, and
	// no CSRF cookie is set).
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b)}
}

// TestStaffSeeThatEmailDeliveryIsPaused: while an administrator has paused
// email delivery (rightsdesk email pause), every staff page says so, since
// when, and that requesters hear nothing meanwhile; once resumed, it no
// longer does.
func TestStaffSeeThatEmailDeliveryIsPaused(t *testing.T) {
	inst := apptest.Start(t, nil)
	const agentEmail = "daniyar@school.example.kz"
	inst.AddStaff(t, agentEmail, "Данияр Агентов", auth.Agent)
	river := inst.App.Runner.Client()
	bg := context.Background()
	// The queue is known to River once the workers have started on it.
	deadline := time.Now().Add(10 * time.Second)
	for err := river.QueuePause(bg, "email", nil); err != nil; err = river.QueuePause(bg, "email", nil) {
		if time.Now().After(deadline) {
			t.Fatalf("pause the email queue: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	ctx := browser(t)
	signIn(t, ctx, inst, agentEmail)
	notice := text(t, ctx, "#mail-paused")
	today := time.Now().In(inst.Config.Location)
	if !strings.HasPrefix(notice, "Отправка писем приостановлена с ") || !strings.Contains(notice, strconv.Itoa(today.Year())) ||
		!strings.Contains(notice, "rightsdesk email resume") {
		t.Errorf("the queue page's notice: %q", notice)
	}
	open(t, ctx, inst.URL+"/staff/dashboard")
	if got := text(t, ctx, "#mail-paused"); got != notice {
		t.Errorf("the dashboard's notice %q, the queue's %q", got, notice)
	}
	testkit.Axe(t, ctx)

	if err := river.QueueResume(bg, "email", nil); err != nil {
		t.Fatal(err)
	}
	open(t, ctx, inst.URL+"/staff")
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#mail-paused").length`)); n != 0 {
		t.Errorf("the notice is still shown after delivery resumed")
	}
}
