package deadline

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
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

// LoadCalendarFile reads a calendar file (see LoadCalendar) from path.
func LoadCalendarFile(path string) (*DataCalendar, error) {
	f, err := os.Open(path) // #nosec G304 -- the operator's calendar file (POLICY_FILE / CLI flag)
	if err != nil {
		return nil, fmt.Errorf("calendar file: %w", err)
	}
	defer f.Close()
	c, err := LoadCalendar(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

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
// refused.
func LoadCalendar(r io.Reader) (*DataCalendar, error) {
	c, err := parseCalendar(r, Kazakhstan)
	if err != nil {
		return nil, fmt.Errorf("calendar file: %w", err)
	}
	return c, nil
}

// calendarSpec is the parsed file before it becomes a DataCalendar.
type calendarSpec struct {
	name, code string
	weekend    []time.Weekday
	hasWeekend bool
	move       *bool
	fixed      []holiday
	moving     []holiday
	years      map[int]yearSwaps
	base       string
}

type yearSwaps struct {
	daysOff, worked []Date
	source          string
}

var calendarKeys = []string{"name", "code", "base", "weekend", "move_weekend_holidays", "fixed", "moving", "years"}

func parseCalendar(r io.Reader, base func() *DataCalendar) (*DataCalendar, error) {
	doc, err := readYAML(r)
	if err != nil {
		return nil, err
	}
	return calendarFromNode(doc, "", base)
}

// calendarFromNode builds a calendar from a mapping node; path prefixes
// key names in errors (the policy file embeds calendars under "calendar").
func calendarFromNode(doc *yaml.Node, path string, base func() *DataCalendar) (*DataCalendar, error) {
	f, err := fields(doc, path, calendarKeys...)
	if err != nil {
		return nil, err
	}
	var s calendarSpec
	for _, k := range []string{"name", "code", "base"} {
		if n, ok := f[k]; ok {
			var v string
			if err := scalar(n, join(path, k), &v); err != nil {
				return nil, err
			}
			switch k {
			case "name":
				s.name = v
			case "code":
				s.code = v
			case "base":
				s.base = v
			}
		}
	}
	if n, ok := f["weekend"]; ok {
		s.hasWeekend = true
		items, err := sequence(n, join(path, "weekend"))
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			p := fmt.Sprintf("%s[%d]", join(path, "weekend"), i)
			var v string
			if err := scalar(it, p, &v); err != nil {
				return nil, err
			}
			wd, ok := parseWeekday(v)
			if !ok {
				return nil, fmt.Errorf("%s: %q is not a day of the week (monday ... sunday)", p, v)
			}
			s.weekend = append(s.weekend, wd)
		}
	}
	if n, ok := f["move_weekend_holidays"]; ok {
		var v bool
		if err := scalar(n, join(path, "move_weekend_holidays"), &v); err != nil {
			return nil, err
		}
		s.move = &v
	}
	if n, ok := f["fixed"]; ok {
		if s.fixed, err = parseFixed(n, join(path, "fixed")); err != nil {
			return nil, err
		}
	}
	if n, ok := f["moving"]; ok {
		if s.moving, err = parseMoving(n, join(path, "moving")); err != nil {
			return nil, err
		}
	}
	if n, ok := f["years"]; ok {
		if s.years, err = parseYears(n, join(path, "years")); err != nil {
			return nil, err
		}
	}
	return s.build(path, base)
}

func (s calendarSpec) build(path string, base func() *DataCalendar) (*DataCalendar, error) {
	c := &DataCalendar{daysOff: map[Date]string{}, workedDay: map[Date]bool{}}
	switch s.base {
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
			if _, replaced := s.years[d.Year]; !replaced {
				c.daysOff[d] = r
			}
		}
		for d := range b.workedDay {
			if _, replaced := s.years[d.Year]; !replaced {
				c.workedDay[d] = true
			}
		}
	default:
		return nil, fmt.Errorf("%s: %q: want kz or nothing", join(path, "base"), s.base)
	}
	if s.name != "" {
		c.name = s.name
	}
	if s.code != "" {
		c.code = s.code
	}
	if c.name == "" {
		return nil, fmt.Errorf("%s: a calendar needs a name", orTop(path))
	}
	if s.hasWeekend {
		c.weekend = [7]bool{}
		for _, wd := range s.weekend {
			c.weekend[wd] = true
		}
	} else if s.base == "" {
		c.weekend[time.Saturday], c.weekend[time.Sunday] = true, true
	}
	if s.move != nil {
		c.move = *s.move
	}
	c.fixed = append(c.fixed, s.fixed...)
	c.moving = append(c.moving, s.moving...)
	for y, sw := range s.years {
		for _, d := range sw.daysOff {
			c.daysOff[d] = "Day off (" + strconv.Itoa(y) + " government calendar)"
		}
		for _, d := range sw.worked {
			if _, both := c.daysOff[d]; both {
				return nil, fmt.Errorf("%s: %s is both a day off and a working day", join(path, "years."+strconv.Itoa(y)), d)
			}
			c.workedDay[d] = true
		}
	}
	// Cache the years anyone is likely to ask about, and every year the
	// data names.
	c.lo, c.hi = 2000, 2100
	for _, h := range c.moving {
		c.lo, c.hi = min(c.lo, h.date.Year), max(c.hi, h.date.Year)
	}
	for y := range s.years {
		c.lo, c.hi = min(c.lo, y), max(c.hi, y)
	}
	c.off = make(map[Date]string)
	for y := c.lo; y <= c.hi; y++ {
		for d, r := range c.holidaysOf(y) {
			c.off[d] = r
		}
	}
	return c, nil
}

