package app_test

import (
	"context"
	"html"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/request"
	"rightsdesk/web"
)

// forbiddenPhrase is one entry of web/locales/forbidden.toml.
type forbiddenPhrase struct {
	Lang, Text, Reason string
}

func forbiddenPhrases(t *testing.T) []forbiddenPhrase {
	t.Helper()
	b, err := fs.ReadFile(web.Locales, "locales/forbidden.toml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Phrase []forbiddenPhrase }
	if err := toml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Phrase) == 0 {
		t.Fatal("forbidden.toml lists no phrase")
	}
	for _, p := range f.Phrase {
		if p.Lang == "" || p.Text == "" || p.Reason == "" {
			t.Fatalf("forbidden.toml: %+v needs lang, text and reason", p)
		}
	}
	return f.Phrase
}

var tagOrSpace = regexp.MustCompile(`<[^>]*>|\s+`)

// textOf is what a reader sees of a page: no markup, entities decoded,
// runs of white space as one space.
func textOf(page string) string {
	return tagOrSpace.ReplaceAllString(html.UnescapeString(tagOrSpace.ReplaceAllString(page, " ")), " ")
}

func checkForbidden(t *testing.T, phrases []forbiddenPhrase, lang, where, text string) {
	t.Helper()
	for _, p := range phrases {
		if p.Lang == lang && strings.Contains(text, p.Text) {
			t.Errorf("%s %s: %q came back (%s)", lang, where, p.Text, p.Reason)
		}
	}
}

// Every page a requester or staff member sees, and every email, in Kazakh
// and Russian, under the kz rules and the default, is free of the phrases
// the language review struck out.
func TestNoForbiddenPhraseOnAnyPageOrEmail(t *testing.T) {
	phrases := forbiddenPhrases(t)
	for _, preset := range []string{"kz", "default"} {
		t.Run(preset, func(t *testing.T) {
			inst := apptest.Start(t, map[string]string{"DEADLINE_PRESET": preset})
			staff := inst.AddStaff(t, "gulnara@school.example.kz", "Гульнара Сапарова", auth.Admin)
			inst.AddStaff(t, "invited@school.example.kz", "Асем", auth.Agent)
			ref, statusPath := filed(t, inst, request.ConsentWithdrawal, "kk")
			withdrawnRef, _ := filed(t, inst, request.Erasure, "kk")
			setStatus(t, inst, withdrawnRef, "in_progress")
			if _, err := inst.App.Desk.Reject(context.Background(), withdrawnRef, request.ByStaff(staff.ID), request.Rejection{Reason: "other", Text: "Түсініктеме."}); err != nil {
				t.Fatal(err)
			}
			for _, lang := range []string{"kk", "ru"} {
				c := browser(t)
				get(t, c, inst.URL+"/lang/"+lang)
				paths := []string{"/", "/status", statusPath, statusPath + "/withdraw", "/staff/login"}
				for _, typ := range request.AllTypes() {
					paths = append(paths, "/request/"+string(typ))
				}
				for _, p := range paths {
					_, page := get(t, c, inst.URL+p)
					checkForbidden(t, phrases, lang, p, textOf(page))
				}
				// The receipt, and a form sent back with its errors.
				_, form := get(t, c, inst.URL+"/request/erasure")
				_, page := post(t, c, inst.URL+"/request/erasure", url.Values{"_csrf": {formToken(t, form)}, "on_behalf": {"true"}})
				checkForbidden(t, phrases, lang, "form errors", textOf(page))
				v := erasureForm(formToken(t, form))
				v.Set("locale", lang)
				resp, _ := post(t, c, inst.URL+"/request/erasure", v)
				_, page = get(t, c, inst.URL+resp.Header.Get("Location"))
				checkForbidden(t, phrases, lang, "receipt", textOf(page))

				// Staff pages in the member's language.
				if _, err := inst.Pool.Exec(context.Background(), `UPDATE staff SET locale = $1`, lang); err != nil {
					t.Fatal(err)
				}
				sc := inst.SignIn(t, "gulnara@school.example.kz")
				for _, p := range []string{"/staff", "/staff/dashboard", "/staff/requests/" + ref, "/staff/requests/" + withdrawnRef,
					"/staff/users", "/staff/apikeys", "/staff/webhooks", "/staff/account"} {
					_, page := inst.Get(t, sc, p)
					checkForbidden(t, phrases, lang, p, textOf(page))
				}
			}
			// Every email kind, in both languages, for every type.
			cat, err := web.Catalog()
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := time.LoadLocation("Asia/Almaty")
			composer, err := mail.NewComposer(web.Files, cat.ForRuleSet(preset), loc)
			if err != nil {
				t.Fatal(err)
			}
			for _, kind := range composer.Kinds() {
				for _, typ := range request.AllTypes() {
					for _, lang := range []request.Locale{request.Kazakh, request.Russian} {
						subject, text, htmlBody, err := composer.Compose(kind, lang, emailSample(string(typ)))
						if err != nil {
							t.Fatalf("%s %s: %v", kind, lang, err)
						}
						checkForbidden(t, phrases, string(lang), "email "+kind, subject+" "+text+" "+textOf(htmlBody))
						if strings.Contains(text, i18n.Missing) {
							t.Errorf("%s %s: untranslated message", kind, lang)
						}
					}
				}
			}
		})
	}
}

// emailSample is data for any email kind.
func emailSample(typ string) map[string]any {
	due := time.Date(2026, 8, 3, 23, 59, 59, 0, time.UTC)
	return map[string]any{
		"Org": "Онлайн-школа", "Reference": "RD-7K4M-9QXT-2HV5", "Type": typ, "DueAt": due, "ConfirmBy": due, "DownloadBy": due,
		"StatusURL": "http://localhost/s/x", "ConfirmURL": "http://localhost/confirm/x", "StaffURL": "http://localhost/staff/requests/x",
		"DownloadURL": "http://localhost/d/x", "ComplaintURL": "https://eotinish.kz", "Reason": "legal_exemption", "ReasonRef": "",
		"RuleSet": "kz", "Text": "Түсініктеме.", "By": "2026 жылғы 3 тамызға дейін", "Name": "Асем", "Inviter": "Гульнара", "Role": "agent", "InviteURL": "http://localhost/staff/password/x",
	}
}
