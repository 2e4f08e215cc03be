// Package reminder decides which open requests are owed a deadline reminder:
// given the thresholds (days before the due day), the current instant and
// the operator's time zone, it names the ledger key a reminder is recorded
// under. It does no I/O; the store records the keys and the jobs package
// sends the digests.
//
// Days are calendar days in the operator's time zone, and a deadline is met
// by anything done on the due day (see deadline.Date.EndOfDay): a request due
// on 10 March has 3 days left all through 7 March, 0 days left ("due today")
// on 10 March, and is overdue from 00:00 on 11 March.
package reminder

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"rightsdesk/internal/deadline"
)

// OverduePrefix starts the key of an overdue reminder, followed by the local
// date it was sent for: an overdue request is reminded once a day.
const OverduePrefix = "overdue:"

// ThresholdKey is the ledger key of the reminder sent when a request enters
// the threshold of days before its due day ("7d").
func ThresholdKey(days int) string { return strconv.Itoa(days) + "d" }

// OverdueKey is the ledger key of the overdue reminder of day d
// ("overdue:2026-03-05").
func OverdueKey(d deadline.Date) string { return OverduePrefix + d.String() }

// Policy is when reminders are sent.
type Policy struct {
	// Thresholds are days before the due day, e.g. 7, 3 and 1; any order.
	Thresholds []int
	// Location is the operator's time zone, in which days are counted.
	Location *time.Location
}

// Reminder is what a request is owed at an instant.
type Reminder struct {
	// Key is the ledger key this reminder is recorded under: a threshold
	// ("3d") or the overdue day ("overdue:2026-03-05").
	Key string
	// Passed are the less urgent thresholds passed at the same time. The
	// ledger's row for the request, once it holds Key, holds them back too
	// (Covers), so they are never sent later: a request created two days
	// before its due date is reminded once, as "3 days", not "7 days" now and
	// "3 days" an hour later.
	Passed []string
	// DueDate is the due day in the operator's time zone.
	DueDate deadline.Date
	// DaysLeft counts calendar days from today to the due day: 0 on the due
	// day, negative when overdue (-2: two days late).
	DaysLeft int
}

// Overdue reports whether the due day has passed.
func (r Reminder) Overdue() bool { return r.DaysLeft < 0 }

// DaysOverdue is how many days late the request is (0 when it is not).
func (r Reminder) DaysOverdue() int { return max(0, -r.DaysLeft) }

// Keys lists Key and Passed: every key the reminder settles, which the
// ledger's one key per request (Covers) holds back from then on.
func (r Reminder) Keys() []string { return append([]string{r.Key}, r.Passed...) }

// Urgency orders ledger keys, more urgent higher: a threshold of fewer days
// above one of more, any overdue day above every threshold, and a later
// overdue day above an earlier one. A threshold of n days is -n; the overdue
// key of day d counts d's days since 1970-01-01 (always above 0 for a day
// this code can see). Migration 00090 computes the same numbers in SQL.
//
// The ledger keeps one row per request, its most urgent key, and a sweep
// claims a key only while the row's urgency is below it (Covers,
// store.RecordReminders); urgency never falls, so each key is claimed at
// most once, and a threshold passed by a more urgent one never later.
func Urgency(key string) (int, error) {
	if day, ok := strings.CutPrefix(key, OverduePrefix); ok {
		d, err := deadline.ParseDate(day)
		if err != nil {
			return 0, fmt.Errorf("reminder key %q: %w", key, err)
		}
		return epoch.DaysUntil(d), nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(key, "d"))
	if err != nil || !strings.HasSuffix(key, "d") || n < 1 || n > 365 {
		return 0, fmt.Errorf("reminder key %q: want a threshold such as 3d or an overdue day", key)
	}
	return -n, nil
}

var epoch = deadline.NewDate(1970, 1, 1)

// Covers reports whether a ledger holding recorded (its most urgent key, ""
// when it holds none for the request) holds key back: key is no more urgent
// than recorded. It is the rule the ledger applies when it claims
// (store.RecordReminders), for the sweep to leave out what would not be
// claimed. A key that cannot be read is never held back, so a sweep tries it
// and the store reports the error.
func Covers(recorded, key string) bool {
	if recorded == "" {
		return false
	}
	have, err := Urgency(recorded)
	if err != nil {
		return false
	}
	want, err := Urgency(key)
	return err == nil && want <= have
}

// Today is the operator's calendar day at now.
func (p Policy) Today(now time.Time) deadline.Date { return deadline.DateOf(now.In(p.Location)) }

// Horizon is the latest due instant that can be owed a reminder at now: the
// end of the day the largest threshold reaches. Everything due earlier,
// including everything overdue, is a candidate.
func (p Policy) Horizon(now time.Time) time.Time {
	return p.Today(now).AddDays(slices.Max(p.Thresholds)).EndOfDay(p.Location)
}

// Due says which reminder a request due at dueAt is owed at now; done tells
// whether a key is already in the ledger. ok is false when nothing is owed:
// no threshold reached yet, or the most urgent one reached already sent.
func (p Policy) Due(dueAt, now time.Time, done func(key string) bool) (r Reminder, ok bool) {
	today := p.Today(now)
	r.DueDate = deadline.DateOf(dueAt.In(p.Location))
	r.DaysLeft = today.DaysUntil(r.DueDate)
	thresholds := slices.Clone(p.Thresholds)
	slices.Sort(thresholds) // most urgent first
	switch {
	case r.Overdue():
		r.Key = OverdueKey(today)
		for _, t := range thresholds {
			r.Passed = append(r.Passed, ThresholdKey(t))
		}
	default:
		i := slices.IndexFunc(thresholds, func(t int) bool { return r.DaysLeft <= t })
		if i < 0 {
			return Reminder{}, false
		}
		r.Key = ThresholdKey(thresholds[i])
		for _, t := range thresholds[i+1:] {
			r.Passed = append(r.Passed, ThresholdKey(t))
		}
	}
	if done != nil && done(r.Key) {
		return Reminder{}, false
	}
	return r, true
}

// ParseThresholds reads a comma-separated list of days such as "7,3,1":
// whole days from 1 to 365, each once, at most 10 of them.
func ParseThresholds(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(part, "d"))
		if err != nil || n < 1 || n > 365 {
			return nil, fmt.Errorf("want whole days from 1 to 365 such as 7,3,1; got %q", part)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%d is listed twice", n)
		}
		out = append(out, n)
	}
	switch {
	case len(out) == 0:
		return nil, errors.New("want at least one threshold, such as 7,3,1")
	case len(out) > 10:
		return nil, errors.New("at most 10 thresholds")
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}
