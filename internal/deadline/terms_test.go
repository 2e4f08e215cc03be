package deadline

import (
	"reflect"
	"testing"
)

// Terms say how a deadline was counted, and survive storage.
func TestTermsSayHowTheDeadlineWasCounted(t *testing.T) {
	in := Input{Type: TypeConsentWithdrawal, ReceivedAt: at(t, "2026-03-10 10:00")}
	kz := policy(t, "kz", WithCalendar(Kazakhstan()), WithPromise(Period{10, WorkingDays}))
	promise, err := kz.Due(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Terms{Period: Period{10, WorkingDays}, RuleSet: "kz", Calendar: "kz",
		EarlierThan: &Terms{Period: Period{15, WorkingDays}, RuleSet: "kz", Calendar: "kz"}, EarlierRule: "kz.consent_withdrawal", EarlierRef: "Law of RK No. 94-V, art. 8(7)"}
	if !reflect.DeepEqual(promise.Terms, want) {
		t.Errorf("promise earlier than the law: %+v, want %+v", promise.Terms, want)
	}

	def := policy(t, "default", WithCalendar(Weekdays{}))
	due, err := def.Due(Input{Type: TypeAccess, ReceivedAt: in.ReceivedAt})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Terms{Period: Period{30, CalendarDays}, RuleSet: "default", Default: true}); !reflect.DeepEqual(due.Terms, want) {
		t.Errorf("the default: %+v, want %+v", due.Terms, want)
	}
	ext, err := def.Extend(Input{Type: TypeAccess, ReceivedAt: in.ReceivedAt}, due, in.ReceivedAt.AddDate(0, 0, 1), "many records")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Terms{Period: Period{30, CalendarDays}, RuleSet: "default", Default: true, Extended: &Period{30, CalendarDays}, Extensions: 1}); !reflect.DeepEqual(ext.Terms, want) {
		t.Errorf("the default extended: %+v, want %+v", ext.Terms, want)
	}

	for _, terms := range []Terms{promise.Terms, due.Terms, ext.Terms} {
		if back, ok := DecodeTerms(terms.Encode()); !ok || !reflect.DeepEqual(back, terms) {
			t.Errorf("stored %s, read back %+v %v", terms.Encode(), back, ok)
		}
	}
	// Records from before Terms hold Basis; they are not mistaken for Terms.
	for _, old := range []string{"30 calendar days (rightsdesk default)", "", "{not json"} {
		if _, ok := DecodeTerms(old); ok {
			t.Errorf("DecodeTerms(%q) took it for Terms", old)
		}
	}
}
