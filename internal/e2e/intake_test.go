package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/testkit"
)

func TestRussianFormSubmissionShowsReference(t *testing.T) {
	inst := apptest.Start(t, nil)
	ctx := browser(t)
	const (
		name  = "Айгерим Нурлановна Сейткалиева"
		email = "aigerim@example.kz"
	)

	open(t, ctx, inst.URL+"/request/access")
	if lang := pageLang(t, ctx); lang != "ru" {
		t.Fatalf(`the form opened in %q, want Russian (<html lang="ru">)`, lang)
	}
	if h1 := text(t, ctx, "h1"); h1 != "Доступ к данным" {
		t.Errorf("heading = %q, want the Russian name of the access right", h1)
	}

	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-full_name"), name),
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.Click(labelWithText("Копию моих данных")),
		chromedp.Click(chromedp.CSS("#f-consent")),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#reference")),
	)

	if lang := pageLang(t, ctx); lang != "ru" {
		t.Errorf(`the thank-you page is in %q, want "ru"`, lang)
	}
	ref := text(t, ctx, "#reference")
	if !referencePattern.MatchString(ref) {
		t.Fatalf("reference on the thank-you page = %q, want the pattern %s", ref, referencePattern)
	}
	if r := inst.Request(t, ref); r.Type != "access" || r.AccessScope != "copy" || r.Locale != "ru" || r.FullName != name || r.Email != email {
		t.Errorf("request %s stored as %s/%s/%s %q %q, want the typed answers", ref, r.Type, r.AccessScope, r.Locale, r.FullName, r.Email)
	}

	ack := messageTo(t, inst, email)
	if !strings.Contains(ack.Subject, ref) || !strings.Contains(ack.Text, ref) {
		t.Errorf("acknowledgement does not carry the reference %s:\nsubject: %s\n%s", ref, ack.Subject, ack.Text)
	}
	if !strings.Contains(ack.Subject, "получен") || !strings.Contains(ack.Text, "Здравствуйте") {
		t.Errorf("acknowledgement is not in Russian:\nsubject: %s\n%s", ack.Subject, ack.Text)
	}
}

