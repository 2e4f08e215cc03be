package i18n_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/web"
)

func load(t *testing.T) *i18n.Catalog {
	t.Helper()
	c, err := web.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEveryCatalogHasTheSameMessages(t *testing.T) {
	c := load(t)
	ru := c.Keys(request.Russian)
	for _, l := range []request.Locale{request.Kazakh, request.English} {
		if got := c.Keys(l); !slices.Equal(got, ru) {
			for _, k := range ru {
				if !slices.Contains(got, k) {
					t.Errorf("%s lacks %q", l, k)
				}
			}
			for _, k := range got {
				if !slices.Contains(ru, k) {
					t.Errorf("%s has %q that ru lacks", l, k)
				}
			}
		}
	}
}

func TestDatesAreWrittenAsEachLanguageWritesThem(t *testing.T) {
	c := load(t)
	d := time.Date(2026, 12, 22, 23, 59, 59, 0, time.UTC)
	want := map[request.Locale]string{
		request.Russian: "22 декабря 2026 года",
		request.Kazakh:  "2026 жылғы 22 желтоқсан",
		request.English: "22 December 2026",
	}
	for l, w := range want {
		if got := c.Printer(l).Date(d); got != w {
			t.Errorf("%s: Date = %q, want %q", l, got, w)
		}
	}
}

func TestDeadlinePhrases(t *testing.T) {
	c := load(t)
	d := time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)
	want := map[request.Locale]string{
		request.Russian: "не позднее 30 ноября 2026 года",
		request.Kazakh:  "2026 жылғы 30 қарашаға дейін",
		request.English: "by 30 November 2026",
	}
	for l, w := range want {
		if got := c.Printer(l).DateBy(d); got != w {
			t.Errorf("%s: DateBy = %q, want %q", l, got, w)
		}
	}
}

func TestRussianPluralForms(t *testing.T) {
	p := load(t).Printer(request.Russian)
	for n, want := range map[int]string{1: "остался 1 день", 3: "осталось 3 дня", 5: "осталось 5 дней", 21: "остался 21 день", 12: "осталось 12 дней"} {
		if got := p.N("status.days_left", n); got != want {
			t.Errorf("N(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	c := load(t)
	cases := map[string]request.Locale{
		"":                        request.Russian,
		"kk-KZ,kk;q=0.9,ru;q=0.8": request.Kazakh,
		"en-US,en;q=0.9":          request.English,
		"de-DE":                   request.Russian,
		"ru-RU":                   request.Russian,
		"garbage;;;":              request.Russian,
	}
	for header, want := range cases {
		if got := c.Negotiate(header); got != want {
			t.Errorf("Negotiate(%q) = %s, want %s", header, got, want)
		}
	}
}

func TestMissingKeyIsVisible(t *testing.T) {
	p := load(t).Printer(request.English)
	if got := p.T("no.such.key"); got != i18n.Missing+"no.such.key⟧" {
		t.Errorf("T(missing) = %q", got)
	}
}

// Catalogs build Kazakh endings from the number, not from today's digits.
func TestKazakhCatalogEndingsFollowTheNumber(t *testing.T) {
	p := load(t).Printer(request.Kazakh)
	for max, want := range map[int]string{100: "1-ден 100-ге дейінгі", 5: "1-ден 5-ке дейінгі", 40: "1-ден 40-қа дейінгі"} {
		if got := p.T("api.error.limit", "Max", max); !strings.Contains(got, want) {
			t.Errorf("limit %d: %q, want %q", max, got, want)
		}
	}
	for n, want := range map[int]string{10000: "10000-нан астам", 500: "500-ден астам", 50: "50-ден астам"} {
		if got := p.T("staff.queue.count.capped_text", "N", n); got != want {
			t.Errorf("capped %d: %q, want %q", n, got, want)
		}
	}
}

// Under a rule set the catalogs word a type as its law does; elsewhere the
// plain words stay.
func TestRuleSetWordsTheTypesAsItsLawDoes(t *testing.T) {
	c := load(t)
	kz := c.ForRuleSet("kz")
	if got := kz.Printer(request.Russian).T("type.erasure.name"); got != "Уничтожение персональных данных" {
		t.Errorf("kz erasure in Russian: %q", got)
	}
	if got := kz.Printer(request.Kazakh).T("type.restriction.name"); got != "Дербес деректерді бұғаттау" {
		t.Errorf("kz restriction in Kazakh: %q", got)
	}
	if got := c.Printer(request.Russian).T("type.erasure.name"); got != "Удаление данных" {
		t.Errorf("plain erasure in Russian: %q", got)
	}
	if got := c.ForRuleSet("gdpr").Printer(request.English).T("type.erasure.name"); got != "Delete your data" {
		t.Errorf("gdpr erasure: %q", got)
	}
}
