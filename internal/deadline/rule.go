package deadline

import (
	"fmt"
	"strings"
)

// Unit is the unit a Period is counted in.
type Unit string

// Units of a Period.
const (
	// CalendarDays counts every day; the due day is never moved.
	CalendarDays Unit = "calendar_days"
	// WorkingDays counts only the calendar's working days, starting the
	// day after the clock starts.
	WorkingDays Unit = "working_days"
	// Months counts per Reg. (EEC, Euratom) 1182/71 art. 3: the same date
	// in the later month, clamped to its last day, then moved to the next
	// working day.
	Months Unit = "months"
)

// Units returns the valid units.
func Units() []Unit { return []Unit{CalendarDays, WorkingDays, Months} }

// maxPeriod bounds a period so that a bad policy file cannot make the
// working-day counter run for ever; no privacy law gives ten years.
func maxPeriod(u Unit) (int, bool) {
	switch u {
	case CalendarDays:
		return 3660, true
	case WorkingDays:
		return 2600, true
	case Months:
		return 120, true
	}
	return 0, false
}

// Period is a length of time in one unit.
type Period struct {
	Value int
	Unit  Unit
}

// Validate reports whether p has a known unit and a value within bounds.
func (p Period) Validate() error {
	limit, ok := maxPeriod(p.Unit)
	if !ok {
		return fmt.Errorf("unit %q: want one of %s", p.Unit, joinUnits())
	}
	if p.Value < 1 || p.Value > limit {
		return fmt.Errorf("value %d: want 1 to %d %s", p.Value, limit, p.Unit)
	}
	return nil
}

// String describes p for staff, e.g. "15 working days" or "1 month".
func (p Period) String() string {
	switch p.Unit {
	case CalendarDays:
		return plural(p.Value, "calendar day", "calendar days")
	case WorkingDays:
		return plural(p.Value, "working day", "working days")
	case Months:
		return plural(p.Value, "month", "months")
	}
	return fmt.Sprintf("%d %s", p.Value, p.Unit)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func joinUnits() string {
	var s []string
	for _, u := range Units() {
		s = append(s, string(u))
	}
	return strings.Join(s, ", ")
}

// Start is the event that starts a rule's clock.
type Start string

// Clock starts.
const (
	// StartReceipt starts the clock when the request is received.
	StartReceipt Start = "receipt"
	// StartConfirmation starts the clock when the requester confirms it.
	StartConfirmation Start = "confirmation"
	// StartGroundsConfirmed starts the clock when staff confirm the grounds
	// for acting on the data (the kz second clock).
	StartGroundsConfirmed Start = "grounds_confirmed"
)

// Extension says how a rule's deadline may be extended.
type Extension struct {
	Period Period
	// MaxUses is how many times the deadline may be extended; 0 means 1.
	MaxUses  int
	LegalRef string
}

func (e Extension) maxUses() int {
	if e.MaxUses <= 0 {
		return 1
	}
	return e.MaxUses
}

// Rule is one deadline rule: a period counted from a starting event.
type Rule struct {
	// ID is stable and stored with each request, e.g. "kz.consent_withdrawal".
	ID       string
	Period   Period
	Start    Start // empty means StartReceipt
	LegalRef string
	// Extension is nil when the deadline cannot be extended.
	Extension *Extension
}

func (r Rule) start() Start {
	if r.Start == "" {
		return StartReceipt
	}
	return r.Start
}

// Validate checks the rule's period, start and extension.
func (r Rule) Validate() error {
	if err := r.Period.Validate(); err != nil {
		return fmt.Errorf("period: %w", err)
	}
	switch r.start() {
	case StartReceipt, StartConfirmation, StartGroundsConfirmed:
	default:
		return fmt.Errorf("start %q: want %s, %s or %s", r.Start, StartReceipt, StartConfirmation, StartGroundsConfirmed)
	}
	if r.Extension != nil {
		if err := r.Extension.Period.Validate(); err != nil {
			return fmt.Errorf("extension: %w", err)
		}
		if r.Extension.MaxUses < 0 || r.Extension.MaxUses > 10 {
			return fmt.Errorf("extension: max_uses %d: want 1 to 10", r.Extension.MaxUses)
		}
	}
	return nil
}
