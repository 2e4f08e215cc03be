package web

import (
	"strings"
	"testing"

	"rightsdesk/internal/deadline"
	"rightsdesk/internal/request"
	webfiles "rightsdesk/web"
)

// Staff read how a deadline was counted in their own language; a record
// from before keeps its English text.
func TestDeadlineTermsInStaffsLanguage(t *testing.T) {
	catalog, err := webfiles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	promise := deadline.Terms{Period: deadline.Period{Value: 10, Unit: deadline.WorkingDays}, Calendar: "kz",
		EarlierThan: &deadline.Terms{Period: deadline.Period{Value: 15, Unit: deadline.WorkingDays}, Calendar: "kz"},
		EarlierRule: "kz.consent_withdrawal", EarlierRef: "Law of RK No. 94-V, art. 8(7)"}
	extended := deadline.Terms{Period: deadline.Period{Value: 30, Unit: deadline.CalendarDays}, Default: true,
		Extended: &deadline.Period{Value: 30, Unit: deadline.CalendarDays}, Extensions: 1}
	grounds := deadline.Terms{Period: deadline.Period{Value: 1, Unit: deadline.WorkingDays}, Calendar: "weekdays",
		Start: deadline.StartGroundsConfirmed}
	months := deadline.Terms{Period: deadline.Period{Value: 1, Unit: deadline.Months}, Calendar: "Our calendar",
		Extended: &deadline.Period{Value: 2, Unit: deadline.Months}, Extensions: 2}

	want := map[request.Locale][]string{
		"ru": {
			"10 рабочих дней (производственный календарь Казахстана) (обещание оператора: этот срок раньше, чем 15 рабочих дней (производственный календарь Казахстана) по закону, Закон РК № 94-V «О персональных данных и их защите», п. 7 ст. 8)",
			"30 календарных дней (срок rightsdesk по умолчанию) + продление на 30 календарных дней",
			"1 рабочий день (рабочие дни с понедельника по пятницу), считая с подтверждения оснований",
			"1 месяц (по Регламенту 1182/71, с переносом на следующий рабочий день; календарь «Our calendar») + 2 × продление на 2 месяца",
		},
		"kk": {
			"10 жұмыс күні (Қазақстанның өндірістік күнтізбесі) (оператордың уәдесі; 15 жұмыс күні (Қазақстанның өндірістік күнтізбесі) мерзімінен ертерек, «Дербес деректер және оларды қорғау туралы» Қазақстан Республикасы Заңының 8-бабының 7-тармағы)",
			"30 күнтізбелік күн (rightsdesk әдепкі мерзімі) + ұзарту: 30 күнтізбелік күн",
			"1 жұмыс күні (дүйсенбіден жұмаға дейінгі жұмыс күндері), негіздер расталған күннен бастап",
			"1 ай (1182/71 Регламенті бойынша, келесі жұмыс күніне ауыстырылады; «Our calendar» күнтізбесі) + 2 рет ұзарту: 2 ай",
		},
		"en": {
			"10 working days (Kazakhstan calendar) (the operator's promise; earlier than 15 working days (Kazakhstan calendar), Law of RK No. 94-V on Personal Data and their Protection, art. 8(7))",
			"30 calendar days (rightsdesk default) + 30 calendar days extension",
			"1 working day (Monday to Friday) from confirmation of the grounds",
			"1 month (Reg. 1182/71, moved to the next working day; calendar: Our calendar) + 2 × 2 months extension",
		},
	}
	for locale, lines := range want {
		p := catalog.Printer(locale)
		for i, terms := range []deadline.Terms{promise, extended, grounds, months} {
			if got := storedTermsInWords(p, terms.Encode()); got != lines[i] {
				t.Errorf("%s, terms %d:\n got %s\nwant %s", locale, i, got, lines[i])
			}
		}
		if got := storedTermsInWords(p, "30 calendar days (rightsdesk default)"); got != "30 calendar days (rightsdesk default)" {
			t.Errorf("%s: an older record's text reads %q", locale, got)
		}
		// Laws the catalogs cite are cited in the reader's language; others
		// as the policy gives them.
		if got := legalRefInWords(p, "kz.objection_automated", "Law of RK No. 94-V, art. 19-1(3)"); !strings.Contains(got, "19-1") ||
			(locale != "en") == strings.Contains(got, "Law of RK") {
			t.Errorf("%s: the objection rule's law is cited as %q", locale, got)
		}
		if got := legalRefInWords(p, "gdpr.one_month.extended", "GDPR art. 12(3)"); got != "GDPR art. 12(3)" {
			t.Errorf("%s: a reference the catalogs do not have reads %q", locale, got)
		}
	}
}
