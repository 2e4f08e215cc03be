package deadline

import (
	"errors"
	"testing"
	"time"
)

func TestExtension(t *testing.T) {
	tests := []struct {
		name, preset, received, due, extended, rule string
	}{
		// GDPR art. 12(3): three months from receipt in all.
		{"gdpr one month + two", "gdpr", "2026-01-31 09:00", "2026-03-02", "2026-04-30", "gdpr.one_month.extended"},
		{"ccpa 45 + 45 days", "ccpa", "2026-01-10 09:00", "2026-02-24", "2026-04-10", "ccpa.45_days.extended"},
		// 10 working days from Friday 9 January, then 5 more.
		{"ru152 10 + 5 working days", "ru152", "2026-01-09 09:00", "2026-01-23", "2026-01-30", "ru152.10_working_days.extended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy(t, tt.preset, WithCalendar(Weekdays{}))
			in := Input{Type: TypeAccess, ReceivedAt: at(t, tt.received)}
			cur, err := p.Due(in)
			if err != nil {
				t.Fatal(err)
			}
			if want := endOf(t, tt.due); !cur.DueAt.Equal(want) {
				t.Fatalf("DueAt = %s, want %s", cur.DueAt, want)
			}
			got, err := p.Extend(in, cur, in.ReceivedAt.AddDate(0, 0, 5), "many records to collect")
			if err != nil {
				t.Fatal(err)
			}
			if want := endOf(t, tt.extended); !got.DueAt.Equal(want) || got.Rule != tt.rule || got.Extensions != 1 {
				t.Errorf("got %s %q %d, want %s %q 1", got.DueAt, got.Rule, got.Extensions, want, tt.rule)
			}
			if got.LegalRef == "" {
				t.Error("no legal reference")
			}
			if _, err := p.Extend(in, got, in.ReceivedAt, "again"); !errors.Is(err, ErrExtensionLimit) {
				t.Errorf("second extension: err = %v, want ErrExtensionLimit", err)
			}
		})
	}
}

func TestExtensionAfterDeadlineIsRefused(t *testing.T) {
	p := policy(t, "gdpr")
	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-31 09:00")}
	cur, err := p.Due(in) // 2026-03-02 23:59:59
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Extend(in, cur, at(t, "2026-03-03 00:00"), "too late"); !errors.Is(err, ErrExtensionAfterDeadline) {
		t.Errorf("after: err = %v, want ErrExtensionAfterDeadline", err)
	}
	if _, err := p.Extend(in, cur, cur.DueAt, "last second"); err != nil {
		t.Errorf("at the last second: %v", err)
	}
}

func TestExtensionNeedsAReason(t *testing.T) {
	p := policy(t, "gdpr")
	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-31 09:00")}
	cur, _ := p.Due(in)
	if _, err := p.Extend(in, cur, in.ReceivedAt, "  "); !errors.Is(err, ErrExtensionReasonRequired) {
		t.Errorf("err = %v, want ErrExtensionReasonRequired", err)
	}
}

// The date a page offers before staff write their reason is the date the
// extension then gives, and it is refused for the same reasons.
func TestAnExtensionOfferedIsTheOneGranted(t *testing.T) {
	for _, preset := range []string{"default", "gdpr", "ru152"} {
		p := policy(t, preset)
		in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-31 09:00")}
		cur, _ := p.Due(in)
		offered, err := p.Extension(in, cur, in.ReceivedAt)
		granted, gerr := p.Extend(in, cur, in.ReceivedAt, "many records")
		if err != nil || gerr != nil || !offered.DueAt.Equal(granted.DueAt) || offered.Rule != granted.Rule {
			t.Errorf("%s: offered %v (%v), granted %v (%v)", preset, offered.DueAt, err, granted.DueAt, gerr)
		}
		if _, err := p.Extension(in, granted, in.ReceivedAt); !errors.Is(err, ErrExtensionLimit) {
			t.Errorf("%s: a second extension offered: %v", preset, err)
		}
		if _, err := p.Extension(in, cur, cur.DueAt.Add(time.Second)); !errors.Is(err, ErrExtensionAfterDeadline) {
			t.Errorf("%s: an extension offered after the deadline: %v", preset, err)
		}
	}
}

func TestDefaultPresetAllowsOneThirtyDayExtension(t *testing.T) {
	p := policy(t, "default")
	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-31 09:00")}
	cur, _ := p.Due(in)
	ext, err := p.Extend(in, cur, in.ReceivedAt, "busy")
	if err != nil {
		t.Fatal(err)
	}
	// 31 January + 30 days = 2 March; + 30 more = 1 April.
	if got := ext.DueAt.Format("2006-01-02 15:04:05"); got != "2026-04-01 23:59:59" {
		t.Errorf("extended to %s, want 2026-04-01 23:59:59", got)
	}
	if _, err := p.Extend(in, ext, in.ReceivedAt, "busy again"); !errors.Is(err, ErrExtensionLimit) {
		t.Errorf("second extension: err = %v, want ErrExtensionLimit", err)
	}
}

func TestExtensionReplacesAnEarlierPromise(t *testing.T) {
	p := policy(t, "gdpr", WithPromise(Period{30, CalendarDays}))
	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-03-10 09:00")}
	cur, _ := p.Due(in) // the promise: 2026-04-09
	got, err := p.Extend(in, cur, in.ReceivedAt, "complex")
	if err != nil {
		t.Fatal(err)
	}
	// Three months from 10 March: 10 June 2026, a Wednesday.
	if want := endOf(t, "2026-06-10"); !got.DueAt.Equal(want) || got.Rule != "gdpr.one_month.extended" {
		t.Errorf("got %s %s, want %s", got.DueAt, got.Rule, want)
	}
}

func TestResumeShiftsByWholePausedDays(t *testing.T) {
	p := policy(t, "gdpr")
	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-31 09:00")}
	cur, _ := p.Due(in) // 2026-03-02
	got, err := p.Resume(cur, at(t, "2026-02-10 15:00"), at(t, "2026-02-13 09:00"))
	if err != nil {
		t.Fatal(err)
	}
	if want := endOf(t, "2026-03-05"); !got.DueAt.Equal(want) || got.Rule != cur.Rule {
		t.Errorf("got %s %s, want %s", got.DueAt, got.Rule, want)
	}
	same, _ := p.Resume(cur, at(t, "2026-02-10 09:00"), at(t, "2026-02-10 18:00"))
	if !same.DueAt.Equal(cur.DueAt) {
		t.Errorf("same-day pause moved the date to %s", same.DueAt)
	}
	if _, err := p.Resume(cur, at(t, "2026-02-10 09:00"), at(t, "2026-02-09 09:00")); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("resume before pause: err = %v", err)
	}
	// An extension after the pause keeps the paused days.
	ext, err := p.Extend(in, got, at(t, "2026-02-20 09:00"), "complex")
	if err != nil {
		t.Fatal(err)
	}
	if want := endOf(t, "2026-05-03"); !ext.DueAt.Equal(want) {
		t.Errorf("extended after pause: %s, want %s", ext.DueAt, want)
	}
}
