package deadline

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed calendars/kz.yaml
var kazakhstanYAML []byte

// KazakhstanData returns the built-in Kazakhstan calendar file, for
// operators who want to copy and update it.
func KazakhstanData() []byte { return bytes.Clone(kazakhstanYAML) }

// kazakhstan parses the embedded file once; the result is immutable.
var kazakhstan = sync.OnceValues(func() (*DataCalendar, error) {
	return parseCalendar(bytes.NewReader(kazakhstanYAML), nil)
})

// Kazakhstan returns the built-in calendar of Kazakhstan: the public
// holidays of the Law "On holidays", weekend holidays moved to the next
// working day (except 7 January and Kurban Ait, which are religious), and
// the government's day swaps per year.
func Kazakhstan() *DataCalendar {
	c, err := kazakhstan()
	if err != nil {
		// The file is embedded and tested; failing here is a build defect.
		panic("deadline: built-in Kazakhstan calendar: " + err.Error())
	}
	return c
}

// DataCalendar is a holiday calendar described by data: weekend days, fixed
// holidays, holidays on dates that change every year, whether a holiday on
// a weekend moves to the next working day, and per-year lists of extra days
// off and worked weekend days. Load one with LoadCalendar. It is immutable
// and safe for concurrent use.
type DataCalendar struct {
	name      string
	code      string
	weekend   [7]bool
	move      bool
	fixed     []holiday // Date.Year unused
	moving    []holiday
	daysOff   map[Date]string
	workedDay map[Date]bool
	// off caches the non-working days of years lo..hi; other years are
	// computed on demand.
	off    map[Date]string
	lo, hi int
}

type holiday struct {
	date Date
	name string
	move bool
}

// String returns the calendar's name, e.g. "Kazakhstan".
func (c *DataCalendar) String() string { return c.name }

// Code returns the calendar's short code, e.g. "kz".
func (c *DataCalendar) Code() string { return c.code }

// IsWorkingDay reports whether d is a working day.
func (c *DataCalendar) IsWorkingDay(d Date) bool {
	_, off := c.DayOff(d)
	return !off
}

// DayOff reports whether d is a day off and why ("Saturday", "Nauryz
// meirami", "Day off for Victory Day", ...).
func (c *DataCalendar) DayOff(d Date) (reason string, off bool) {
	if c.workedDay[d] {
		return "", false
	}
	var r string
	if d.Year >= c.lo && d.Year <= c.hi {
		r, off = c.off[d]
	} else {
		r, off = c.holidaysOf(d.Year)[d]
	}
	if off {
		return r, true
	}
	if r, ok := c.daysOff[d]; ok {
		return r, true
	}
	if c.weekend[d.Weekday()] {
		return d.Weekday().String(), true
	}
	return "", false
}

// holidaysOf returns the holidays falling in year y and the days off they
// give when they fall on a weekend. Data swaps are not included: they
// override this (a government day off is not a day a holiday moves past).
func (c *DataCalendar) holidaysOf(y int) map[Date]string {
	off := make(map[Date]string)
	var all []holiday
	// The previous year is included because a late-December holiday on a
	// weekend can move into January.
	for _, yy := range []int{y - 1, y} {
		for _, h := range c.fixed {
			d := NewDate(yy, h.date.Month, h.date.Day)
			if d.Day != h.date.Day { // 29 February in a common year
				continue
			}
			all = append(all, holiday{date: d, name: h.name, move: h.move})
		}
		for _, h := range c.moving {
			if h.date.Year == yy {
				all = append(all, h)
			}
		}
	}
	slices.SortStableFunc(all, func(a, b holiday) int { return a.date.Compare(b.date) })
	for _, h := range all {
		if _, seen := off[h.date]; !seen {
			off[h.date] = h.name
		}
	}
	if c.move {
		for _, h := range all {
			if !h.move || !c.weekend[h.date.Weekday()] {
				continue
			}
			d := h.date.AddDays(1)
			for i := 0; i < 370 && (c.weekend[d.Weekday()] || hasDay(off, d)); i++ {
				d = d.AddDays(1)
			}
			off[d] = "Day off for " + h.name
		}
	}
	for d := range off {
		if d.Year != y {
			delete(off, d)
		}
	}
	return off
}

func hasDay(m map[Date]string, d Date) bool { _, ok := m[d]; return ok }

