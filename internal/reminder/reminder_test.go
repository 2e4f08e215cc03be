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
	if OverdueKey(p.Today(time.Date(2026, 3, 5, 19, 30, 0, 0, time.UTC))) != "overdue:2026-03-06" {
		t.Error("the overdue key must be of the operator's day")
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

// The ledger keeps one key per request, its most urgent (Covers). Hour by
// hour over six weeks, for several threshold lists, due dates, a deadline
// extended after reminders were sent and thresholds changed between
// sweeps, it holds back exactly what a ledger of every key sent and passed
// (Keys) held back: each sweep is owed the same reminder under both.
func TestTheMostUrgentKeyHoldsBackWhatEveryKeySentAndPassedDid(t *testing.T) {
	loc := almaty(t)
	start := time.Date(2026, 2, 1, 0, 30, 0, 0, loc)
	for _, c := range []struct {
		name           string
		before, after  []int // thresholds before and after the change
		due, extended  deadline.Date
		change, extend int // the day (from start) of the change and of the extension; -1 never
	}{
		{"7,3,1", []int{7, 3, 1}, nil, deadline.NewDate(2026, 2, 20), deadline.Date{}, -1, -1},
		{"one threshold", []int{5}, nil, deadline.NewDate(2026, 2, 10), deadline.Date{}, -1, -1},
		{"found overdue", []int{7, 3, 1}, nil, deadline.NewDate(2026, 1, 25), deadline.Date{}, -1, -1},
		{"extended while overdue", []int{7, 3, 1}, nil, deadline.NewDate(2026, 2, 10), deadline.NewDate(2026, 3, 5), -1, 12},
		{"extended after 3d", []int{7, 3, 1}, nil, deadline.NewDate(2026, 2, 12), deadline.NewDate(2026, 2, 25), -1, 10},
		{"a threshold added", []int{7, 1}, []int{7, 5, 3, 1}, deadline.NewDate(2026, 2, 20), deadline.Date{}, 15, -1},
		{"a threshold dropped", []int{14, 7, 3, 1}, []int{7, 1}, deadline.NewDate(2026, 2, 20), deadline.Date{}, 8, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys := map[string]bool{} // the ledger before issue 16's fifth round
			latest := ""              // the ledger now
			due := c.due
			sent := 0
			for h := range 42 * 24 {
				now := start.Add(time.Duration(h) * time.Hour)
				day := h / 24
				p := Policy{Thresholds: c.before, Location: loc}
				if c.change >= 0 && day >= c.change {
					p.Thresholds = c.after
				}
				if c.extend >= 0 && day >= c.extend {
					due = c.extended
				}
				old, oldOK := p.Due(due.EndOfDay(loc), now, func(k string) bool { return keys[k] })
				got, ok := p.Due(due.EndOfDay(loc), now, func(k string) bool { return Covers(latest, k) })
				if ok != oldOK || got.Key != old.Key {
					t.Fatalf("at %s: owed %q (%v), the key-per-row ledger owed %q (%v)", now, got.Key, ok, old.Key, oldOK)
				}
				if !ok {
					continue
				}
				sent++
				for _, k := range old.Keys() {
					keys[k] = true
				}
				latest = got.Key
			}
			if sent == 0 {
				t.Fatal("nothing was ever owed: the case tests nothing")
			}
		})
	}
}

func TestUrgencyOrdersThresholdsThenOverdueDays(t *testing.T) {
	order := []string{"365d", "7d", "3d", "1d", "overdue:2026-03-05", "overdue:2026-03-06", "overdue:2027-01-01"}
	prev := 0
	for i, k := range order {
		u, err := Urgency(k)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && u <= prev {
			t.Errorf("%s (%d) is not more urgent than %s (%d)", k, u, order[i-1], prev)
		}
		prev = u
	}
	for _, k := range []string{"", "d", "0d", "366d", "3", "overdue:", "overdue:2026-13-01", "soon"} {
		if _, err := Urgency(k); err == nil {
			t.Errorf("Urgency(%q) accepted", k)
		}
	}
	if Covers("", "7d") || !Covers("3d", "7d") || Covers("7d", "3d") || !Covers("overdue:2026-03-05", "1d") ||
		Covers("overdue:2026-03-05", "overdue:2026-03-06") || !Covers("overdue:2026-03-06", "overdue:2026-03-06") {
		t.Error("Covers disagrees with Urgency")
	}
	// Migration 00090 counts overdue days from the same day.
	if u, _ := Urgency("overdue:1970-01-02"); u != 1 {
		t.Errorf("overdue:1970-01-02 is %d, want 1", u)
	}
}