func TestKazakhRequesterCorrectsAnInvalidEmail(t *testing.T) {
	inst := apptest.Start(t, nil)
	ctx := browser(t)
	const name = "Ержан Болатұлы Қасымов"

	open(t, ctx, inst.URL+"/request/access")
	run(t, ctx,
		chromedp.Click(`//header//a[normalize-space()="Қазақша"]`),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="kk"]`)),
	)
	path := get(t, ctx, chromedp.Evaluate[string](`location.pathname`))
	if path != "/request/access" {
		t.Errorf("after switching language the browser is on %q, want back on /request/access", path)
	}
	if h1 := text(t, ctx, "h1"); h1 != "Деректерге қол жеткізу" {
		t.Errorf("heading = %q, want the Kazakh name of the access right", h1)
	}
	for field, want := range map[string]string{
		"f-full_name": "Тегі, аты, әкесінің аты",
		"f-email":     "Электрондық пошта",
	} {
		if got := text(t, ctx, `label[for="`+field+`"]`); !strings.HasPrefix(got, want) {
			t.Errorf("label of %s = %q, want it to start with %q", field, got, want)
		}
	}

	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-full_name"), name),
		chromedp.SendKeys(chromedp.CSS("#f-email"), "erzhan-at-example.kz"),
		chromedp.Click(labelWithText("Деректерімнің көшірмесі")),
		chromedp.Click(chromedp.CSS("#f-consent")),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")),
	)

	if lang := pageLang(t, ctx); lang != "kk" {
		t.Errorf(`the page with errors is in %q, want "kk"`, lang)
	}
	summary := ".error-summary"
	if got := attr(t, ctx, summary, "tabindex"); got != "-1" {
		t.Errorf(`error summary tabindex = %q, want "-1" so that it can take focus`, got)
	}
	if got := attr(t, ctx, summary, "role"); got != "alert" {
		t.Errorf(`error summary role = %q, want "alert"`, got)
	}
	if got := text(t, ctx, summary+" h2"); got != "Мына жерлерді түзетіңіз" {
		t.Errorf("error summary title = %q, want it in Kazakh", got)
	}
	links := get(t, ctx, chromedp.Nodes(chromedp.CSSAll(summary+" a")))
	if len(links) != 1 || links[0].AttributeValue("href") != "#f-email" {
		var hrefs []string
		for _, l := range links {
			hrefs = append(hrefs, l.AttributeValue("href"))
		}
		t.Fatalf("error summary links to %q, want exactly the email field [#f-email]", hrefs)
	}
	if got := text(t, ctx, summary+` a[href="#f-email"]`); !strings.Contains(got, "Электрондық пошта мекенжайын енгізіңіз") {
		t.Errorf("error summary entry = %q, want the Kazakh email message", got)
	}
	if got := attr(t, ctx, "#f-email", "aria-invalid"); got != "true" {
		t.Errorf(`email field aria-invalid = %q, want "true"`, got)
	}
	if got := attr(t, ctx, "#f-email", "aria-describedby"); !strings.Contains(got, "f-email-error") {
		t.Errorf("email field aria-describedby = %q, want it to name f-email-error", got)
	}
	if got := attr(t, ctx, "#f-full_name", "aria-invalid"); got != "" {
		t.Errorf("the valid name field is marked aria-invalid=%q", got)
	}
	// Following the summary's link takes the requester to the field.
	run(t, ctx, chromedp.Click(chromedp.CSS(summary+` a[href="#f-email"]`)))
	focused := get(t, ctx, chromedp.Evaluate[string](`location.hash + " " + document.activeElement.id`))
	if !strings.HasPrefix(focused, "#f-email") {
		t.Errorf("after following the summary link: %q, want the location at #f-email", focused)
	}
	kept := get(t, ctx, chromedp.Value(chromedp.CSS("#f-full_name")))
	if kept != name {
		t.Errorf("the name typed before the error = %q after the error, want %q kept", kept, name)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("a form with an invalid email stored %d request(s), want none", n)
	}

	const email = "erzhan@example.kz"
	run(t, ctx,
		chromedp.Clear(chromedp.CSS("#f-email")),
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
	)
	if got := get(t, ctx, chromedp.Value(chromedp.CSS("#f-email"))); got != email {
		t.Fatalf("the corrected email field holds %q, want %q", got, email)
	}
	// The form remembers the choice and the consent; tick them only if not.
	scope := get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("f-access_scope-copy").checked`))
	consent := get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("f-consent").checked`))
	if !scope || !consent {
		t.Errorf("after the error the form forgot the choice (copy checked: %v) or the consent (%v)", scope, consent)
		if !scope {
			run(t, ctx, chromedp.Click(chromedp.CSS("#f-access_scope-copy")))
		}
		if !consent {
			run(t, ctx, chromedp.Click(chromedp.CSS("#f-consent")))
		}
	}
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#reference")),
	)
	if lang := pageLang(t, ctx); lang != "kk" {
		t.Errorf(`the thank-you page is in %q, want "kk"`, lang)
	}
	ref := text(t, ctx, "#reference")
	if !referencePattern.MatchString(ref) {
		t.Fatalf("reference = %q, want the pattern %s", ref, referencePattern)
	}
	if r := inst.Request(t, ref); r.Locale != "kk" || r.Email != email {
		t.Errorf("Kazakh request %s stored as %s %q", ref, r.Locale, r.Email)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 1 {
		t.Errorf("requests stored: %d, want 1", n)
	}
	ack := messageTo(t, inst, email)
	if !strings.Contains(ack.Subject, ref) || !strings.Contains(ack.Text, "Сәлеметсіз бе") {
		t.Errorf("acknowledgement is not the Kazakh one for %s:\nsubject: %s\n%s", ref, ack.Subject, ack.Text)
	}
}

// TestPagesFitANarrowPhone checks that nothing pushes the public pages wider
// than a 360 px screen, in the two languages with the longest words.
func TestPagesFitANarrowPhone(t *testing.T) {
	inst := apptest.Start(t, nil)
	ctx := browser(t)
	const width = 360
	run(t, ctx, chromedp.EmulateViewport(width, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile))

	for _, lang := range []string{"ru", "kk"} {
		for _, path := range []string{"/", "/request/access", "/request/rectification", "/request/consent_withdrawal"} {
			open(t, ctx, inst.URL+"/lang/"+lang+"?next="+url.QueryEscape(path))
			if got := pageLang(t, ctx); got != lang {
				t.Fatalf("%s opened in %q, want %q", path, got, lang)
			}
			if vw := get(t, ctx, chromedp.Evaluate[int](`window.innerWidth`)); vw != width {
				t.Fatalf("the viewport is %d px wide, want %d: the check would prove nothing", vw, width)
			}
			if w := scrollWidth(t, ctx); w > width {
				testkit.Screenshot(t, ctx, lang+"-"+strings.Trim(strings.ReplaceAll(path, "/", "-"), "-"))
				t.Errorf("%s in %s is %d px wide on a %d px screen: it scrolls sideways", path, lang, w, width)
			}
		}
		// A form showing errors carries more text than a fresh one.
		open(t, ctx, inst.URL+"/request/access")
		run(t, ctx,
			chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".error-summary")),
		)
		if w := scrollWidth(t, ctx); w > width {
			testkit.Screenshot(t, ctx, lang+"-form-errors")
			t.Errorf("the access form with errors in %s is %d px wide on a %d px screen", lang, w, width)
		}
	}
}

// TestPagesWorkWithoutJavaScript submits a request with scripts switched off
// in the browser, and checks that no public page carries a script at all.
func TestPagesWorkWithoutJavaScript(t *testing.T) {
	inst := apptest.Start(t, nil)
	ctx := browser(t)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("switch scripts off: %v", err)
	}
	run(t, ctx, chromedp.Navigate(`data:text/html,<title>off</title><script>document.title="on"</script>`))
	if title := get(t, ctx, chromedp.Title()); title != "off" {
		t.Fatalf("a page script still ran (title %q): this test would prove nothing", title)
	}

	open(t, ctx, inst.URL+"/request/access")
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-full_name"), "Иван Петров"),
		chromedp.SendKeys(chromedp.CSS("#f-email"), "ivan@example.kz"),
		chromedp.Click(chromedp.CSS("#f-access_scope")),
		chromedp.Click(chromedp.CSS("#f-consent")),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#reference")),
	)
	location := get(t, ctx, chromedp.Location())
	ref := text(t, ctx, "#reference")
	if !referencePattern.MatchString(ref) {
		t.Fatalf("without JavaScript the thank-you page shows %q, want a reference", ref)
	}
	thanks, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	_, links := mailAbout(t, inst, "ivan@example.kz", ref)
	status, err := url.Parse(links.Status)
	if err != nil || links.Status == "" {
		t.Fatalf("the acknowledgement carries no status link: %v", err)
	}

	pages := []string{
		"/", "/request/access", "/request/rectification", "/request/erasure", "/request/restriction",
		"/request/objection", "/request/consent_withdrawal", "/request/portability",
		thanks.Path, status.Path, "/s/not-a-token",
	}
	for _, path := range pages {
		body := fetch(t, inst.URL+path)
		if strings.Contains(strings.ToLower(body), "<script") {
			t.Errorf("%s carries a <script>", path)
		}
	}
	// And the page a failed submission shows.
	resp, err := http.PostForm(inst.URL+"/request/access", url.Values{"full_name": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(strings.ToLower(string(body)), "<script") {
		t.Errorf("the answer to a failed submission (%s) carries a <script>", resp.Status)
	}
}