// Data years are bounded so the cache above stays small.
const minYear, maxYear = 1900, 2200

func parseWeekday(s string) (time.Weekday, bool) {
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if strings.EqualFold(s, wd.String()) {
			return wd, true
		}
	}
	return 0, false
}

func parseFixed(n *yaml.Node, path string) ([]holiday, error) {
	items, err := sequence(n, path)
	if err != nil {
		return nil, err
	}
	var out []holiday
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		f, err := fields(it, p, "date", "name", "move")
		if err != nil {
			return nil, err
		}
		h := holiday{move: true}
		dn, ok := f["date"]
		if !ok {
			return nil, fmt.Errorf("%s: date is required (MM-DD)", p)
		}
		var v string
		if err := scalar(dn, p+".date", &v); err != nil {
			return nil, err
		}
		// Parse against a leap year so that 02-29 is accepted.
		t, err := time.Parse("2006-01-02", "2000-"+v)
		if err != nil || len(v) != 5 {
			return nil, fmt.Errorf("%s.date: %q: want MM-DD", p, v)
		}
		h.date = Date{Month: t.Month(), Day: t.Day()}
		if err := holidayNameMove(f, p, &h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func holidayNameMove(f map[string]*yaml.Node, p string, h *holiday) error {
	n, ok := f["name"]
	if !ok {
		return fmt.Errorf("%s: name is required", p)
	}
	if err := scalar(n, p+".name", &h.name); err != nil {
		return err
	}
	if n, ok := f["move"]; ok {
		if err := scalar(n, p+".move", &h.move); err != nil {
			return err
		}
	}
	return nil
}

func parseMoving(n *yaml.Node, path string) ([]holiday, error) {
	items, err := sequence(n, path)
	if err != nil {
		return nil, err
	}
	var out []holiday
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		f, err := fields(it, p, "name", "move", "dates")
		if err != nil {
			return nil, err
		}
		h := holiday{move: true}
		if err := holidayNameMove(f, p, &h); err != nil {
			return nil, err
		}
		dn, ok := f["dates"]
		if !ok {
			return nil, fmt.Errorf("%s: dates is required", p)
		}
		dates, err := dateList(dn, p+".dates")
		if err != nil {
			return nil, err
		}
		for _, d := range dates {
			h.date = d
			out = append(out, h)
		}
	}
	return out, nil
}

func parseYears(n *yaml.Node, path string) (map[int]yearSwaps, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s (line %d): want a mapping of year to swaps", path, n.Line)
	}
	out := make(map[int]yearSwaps)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		y, err := strconv.Atoi(k.Value)
		if err != nil || k.Kind != yaml.ScalarNode || y < minYear || y > maxYear {
			return nil, fmt.Errorf("%s (line %d): key %q: want a year from %d to %d", path, k.Line, k.Value, minYear, maxYear)
		}
		if _, dup := out[y]; dup {
			return nil, fmt.Errorf("%s (line %d): year %d given twice", path, k.Line, y)
		}
		p := join(path, k.Value)
		f, err := fields(n.Content[i+1], p, "days_off", "working_days", "source")
		if err != nil {
			return nil, err
		}
		var sw yearSwaps
		if v, ok := f["source"]; ok {
			if err := scalar(v, p+".source", &sw.source); err != nil {
				return nil, err
			}
		}
		for _, kd := range []struct {
			key string
			dst *[]Date
		}{{"days_off", &sw.daysOff}, {"working_days", &sw.worked}} {
			key, dst := kd.key, kd.dst
			v, ok := f[key]
			if !ok {
				continue
			}
			if *dst, err = dateList(v, p+"."+key); err != nil {
				return nil, err
			}
			for _, d := range *dst {
				if d.Year != y {
					return nil, fmt.Errorf("%s.%s: %s is not in %d", p, key, d, y)
				}
			}
		}
		out[y] = sw
	}
	return out, nil
}

func dateList(n *yaml.Node, path string) ([]Date, error) {
	items, err := sequence(n, path)
	if err != nil {
		return nil, err
	}
	out := make([]Date, 0, len(items))
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		var v string
		if err := scalar(it, p, &v); err != nil {
			return nil, err
		}
		d, err := ParseDate(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if d.Year < minYear || d.Year > maxYear {
			return nil, fmt.Errorf("%s: %s: want a year from %d to %d", p, d, minYear, maxYear)
		}
		out = append(out, d)
	}
	return out, nil
}