// LoadCalendar reads a calendar in the YAML format of the built-in
// Kazakhstan calendar (KazakhstanData):
//
//	name: Kazakhstan
//	code: kz
//	weekend: [saturday, sunday]
//	move_weekend_holidays: true     # a holiday on a weekend gives the next working day off
//	fixed:                          # every year, MM-DD
//	  - {date: "01-07", name: "Orthodox Christmas", move: false}
//	moving:                         # holidays whose date changes every year
//	  - {name: "Kurban Ait", move: false, dates: [2026-05-27]}
//	years:                          # government swaps
//	  2026: {days_off: [2026-03-09], working_days: [], source: "..."}
//
// A file with "base: kz" starts from the built-in Kazakhstan calendar and
// adds its holidays and years to it (a year given in both is replaced), so
// operators can add next year's swaps without a release. Unknown keys are
// refused. The policy file embeds the same format under "calendar".
func LoadCalendar(r io.Reader) (*DataCalendar, error) {
	c, err := parseCalendar(r, Kazakhstan)
	if err != nil {
		return nil, fmt.Errorf("calendar file: %w", err)
	}
	return c, nil
}

// calendarSpec is a calendar file as written.
type calendarSpec struct {
	Name    string               `yaml:"name"`
	Code    string               `yaml:"code"`
	Base    string               `yaml:"base"`
	Weekend *[]weekdayValue      `yaml:"weekend"` // nil when not given
	Move    *bool                `yaml:"move_weekend_holidays"`
	Fixed   []fixedSpec          `yaml:"fixed"`
	Moving  []movingSpec         `yaml:"moving"`
	Years   map[yearKey]yearSpec `yaml:"years"`
}

type fixedSpec struct {
	Date *monthDay `yaml:"date"`
	Name string    `yaml:"name"`
	Move *bool     `yaml:"move"`
}

type movingSpec struct {
	Name  string      `yaml:"name"`
	Move  *bool       `yaml:"move"`
	Dates []dateValue `yaml:"dates"`
}

type yearSpec struct {
	DaysOff     []dateValue `yaml:"days_off"`
	WorkingDays []dateValue `yaml:"working_days"`
	Source      string      `yaml:"source"`
}

// weekdayValue is a day of the week written as its English name.
type weekdayValue time.Weekday

// UnmarshalYAML reads "monday" ... "sunday", in any case.
func (w *weekdayValue) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalarAt(n, "weekend")
	if err != nil {
		return err
	}
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if strings.EqualFold(s, wd.String()) {
			*w = weekdayValue(wd)
			return nil
		}
	}
	return fmt.Errorf("line %d: %q is not a day of the week (monday ... sunday)", n.Line, s)
}

// monthDay is a fixed holiday's MM-DD.
type monthDay Date

// UnmarshalYAML reads MM-DD; 02-29 is accepted.
func (md *monthDay) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalarAt(n, "date")
	if err != nil {
		return err
	}
	// Parse against a leap year so that 02-29 is accepted.
	t, err := time.Parse("2006-01-02", "2000-"+s)
	if err != nil || len(s) != 5 {
		return fmt.Errorf("line %d: date %q: want MM-DD", n.Line, s)
	}
	*md = monthDay{Month: t.Month(), Day: t.Day()}
	return nil
}

// dateValue is a day written YYYY-MM-DD, with the line it is on.
type dateValue struct {
	Date
	line int
}

// UnmarshalYAML reads YYYY-MM-DD within the years data may name.
func (d *dateValue) UnmarshalYAML(n *yaml.Node) error {
	s, err := scalarAt(n, "date")
	if err != nil {
		return err
	}
	day, err := ParseDate(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if day.Year < minYear || day.Year > maxYear {
		return fmt.Errorf("line %d: %s: want a year from %d to %d", n.Line, day, minYear, maxYear)
	}
	*d = dateValue{Date: day, line: n.Line}
	return nil
}

// yearKey is a year under "years".
type yearKey int

// UnmarshalYAML reads a year from minYear to maxYear.
func (y *yearKey) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < minYear || v > maxYear {
		return fmt.Errorf("line %d: years: key %q: want a year from %d to %d", n.Line, n.Value, minYear, maxYear)
	}
	*y = yearKey(v)
	return nil
}

func parseCalendar(r io.Reader, base func() *DataCalendar) (*DataCalendar, error) {
	var s calendarSpec
	if err := decodeStrict(r, &s); err != nil {
		return nil, err
	}
	return s.build("", base)
}

