package deadline

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Almaty even where the system has no zone files
)

func almaty(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at is a local Almaty time: "2026-01-31 10:00".
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, almaty(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// endOf is 23:59:59 Almaty on the day "2026-03-02".
func endOf(t testing.TB, day string) time.Time {
	t.Helper()
	d, err := ParseDate(day)
	if err != nil {
		t.Fatal(err)
	}
	return d.EndOfDay(almaty(t))
}

func policy(t testing.TB, preset string, opts ...Option) *Policy {
	t.Helper()
	p, err := NewPolicy(preset, almaty(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDue(t *testing.T) {
	promise30 := WithPromise(Period{30, CalendarDays})
	tests := []struct {
		name     string
		preset   string
		opts     []Option
		typ      string
		received string
		want     string // due day
		rule     string
	}{
		{"default is 30 calendar days", "default", nil, TypeAccess, "2026-01-31 10:00", "2026-03-02", "default.calendar_30d"},
		{"default does not move off a weekend", "default", nil, TypeErasure, "2026-02-07 10:00", "2026-03-09", "default.calendar_30d"},
		{"request at 23:59 counts from that day", "default", nil, TypeAccess, "2026-03-05 23:59", "2026-04-04", "default.calendar_30d"},
		{"request at 00:01 counts from the next day", "default", nil, TypeAccess, "2026-03-06 00:01", "2026-04-05", "default.calendar_30d"},

		// GDPR art. 12(3) with Reg. 1182/71 art. 3.
		{"31 January + 1 month is the end of February, moved off Saturday", "gdpr", nil, TypeAccess, "2026-01-31 09:00", "2026-03-02", "gdpr.one_month"},
		{"31 January + 1 month in a leap year is 29 February", "gdpr", nil, TypeAccess, "2028-01-31 09:00", "2028-02-29", "gdpr.one_month"},
		{"a month ending on a Saturday moves to Monday", "gdpr", nil, TypeErasure, "2026-04-16 09:00", "2026-05-18", "gdpr.one_month"},
		{"a month ending on Victory Day moves past its moved day off", "gdpr", nil, TypeErasure, "2026-04-09 09:00", "2026-05-12", "gdpr.one_month"},
		{"a month ending in Nauryz moves past it", "gdpr", nil, TypeAccess, "2026-02-21 09:00", "2026-03-26", "gdpr.one_month"},
		{"a month on a working day stays", "gdpr", nil, TypeAccess, "2026-04-15 09:00", "2026-05-15", "gdpr.one_month"},

		// Law 94-V, Kazakhstan calendar.
		{"15 working days across Nauryz", "kz", nil, TypeConsentWithdrawal, "2026-03-20 12:00", "2026-04-15", "kz.consent_withdrawal"},
		{"3 working days across Victory Day moved off Saturday", "kz", nil, TypeObjection, "2026-05-07 12:00", "2026-05-13", "kz.objection_automated"},
		{"3 working days across 8 March moved off Sunday", "kz", nil, TypeObjection, "2026-03-06 12:00", "2026-03-12", "kz.objection_automated"},
		{"7 January on a Sunday gives no day off", "kz", nil, TypeObjection, "2024-01-05 12:00", "2024-01-10", "kz.objection_automated"},
		{"Kurban Ait on a Sunday gives no day off", "kz", nil, TypeObjection, "2024-06-14 12:00", "2024-06-19", "kz.objection_automated"},
		{"Kurban Ait on a weekday is a day off", "kz", nil, TypeObjection, "2026-05-26 12:00", "2026-06-01", "kz.objection_automated"},
		{"working days at 23:59 count from that day", "kz", nil, TypeObjection, "2026-03-19 23:59", "2026-03-27", "kz.objection_automated"},
		{"working days at 00:01 count from the next day", "kz", nil, TypeObjection, "2026-03-20 00:01", "2026-03-30", "kz.objection_automated"},
		{"kz access has no number in the law: the default without a promise", "kz", nil, TypeAccess, "2026-01-31 10:00", "2026-03-02", "default.calendar_30d"},
		{"kz access follows the operator's promise", "kz", []Option{WithPromise(Period{30, WorkingDays})}, TypeAccess, "2026-03-02 10:00", "2026-04-17", "operator.promise"},

		// Earlier of the law and the promise.
		{"promise earlier than one month wins", "gdpr", []Option{promise30}, TypeAccess, "2026-03-10 10:00", "2026-04-09", "operator.promise"},
		{"one month earlier than the promise wins", "gdpr", []Option{promise30}, TypeAccess, "2026-02-01 10:00", "2026-03-02", "gdpr.one_month"},
		{"15 working days earlier than a 30-day promise", "kz", []Option{promise30}, TypeConsentWithdrawal, "2026-03-20 12:00", "2026-04-15", "kz.consent_withdrawal"},
		{"a 10 working day promise beats 15 working days", "kz", []Option{WithPromise(Period{10, WorkingDays})}, TypeConsentWithdrawal, "2026-03-20 12:00", "2026-04-08", "operator.promise"},

		{"ccpa is 45 calendar days", "ccpa", nil, TypeAccess, "2026-01-10 10:00", "2026-02-24", "ccpa.45_days"},
		{"lgpd is 15 days", "lgpd", nil, TypeAccess, "2026-01-10 10:00", "2026-01-25", "lgpd.15_days"},
		{"ru152 is 10 working days", "ru152", []Option{WithCalendar(Weekdays{})}, TypeAccess, "2026-01-09 10:00", "2026-01-23", "ru152.10_working_days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy(t, tt.preset, tt.opts...)
			got, err := p.Due(Input{Type: tt.typ, ReceivedAt: at(t, tt.received)})
			if err != nil {
				t.Fatal(err)
			}
			if want := endOf(t, tt.want); !got.DueAt.Equal(want) {
				t.Errorf("DueAt = %s, want %s (%+v)", got.DueAt, want, got.Terms)
			}
			if got.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q (%+v)", got.Rule, tt.rule, got.Terms)
			}
		})
	}
}

func TestDueAtIsLastSecondOfLocalDay(t *testing.T) {
	p := policy(t, "default")
	// 18:59 UTC is 23:59 in Almaty (UTC+5): still 5 March there.
	got, err := p.Due(Input{Type: TypeAccess, ReceivedAt: time.Date(2026, 3, 5, 18, 59, 30, 500, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "2026-04-04T23:59:59+05:00"; got.DueAt.Format(time.RFC3339Nano) != want {
		t.Errorf("DueAt = %s, want %s", got.DueAt.Format(time.RFC3339Nano), want)
	}
	if got.DueAt.Location() != almaty(t) && got.DueAt.Location().String() != "Asia/Almaty" {
		t.Errorf("DueAt in %s, want Asia/Almaty", got.DueAt.Location())
	}
}

func TestDueReportsLegalReference(t *testing.T) {
	got, err := policy(t, "kz").Due(Input{Type: TypeConsentWithdrawal, ReceivedAt: at(t, "2026-03-20 12:00")})
	if err != nil {
		t.Fatal(err)
	}
	if got.LegalRef != "Law of RK No. 94-V, art. 8(7)" {
		t.Errorf("LegalRef = %q", got.LegalRef)
	}
	if want := (Terms{Period: Period{15, WorkingDays}, RuleSet: "kz", Calendar: "kz"}); !reflect.DeepEqual(got.Terms, want) {
		t.Errorf("Terms = %+v, want 15 working days in the Kazakhstan calendar", got.Terms)
	}
}

func TestPromiseThatWinsHasNoLegalReference(t *testing.T) {
	p := policy(t, "gdpr", WithPromise(Period{30, CalendarDays}))
	got, err := p.Due(Input{Type: TypeAccess, ReceivedAt: at(t, "2026-03-10 10:00")})
	if err != nil {
		t.Fatal(err)
	}
	if got.LegalRef != "" {
		t.Errorf("LegalRef = %q, want none for the promise", got.LegalRef)
	}
	if beat := got.Terms.EarlierThan; beat == nil || beat.Period != (Period{1, Months}) {
		t.Errorf("Terms = %+v, want them to name the rule it beat (1 month)", got.Terms)
	}
}

func TestUnknownPresetListsValidNames(t *testing.T) {
	_, err := NewPolicy("gdpr2", almaty(t))
	if !errors.Is(err, ErrUnknownPreset) {
		t.Fatalf("err = %v, want ErrUnknownPreset", err)
	}
	for _, n := range PresetNames() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %s", err, n)
		}
	}
}

func TestInvalidInputIsRefused(t *testing.T) {
	p := policy(t, "default")
	recv := at(t, "2026-03-05 10:00")
	tests := []struct {
		name string
		in   Input
		want error
	}{
		{"unknown type", Input{Type: "complaint", ReceivedAt: recv}, ErrUnknownType},
		{"no receipt time", Input{Type: TypeAccess}, ErrInvalidInput},
		{"confirmed before received", Input{Type: TypeAccess, ReceivedAt: recv, ConfirmedAt: recv.Add(-time.Hour)}, ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Due(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClockStartingAtConfirmation(t *testing.T) {
	p := policy(t, "default", WithRule(TypeAccess, Rule{Period: Period{30, CalendarDays}, Start: StartConfirmation}))
	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-03-05 10:00")}
	if _, err := p.Due(in); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("unconfirmed: err = %v, want ErrNotStarted", err)
	}
	in.ConfirmedAt = at(t, "2026-03-07 08:00")
	got, err := p.Due(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := endOf(t, "2026-04-06"); !got.DueAt.Equal(want) {
		t.Errorf("DueAt = %s, want %s", got.DueAt, want)
	}
	if got.Terms.Start != StartConfirmation {
		t.Errorf("Terms = %+v, want them counted from confirmation", got.Terms)
	}
}

func TestSecondClockStartsWhenStaffConfirmGrounds(t *testing.T) {
	p := policy(t, "kz")
	in := Input{Type: TypeErasure, ReceivedAt: at(t, "2026-05-04 10:00")}
	if _, err := p.ActionDue(in); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before grounds: err = %v, want ErrNotStarted", err)
	}
	// Friday 8 May: Saturday is Victory Day, its day off is Monday 11 May.
	in.GroundsConfirmedAt = at(t, "2026-05-08 15:00")
	got, err := p.ActionDue(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := endOf(t, "2026-05-12"); !got.DueAt.Equal(want) {
		t.Errorf("DueAt = %s, want %s", got.DueAt, want)
	}
	if got.Rule != "kz.destroy_data" || got.LegalRef != "Law of RK No. 94-V, art. 25(2)(8)" {
		t.Errorf("Rule, LegalRef = %q, %q", got.Rule, got.LegalRef)
	}
	for typ, rule := range map[string]string{TypeRectification: "kz.change_data", TypeRestriction: "kz.block_data"} {
		in.Type = typ
		if got, err := p.ActionDue(in); err != nil || got.Rule != rule {
			t.Errorf("%s: Rule = %q, err = %v, want %s", typ, got.Rule, err, rule)
		}
	}
	in.Type = TypeAccess
	if _, err := p.ActionDue(in); !errors.Is(err, ErrNoRule) {
		t.Errorf("access: err = %v, want ErrNoRule", err)
	}
}

func TestCCPAAcknowledgementIsTenBusinessDays(t *testing.T) {
	p := policy(t, "ccpa", WithCalendar(Weekdays{}))
	got, err := p.AcknowledgementDue(Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-02 10:00")})
	if err != nil {
		t.Fatal(err)
	}
	if want := endOf(t, "2026-01-16"); !got.DueAt.Equal(want) || got.Rule != "ccpa.acknowledgement" {
		t.Errorf("got %s %s, want %s", got.DueAt, got.Rule, want)
	}
	if _, err := policy(t, "gdpr").AcknowledgementDue(Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-02 10:00")}); !errors.Is(err, ErrNoRule) {
		t.Errorf("gdpr: err = %v, want ErrNoRule", err)
	}
}

func TestEveryPresetHasLegalReferencesAndACounselNote(t *testing.T) {
	for _, name := range PresetNames() {
		pr, err := LookupPreset(name)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Note == "" || pr.Title == "" {
			t.Errorf("%s: no title or note", name)
		}
		if name != "default" && !strings.Contains(pr.Note, "counsel") {
			t.Errorf("%s: note does not say to check with counsel", name)
		}
		for typ, r := range pr.Rules {
			if err := r.Validate(); err != nil {
				t.Errorf("%s %s: %v", name, typ, err)
			}
			if name != "default" && r.LegalRef == "" {
				t.Errorf("%s %s: no legal reference", name, typ)
			}
		}
	}
}
