package reminder

import (
	"slices"
	"testing"
	"time"

	"rightsdesk/internal/deadline"
)

func almaty(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestThresholdsAreReachedDayByDay(t *testing.T) {
	loc := almaty(t)
	p := Policy{Thresholds: []int{7, 3, 1}, Location: loc}
	due := deadline.NewDate(2026, 3, 20).EndOfDay(loc)
	cases := []struct {
		now  time.Time
		key  string // "" = nothing owed
		left int
	}{
		{time.Date(2026, 3, 12, 12, 0, 0, 0, loc), "", 8},
		{time.Date(2026, 3, 13, 0, 0, 0, 0, loc), "7d", 7},
		{time.Date(2026, 3, 16, 9, 0, 0, 0, loc), "7d", 4},
		{time.Date(2026, 3, 17, 9, 0, 0, 0, loc), "3d", 3},
		{time.Date(2026, 3, 19, 9, 0, 0, 0, loc), "1d", 1},
		{time.Date(2026, 3, 20, 23, 59, 59, 0, loc), "1d", 0}, // the due day itself
		{time.Date(2026, 3, 21, 0, 0, 0, 0, loc), "overdue:2026-03-21", -1},
		{time.Date(2026, 3, 23, 15, 0, 0, 0, loc), "overdue:2026-03-23", -3},
	}
	for _, c := range cases {
		r, ok := p.Due(due, c.now, nil)
		if got := map[bool]string{true: r.Key}[ok]; got != c.key {
			t.Errorf("at %s: key %q, want %q", c.now, got, c.key)
		}
		if ok && r.DaysLeft != c.left {
			t.Errorf("at %s: %d days left, want %d", c.now, r.DaysLeft, c.left)
		}
	}
}

func TestDaysAreCountedInTheOperatorsTimeZone(t *testing.T) {
	loc := almaty(t) // UTC+5: Almaty's midnight is 19:00 UTC the day before
	p := Policy{Thresholds: []int{7, 3, 1}, Location: loc}
	due := deadline.NewDate(2026, 3, 10).EndOfDay(loc)
	cases := []struct {
		name string
		now  time.Time
		key  string
		left int
	}{
		{"23:59 four days before", time.Date(2026, 3, 6, 23, 59, 0, 0, loc), "7d", 4},
		{"00:01 three days before", time.Date(2026, 3, 7, 0, 1, 0, 0, loc), "3d", 3},
		// The same instants as the server in UTC sees them: still Almaty's days.
		{"00:01 Almaty seen in UTC", time.Date(2026, 3, 6, 19, 1, 0, 0, time.UTC), "3d", 3},
		{"23:59 on the due day", time.Date(2026, 3, 10, 23, 59, 0, 0, loc), "1d", 0},
		{"00:01 the day after", time.Date(2026, 3, 11, 0, 1, 0, 0, loc), "overdue:2026-03-11", -1},
		{"00:01 the day after, in UTC", time.Date(2026, 3, 10, 19, 1, 0, 0, time.UTC), "overdue:2026-03-11", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok := p.Due(due, c.now, nil)
			if !ok || r.Key != c.key || r.DaysLeft != c.left {
				t.Fatalf("got %+v (ok %v), want key %q with %d days left", r, ok, c.key, c.left)
			}
		})
	}
	// A due instant stored in UTC belongs to Almaty's day, not UTC's.
	r, _ := p.Due(time.Date(2026, 3, 10, 18, 59, 59, 0, time.UTC), time.Date(2026, 3, 7, 12, 0, 0, 0, loc), nil)
	if r.DueDate != deadline.NewDate(2026, 3, 10) {
		t.Errorf("due day %s, want 2026-03-10", r.DueDate)
	}
}

