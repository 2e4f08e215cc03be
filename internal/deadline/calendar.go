package deadline

import (
	"fmt"
	"time"
)

// Calendar says which days are working days.
type Calendar interface {
	IsWorkingDay(d Date) bool
}

// Weekdays is a calendar whose working days are Monday to Friday, with no
// public holidays.
type Weekdays struct{}

// IsWorkingDay reports whether d is a Monday to Friday.
func (Weekdays) IsWorkingDay(d Date) bool {
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// String names the calendar for staff.
func (Weekdays) String() string { return "Monday to Friday" }

// searchLimit is how far the working-day counter looks for the next working
// day before deciding the calendar has none (a corrupt data file).
const searchLimit = 3660

// NextWorkingDay returns d itself when it is a working day, otherwise the
// first working day after it.
func NextWorkingDay(cal Calendar, d Date) (Date, error) {
	for i := 0; i < searchLimit; i++ {
		if cal.IsWorkingDay(d) {
			return d, nil
		}
		d = d.AddDays(1)
	}
	return Date{}, fmt.Errorf("after %s: %w", d, ErrNoWorkingDay)
}

// AddWorkingDays returns the n-th working day after d. The day d itself is
// never counted, so a request received on a Friday with n = 1 is due on
// the following Monday; n = 0 returns d unchanged.
func AddWorkingDays(cal Calendar, d Date, n int) (Date, error) {
	for ; n > 0; n-- {
		next, err := NextWorkingDay(cal, d.AddDays(1))
		if err != nil {
			return Date{}, err
		}
		d = next
	}
	return d, nil
}

// calendarName names cal for staff, when it can name itself.
func calendarName(cal Calendar) string {
	if s, ok := cal.(fmt.Stringer); ok {
		return s.String()
	}
	return "custom"
}
