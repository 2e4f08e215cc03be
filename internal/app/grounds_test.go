package app_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/deadline"
	"rightsdesk/internal/request"
	"rightsdesk/web"
)

var rejectOption = regexp.MustCompile(`<select id="reject-reason" name="reason">([\s\S]*?)</select>`)
var optionValue = regexp.MustCompile(`<option value="([^"]+)"`)

// offeredGrounds reads the grounds the request page offers staff.
func offeredGrounds(t *testing.T, page string) []string {
	t.Helper()
	m := rejectOption.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the request page has no list of grounds")
	}
	var out []string
	for _, o := range optionValue.FindAllStringSubmatch(m[1], -1) {
		out = append(out, o[1])
	}
	return out
}

// Every ground offered for a request belongs to its rule set, with its
// legal reference, and the desk refuses a ground from another law.
func TestRefusalGroundsOfferedBelongToTheRequestsRuleSet(t *testing.T) {
	for _, preset := range []string{"kz", "gdpr", "default"} {
		t.Run(preset, func(t *testing.T) {
			inst := apptest.Start(t, map[string]string{"DEADLINE_PRESET": preset})
			agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
			ref, _ := filed(t, inst, request.Access, "ru")
			setStatus(t, inst, ref, "in_progress")
			_, page := openRequest(t, inst, "daniyar@school.example.kz", ref).get()

			var want []string
			for _, g := range deadline.GroundsOf(preset) {
				want = append(want, g.Code)
			}
			if got := offeredGrounds(t, page); !slices.Equal(got, want) {
				t.Errorf("offered %v, want the %s grounds %v", got, preset, want)
			}
			if preset == "kz" && !strings.Contains(page, "п. 2 ст. 8 Закона РК № 94-V") {
				t.Error("the kz grounds do not cite Law 94-V")
			}
			// GDPR's "excessive" is no ground under Law 94-V.
			_, err := inst.App.Desk.Reject(context.Background(), ref, request.ByStaff(agent.ID), request.Rejection{Reason: deadline.GroundExcessive, Text: "Слишком часто."})
			if offered := slices.Contains(want, deadline.GroundExcessive); offered != (err == nil) {
				t.Errorf("reject as excessive under %s: %v", preset, err)
			} else if !offered && !errors.Is(err, request.ErrReasonRequired) {
				t.Errorf("reject as excessive under %s: %v, want ErrReasonRequired", preset, err)
			}
		})
	}
}

// A Kazakh refusal cites the law's own ground in the requester's language.
func TestKazakhRefusalCitesTheLawsGround(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"DEADLINE_PRESET": "kz"})
	agent := inst.AddStaff(t, "daniyar@school.example.kz", "Данияр Агентов", auth.Agent)
	ref, _ := filed(t, inst, request.ConsentWithdrawal, "kk")
	setStatus(t, inst, ref, "in_progress")
	if _, err := inst.App.Desk.Reject(context.Background(), ref, request.ByStaff(agent.ID), request.Rejection{Reason: deadline.GroundUnfulfilledObligation, Text: "Шарт бойынша төлем әлі аяқталмады."}); err != nil {
		t.Fatal(err)
	}
	_, text, _, _ := lastMailTo(t, inst, "aigerim.consent_withdrawal.kk@example.kz", "бойынша шешім")
	want := "Негізі: сізде осы деректер қажет болатын орындалмаған міндеттеме бар («Дербес деректер және оларды қорғау туралы» Қазақстан Республикасы Заңының 8-бабының 2-тармағы)."
	if !strings.Contains(text, want) {
		t.Errorf("refusal email lacks the law's ground:\n%s", text)
	}
}

// Every ground any rule set has, and those older records hold, has a label
// for staff and for the requester in every language.
func TestEveryRefusalGroundHasItsWords(t *testing.T) {
	c, err := web.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	codes := append(request.RejectionReasons(), "identity_not_confirmed", "manifestly_unfounded", "excessive", "legal_exemption", "no_data", "other")
	for _, l := range request.Locales() {
		p := c.Printer(l)
		for _, code := range codes {
			for _, key := range []string{"reject." + code, "staff.reject." + code} {
				if _, ok := p.Lookup(key); !ok {
					t.Errorf("%s lacks %s", l, key)
				}
			}
		}
	}
}