func TestOverdueIsRemindedOnceADay(t *testing.T) {
	loc := almaty(t)
	p := Policy{Thresholds: []int{7, 3, 1}, Location: loc}
	due := deadline.NewDate(2026, 3, 4).EndOfDay(loc)
	ledger := map[string]bool{}
	done := func(k string) bool { return ledger[k] }
	sweep := func(now time.Time) string {
		r, ok := p.Due(due, now, done)
		if !ok {
			return ""
		}
		for _, k := range r.Keys() {
			ledger[k] = true
		}
		return r.Key
	}
	if got := sweep(time.Date(2026, 3, 5, 8, 0, 0, 0, loc)); got != "overdue:2026-03-05" {
		t.Fatalf("first overdue sweep: %q", got)
	}
	for _, hour := range []int{9, 13, 23} {
		if got := sweep(time.Date(2026, 3, 5, hour, 0, 0, 0, loc)); got != "" {
			t.Errorf("same day at %d:00 reminded again: %q", hour, got)
		}
	}
	if got := sweep(time.Date(2026, 3, 6, 0, 30, 0, 0, loc)); got != "overdue:2026-03-06" {
		t.Errorf("next day: %q, want overdue:2026-03-06", got)
	}
	r, _ := p.Due(due, time.Date(2026, 3, 6, 0, 30, 0, 0, loc), nil)
	if r.DaysOverdue() != 2 || !r.Overdue() {
		t.Errorf("days overdue %d, want 2", r.DaysOverdue())
	}
	if p.TodayKey(time.Date(2026, 3, 5, 19, 30, 0, 0, time.UTC)) != "overdue:2026-03-06" {
		t.Error("TodayKey must use the operator's day")
	}
}

func TestAJumpRemindsTheMostUrgentThresholdOnly(t *testing.T) {
	loc := almaty(t)
	p := Policy{Thresholds: []int{1, 7, 3}, Location: loc} // any order
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, loc)
	ledger := map[string]bool{}
	done := func(k string) bool { return ledger[k] }

	// Received two days before its due day: 7 and 3 are both reached.
	r, ok := p.Due(deadline.NewDate(2026, 3, 4).EndOfDay(loc), now, done)
	if !ok || r.Key != "3d" || !slices.Equal(r.Passed, []string{"7d"}) {
		t.Fatalf("got %+v, want 3d with 7d passed", r)
	}
	for _, k := range r.Keys() {
		ledger[k] = true
	}
	// The next day it enters the 1-day threshold; 7d is never sent.
	r, ok = p.Due(deadline.NewDate(2026, 3, 4).EndOfDay(loc), now.AddDate(0, 0, 1), done)
	if !ok || r.Key != "1d" || !slices.Equal(r.Passed, []string{"3d", "7d"}) {
		t.Fatalf("next day: %+v, want 1d", r)
	}
	// Found already overdue: every threshold is passed with the overdue key.
	r, _ = p.Due(deadline.NewDate(2026, 2, 27).EndOfDay(loc), now, nil)
	if r.Key != "overdue:2026-03-02" || !slices.Equal(r.Passed, []string{"1d", "3d", "7d"}) || r.DaysOverdue() != 3 {
		t.Errorf("overdue: %+v", r)
	}
}

func TestHorizonCoversTheLargestThreshold(t *testing.T) {
	loc := almaty(t)
	p := Policy{Thresholds: []int{3, 7, 1}, Location: loc}
	now := time.Date(2026, 3, 2, 23, 30, 0, 0, loc)
	want := time.Date(2026, 3, 9, 23, 59, 59, 0, loc)
	if got := p.Horizon(now); !got.Equal(want) {
		t.Errorf("Horizon = %s, want %s", got, want)
	}
	if _, ok := p.Due(want, now, nil); !ok {
		t.Error("the horizon itself must be owed a reminder")
	}
	if _, ok := p.Due(want.Add(time.Second), now, nil); ok {
		t.Error("past the horizon nothing is owed")
	}
}

func TestParseThresholds(t *testing.T) {
	cases := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"7,3,1", []int{7, 3, 1}, true},
		{" 1, 3 ,7 ", []int{7, 3, 1}, true},
		{"14d,2d", []int{14, 2}, true},
		{"5", []int{5}, true},
		{"", nil, false},
		{"7,,3", []int{7, 3}, true},
		{"0", nil, false},
		{"-1", nil, false},
		{"366", nil, false},
		{"7,7", nil, false},
		{"seven", nil, false},
		{"1,2,3,4,5,6,7,8,9,10,11", nil, false},
	}
	for _, c := range cases {
		got, err := ParseThresholds(c.in)
		if (err == nil) != c.ok || (c.ok && !slices.Equal(got, c.want)) {
			t.Errorf("ParseThresholds(%q) = %v, %v; want %v (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}
