package app_test

import (
	"strings"
	"testing"

	"rightsdesk/internal/app/apptest"
)

// Each form says the period and who sets it: the law, with its article,
// or the operator where the law gives none; the status page says the same.
func TestFormsSayThePeriodAndWhoSetsIt(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"DEADLINE_PRESET": "kz"})
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/consent_withdrawal")
	if !strings.Contains(textOf(page), "Срок ответа: 15 рабочих дней (производственный календарь Казахстана), по закону (Закон РК № 94-V «О персональных данных и их защите», п. 7 ст. 8).") {
		t.Errorf("the withdrawal form does not name the law's period:\n%s", mainOf(page))
	}
	_, page = get(t, c, inst.URL+"/request/access")
	if !strings.Contains(textOf(page), "Этот срок установил") || strings.Contains(textOf(page), "по закону (") {
		t.Errorf("the access form does not say the operator sets its period:\n%s", mainOf(page))
	}
	_, page = get(t, c, inst.URL+"/request/portability")
	if !strings.Contains(textOf(page), "закон Казахстана такого права не предусматривает") && !strings.Contains(textOf(page), "Это не требование закона") {
		t.Errorf("portability is not presented as the operator's service:\n%s", mainOf(page))
	}
	_, statusPath := filed(t, inst, "consent_withdrawal", "ru")
	_, page = get(t, c, inst.URL+statusPath)
	if !strings.Contains(textOf(page), "Срок по закону: 15 рабочих дней") {
		t.Errorf("the status page does not say who set the period:\n%s", mainOf(page))
	}
}
