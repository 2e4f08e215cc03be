package deadline

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

func genDate() *rapid.Generator[Date] {
	return rapid.Custom(func(t *rapid.T) Date {
		return NewDate(2020, 1, 1).AddDays(rapid.IntRange(0, 16*366).Draw(t, "days"))
	})
}

func genCalendar() *rapid.Generator[Calendar] {
	return rapid.SampledFrom([]Calendar{Kazakhstan(), Weekdays{}})
}

func TestPropertyDueIsNeverBeforeReceipt(t *testing.T) {
	loc := almaty(t)
	rapid.Check(t, func(t *rapid.T) {
		preset := rapid.SampledFrom(PresetNames()).Draw(t, "preset")
		var opts []Option
		if rapid.Bool().Draw(t, "promise") {
			opts = append(opts, WithPromise(Period{
				Value: rapid.IntRange(1, 60).Draw(t, "promise value"),
				Unit:  rapid.SampledFrom(Units()).Draw(t, "promise unit"),
			}))
		}
		p, err := NewPolicy(preset, loc, opts...)
		if err != nil {
			t.Fatal(err)
		}
		received := time.Date(2020, 1, 1, 0, 0, 0, 0, loc).Add(
			time.Duration(rapid.Int64Range(0, int64(15*365*24*time.Hour)).Draw(t, "offset")))
		in := Input{
			Type:               rapid.SampledFrom(RequestTypes()).Draw(t, "type"),
			ReceivedAt:         received,
			ConfirmedAt:        received.Add(time.Duration(rapid.IntRange(0, 72).Draw(t, "confirm h")) * time.Hour),
			GroundsConfirmedAt: received.Add(time.Duration(rapid.IntRange(0, 240).Draw(t, "grounds h")) * time.Hour),
		}
		r, err := p.Due(in)
		if err != nil {
			t.Fatal(err)
		}
		if !r.DueAt.After(in.ReceivedAt) {
			t.Fatalf("due %s not after receipt %s (%s)", r.DueAt, in.ReceivedAt, r.Rule)
		}
		if r.DueAt.Nanosecond() != 0 || r.DueAt.In(loc).Format("15:04:05") != "23:59:59" {
			t.Fatalf("due %s is not the end of a day", r.DueAt)
		}
		if a, err := p.ActionDue(in); err == nil && !a.DueAt.After(in.GroundsConfirmedAt) {
			t.Fatalf("second clock %s not after grounds %s", a.DueAt, in.GroundsConfirmedAt)
		}
		if e, err := p.Extend(in, r, in.ReceivedAt, "reason"); err == nil && !e.DueAt.After(r.DueAt) {
			t.Fatalf("extension %s not after %s", e.DueAt, r.DueAt)
		}
	})
}

func TestPropertyWorkingDayResultsAreWorkingDays(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cal := genCalendar().Draw(t, "cal")
		d := genDate().Draw(t, "from")
		n := rapid.IntRange(1, 400).Draw(t, "n")
		got, err := AddWorkingDays(cal, d, n)
		if err != nil {
			t.Fatal(err)
		}
		if !cal.IsWorkingDay(got) || !got.After(d) {
			t.Fatalf("%s + %d working days = %s", d, n, got)
		}
		p, err := NewPolicy("gdpr", time.UTC, WithCalendar(cal))
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.add(d, Period{rapid.IntRange(1, 24).Draw(t, "months"), Months})
		if err != nil || !cal.IsWorkingDay(m) {
			t.Fatalf("month end %s is not a working day (%v)", m, err)
		}
	})
}

func TestPropertyWorkingDaysAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cal := genCalendar().Draw(t, "cal")
		d := genDate().Draw(t, "from")
		n := rapid.IntRange(0, 200).Draw(t, "n")
		m := rapid.IntRange(0, 200).Draw(t, "m")
		a, err := AddWorkingDays(cal, d, n)
		if err != nil {
			t.Fatal(err)
		}
		ab, err := AddWorkingDays(cal, a, m)
		if err != nil {
			t.Fatal(err)
		}
		both, err := AddWorkingDays(cal, d, n+m)
		if err != nil {
			t.Fatal(err)
		}
		if ab != both {
			t.Fatalf("(%s + %d) + %d = %s, but %s + %d = %s", d, n, m, ab, d, n+m, both)
		}
	})
}
