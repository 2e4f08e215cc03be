package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// TestAccessibility runs axe-core (WCAG 2.0 and 2.1, A and AA) on every
// public page a requester can meet, in every state that changes what the
// page shows, in Russian and in Kazakh, on a phone and, for the landing
// page and a form, on a desktop screen.
func TestAccessibility(t *testing.T) {
	inst := apptest.Start(t, nil)
	agent := addStaff(t, inst, "Данияр Әлиев", "daniyar@school.example.kz", "ru")
	ctx := context.Background()

	for _, lang := range []string{"ru", "kk"} {
		t.Run(lang, func(t *testing.T) {
			// Requests in the page's language, one per state the status page
			// has to show.
			unverified := fileRequest(t, inst, "erasure", lang, "unverified."+lang+"@example.kz")
			_, ack := mailAbout(t, inst, unverified.Email, unverified.Reference)
			if ack.Confirm == "" {
				t.Fatalf("the acknowledgement to %s carries no confirmation link", unverified.Email)
			}
			waiting := fileRequest(t, inst, "access", lang, "waiting."+lang+"@example.kz")
			setStatus(t, inst, waiting.Reference, "new")
			if _, err := inst.App.Desk.Start(ctx, waiting.Reference, request.ByStaff(agent)); err != nil {
				t.Fatalf("start %s: %v", waiting.Reference, err)
			}
			question := map[string]string{
				"ru": "Пришлите, пожалуйста, копию удостоверения личности.",
				"kk": "Жеке куәліктің көшірмесін жіберіңізші.",
			}[lang]
			if _, err := inst.App.Desk.AskForInformation(ctx, waiting.Reference, request.ByStaff(agent), question); err != nil {
				t.Fatalf("ask for information on %s: %v", waiting.Reference, err)
			}

			b := browser(t)
			// The visitor picks the language in the header; the choice holds
			// for every page after it.
			open(t, b, inst.URL+"/lang/"+lang+"?next=/")
			check := func(page string) {
				t.Helper()
				if got := pageLang(t, b); got != lang {
					t.Errorf(`%s: <html lang=%q>, want %q`, page, got, lang)
				}
				testkit.Axe(t, b)
			}

			if lang == "ru" {
				// A fault planted in a real page must be found: axe runs
				// under the page's Content-Security-Policy, not around it.
				run(t, b, chromedp.Evaluate[chromedp.Void](`document.querySelector("main").insertAdjacentHTML("beforeend", '<img src="planted.png">')`))
				found, err := testkit.AxeViolations(b)
				if err != nil || len(found) != 1 || found[0].ID != "image-alt" {
					t.Fatalf("axe on a page with an image without alt text: %+v, %v; want exactly image-alt: the checks below would prove nothing", found, err)
				}
				open(t, b, inst.URL+"/")
			}
			check("landing page")
			for _, typ := range inst.Config.EnabledTypes {
				form := inst.URL + "/request/" + string(typ)
				open(t, b, form)
				check("empty " + string(typ) + " form")
				clickAndWait(t, b, `form button[type="submit"]`, ".error-summary")
				check(string(typ) + " form with errors")
			}

			_, thanks := thanksPage(t, inst, "thanks."+lang+"@example.kz")
			open(t, b, inst.URL+thanks)
			check("thank-you page")
			open(t, b, inst.URL+"/s/"+unverified.Token)
			if !strings.Contains(text(t, b, "main"), unverified.Reference) {
				t.Errorf("the status page does not show the reference %s", unverified.Reference)
			}
			check("status page of an unconfirmed request")
			open(t, b, ack.Confirm)
			check("confirmation page")

			open(t, b, inst.URL+"/s/"+waiting.Token)
			if !strings.Contains(text(t, b, ".conversation"), question) {
				t.Errorf("the status page does not show staff's question %q", question)
			}
			check("status page awaiting the requester")
			// Sending neither text nor a file is refused, next to the field.
			clickAndWait(t, b, `form[action$="/reply"] button[type="submit"]`, ".error-summary")
			label := text(t, b, `label[for="f-message"]`)
			if got := text(t, b, `.error-summary a[href="#f-message"]`); !strings.HasPrefix(got, label+":") {
				t.Errorf("the reply's error summary says %q: want it to name the field (%q) it links to", got, label)
			}
			check("status page with a reply error")
			open(t, b, inst.URL+"/s/"+waiting.Token+"/withdraw")
			check("withdraw confirmation page")

			open(t, b, inst.URL+"/status")
			check("page to get a new link")
			run(t, b,
				chromedp.SendKeys(chromedp.CSS("#f-reference"), waiting.Reference),
				chromedp.SendKeys(chromedp.CSS("#f-email"), waiting.Email),
			)
			clickAndWait(t, b, `form button[type="submit"]`, ".notice")
			check("page after asking for a new link")

			openAnswering(t, b, inst.URL+"/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusNotFound)
			check("invalid link page")
			openAnswering(t, b, inst.URL+"/no-such-page", http.StatusNotFound)
			check("not found page")

			run(t, b, chromedp.EmulateViewport(1280, 900))
			if w := get(t, b, chromedp.Evaluate[int](`window.innerWidth`)); w != 1280 {
				t.Fatalf("the viewport is %d px wide, want 1280: the desktop check would prove nothing", w)
			}
			open(t, b, inst.URL+"/")
			check("landing page on a desktop")
			open(t, b, inst.URL+"/request/rectification")
			check("empty rectification form on a desktop")
			clickAndWait(t, b, `form button[type="submit"]`, ".error-summary")
			check("rectification form with errors on a desktop")
		})
	}
}

// TestThankYouPagePrintsAsAReceipt prints the thank-you page (print media
// emulated) and checks that the receipt keeps what matters — the reference
// and the dates — and leaves out the site's navigation and footer.
func TestThankYouPagePrintsAsAReceipt(t *testing.T) {
	inst := apptest.Start(t, nil)
	ref, thanks := thanksPage(t, inst, "receipt@example.kz")
	ctx := browser(t)
	open(t, ctx, inst.URL+thanks)
	shown := func(sel string) bool {
		t.Helper()
		return get(t, ctx, chromedp.Evaluate[bool](`(() => {
			const el = document.querySelector(`+"`"+sel+"`"+`);
			if (!el) throw new Error("no element matches `+sel+`");
			const r = el.getBoundingClientRect();
			return getComputedStyle(el).visibility !== "hidden" && r.width > 0 && r.height > 0;
		})()`))
	}
	// On screen the page has what print must leave out: the check below
	// is not vacuous.
	for _, sel := range []string{"nav.langs", "footer.site", `a[href='/status']`} {
		if !shown(sel) {
			t.Fatalf("%s is not on the screen version of the thank-you page", sel)
		}
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatalf("emulate print media: %v", err)
	}
	if !get(t, ctx, chromedp.Evaluate[bool](`matchMedia("print").matches`)) {
		t.Fatal("the page is not in print media: the check would prove nothing")
	}
	for _, sel := range []string{"nav.langs", "footer.site", ".skip", `a[href='/status']`} {
		if shown(sel) {
			t.Errorf("%s shows on the printed receipt", sel)
		}
	}
	for _, sel := range []string{"#reference", ".receipt h1", ".receipt .facts"} {
		if !shown(sel) {
			t.Errorf("%s is missing from the printed receipt", sel)
		}
	}
	if got := text(t, ctx, "#reference"); got != ref {
		t.Errorf("the printed receipt shows the reference %q, want %q", got, ref)
	}
	if t.Failed() {
		testkit.Screenshot(t, ctx, "print")
	}
}