// build checks the spec and makes the calendar; path prefixes key names in
// errors (the policy file embeds calendars under "calendar").
func (s calendarSpec) build(path string, base func() *DataCalendar) (*DataCalendar, error) {
	c := &DataCalendar{daysOff: map[Date]string{}, workedDay: map[Date]bool{}}
	switch s.Base {
	case "":
	case "kz":
		if base == nil {
			return nil, fmt.Errorf("%s: the built-in calendar cannot have a base", join(path, "base"))
		}
		b := base()
		*c = *b
		c.fixed = slices.Clone(b.fixed)
		c.moving = slices.Clone(b.moving)
		c.daysOff = make(map[Date]string)
		c.workedDay = make(map[Date]bool)
		for d, r := range b.daysOff {
			if _, replaced := s.Years[yearKey(d.Year)]; !replaced {
				c.daysOff[d] = r
			}
		}
		for d := range b.workedDay {
			if _, replaced := s.Years[yearKey(d.Year)]; !replaced {
				c.workedDay[d] = true
			}
		}
	default:
		return nil, fmt.Errorf("%s: %q: want kz or nothing", join(path, "base"), s.Base)
	}
	if s.Name != "" {
		c.name = s.Name
	}
	if s.Code != "" {
		c.code = s.Code
	}
	if c.name == "" {
		return nil, fmt.Errorf("%s: a calendar needs a name", orTop(path))
	}
	if s.Weekend != nil {
		c.weekend = [7]bool{}
		for _, wd := range *s.Weekend {
			c.weekend[wd] = true
		}
	} else if s.Base == "" {
		c.weekend[time.Saturday], c.weekend[time.Sunday] = true, true
	}
	if s.Move != nil {
		c.move = *s.Move
	}
	for i, f := range s.Fixed {
		p := fmt.Sprintf("%s[%d]", join(path, "fixed"), i)
		if f.Date == nil {
			return nil, fmt.Errorf("%s: date is required (MM-DD)", p)
		}
		if f.Name == "" {
			return nil, fmt.Errorf("%s: name is required", p)
		}
		c.fixed = append(c.fixed, holiday{date: Date(*f.Date), name: f.Name, move: f.Move == nil || *f.Move})
	}
	for i, m := range s.Moving {
		p := fmt.Sprintf("%s[%d]", join(path, "moving"), i)
		if m.Name == "" {
			return nil, fmt.Errorf("%s: name is required", p)
		}
		if len(m.Dates) == 0 {
			return nil, fmt.Errorf("%s: dates is required", p)
		}
		for _, d := range m.Dates {
			c.moving = append(c.moving, holiday{date: d.Date, name: m.Name, move: m.Move == nil || *m.Move})
		}
	}
	for y, sw := range s.Years {
		p := join(path, "years."+strconv.Itoa(int(y)))
		for key, days := range map[string][]dateValue{"days_off": sw.DaysOff, "working_days": sw.WorkingDays} {
			for _, d := range days {
				if d.Year != int(y) {
					return nil, fmt.Errorf("line %d: %s.%s: %s is not in %d", d.line, p, key, d.Date, y)
				}
			}
		}
		for _, d := range sw.DaysOff {
			c.daysOff[d.Date] = "Day off (" + strconv.Itoa(int(y)) + " government calendar)"
		}
		for _, d := range sw.WorkingDays {
			if _, both := c.daysOff[d.Date]; both {
				return nil, fmt.Errorf("line %d: %s: %s is both a day off and a working day", d.line, p, d.Date)
			}
			c.workedDay[d.Date] = true
		}
	}
	// Cache the years anyone is likely to ask about, and every year the
	// data names.
	c.lo, c.hi = 2000, 2100
	for _, h := range c.moving {
		c.lo, c.hi = min(c.lo, h.date.Year), max(c.hi, h.date.Year)
	}
	for y := range s.Years {
		c.lo, c.hi = min(c.lo, int(y)), max(c.hi, int(y))
	}
	c.off = make(map[Date]string)
	for y := c.lo; y <= c.hi; y++ {
		for d, r := range c.holidaysOf(y) {
			c.off[d] = r
		}
	}
	return c, nil
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Data years are bounded so the cache above stays small.
const minYear, maxYear = 1900, 2200
