package deadline

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func day(t testing.TB, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestKazakhstan2026WeekdaysOff lists every Monday-to-Friday day off of
// 2026, from the official calendar.
func TestKazakhstan2026WeekdaysOff(t *testing.T) {
	want := []string{
		"2026-01-01", "2026-01-02", "2026-01-07",
		"2026-03-09",                             // 8 March is a Sunday
		"2026-03-23", "2026-03-24", "2026-03-25", // Nauryz 21-22 March are Saturday and Sunday
		"2026-05-01", "2026-05-07",
		"2026-05-11", // 9 May is a Saturday
		"2026-05-27", // Kurban Ait
		"2026-07-06",
		"2026-08-31", // 30 August is a Sunday
		"2026-10-26", // 25 October is a Sunday
		"2026-12-16",
	}
	cal := Kazakhstan()
	var got []string
	for d := NewDate(2026, 1, 1); d.Year == 2026; d = d.AddDays(1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday && !cal.IsWorkingDay(d) {
			got = append(got, d.String())
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("weekdays off in 2026:\n got %v\nwant %v", got, want)
	}
}

// TestKazakhstanWeekendRuleGivesThe2026DaysOff checks the moving rule
// against the government's 2026 list: without the year's data the same
// days come out.
func TestKazakhstanWeekendRuleGivesThe2026DaysOff(t *testing.T) {
	data, _, _ := strings.Cut(string(KazakhstanData()), "\nyears:")
	cal, err := LoadCalendar(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"2026-03-09", "2026-03-24", "2026-03-25", "2026-05-11", "2026-08-31", "2026-10-26"} {
		if cal.IsWorkingDay(day(t, s)) {
			t.Errorf("%s is a working day by the rule alone", s)
		}
	}
	if !cal.IsWorkingDay(day(t, "2026-03-10")) {
		t.Error("2026-03-10 is a day off: the moved 8 March must not skip past 9 March")
	}
}

func TestReligiousHolidaysDoNotMoveOffAWeekend(t *testing.T) {
	cal := Kazakhstan()
	tests := []struct {
		day     string
		working bool
		why     string
	}{
		{"2024-01-07", false, "Orthodox Christmas on a Sunday"},
		{"2024-01-08", true, "7 January does not move"},
		{"2023-01-03", false, "1 January 2023 was a Sunday and 2 January a holiday: the day off is the 3rd"},
		{"2023-01-09", true, "7 January 2023 was a Saturday and does not move"},
		{"2024-06-16", false, "Kurban Ait on a Sunday"},
		{"2024-06-17", true, "Kurban Ait does not move"},
		{"2022-07-11", true, "Kurban Ait 2022 was a Saturday and does not move"},
		{"2022-05-10", false, "7 May 2022 was a Saturday; 9 May a holiday, so its day off is the 10th"},
	}
	for _, tt := range tests {
		if got := cal.IsWorkingDay(day(t, tt.day)); got != tt.working {
			t.Errorf("%s working = %v, want %v: %s", tt.day, got, tt.working, tt.why)
		}
	}
}

func TestKurbanAitTableCoversEveryYear(t *testing.T) {
	cal := Kazakhstan()
	years := map[int]bool{}
	for _, h := range cal.moving {
		if h.name != "Kurban Ait" || h.move {
			t.Errorf("unexpected moving holiday %+v", h)
		}
		years[h.date.Year] = true
		if r, off := cal.DayOff(h.date); !off || (r != "Kurban Ait" && !strings.Contains(r, "Nauryz")) {
			t.Errorf("%s: DayOff = %q, %v", h.date, r, off)
		}
	}
	for y := 2020; y <= 2035; y++ {
		if !years[y] {
			t.Errorf("no Kurban Ait date for %d", y)
		}
	}
	if r, _ := cal.DayOff(day(t, "2026-05-27")); r != "Kurban Ait" {
		t.Errorf("2026-05-27: %q, want Kurban Ait", r)
	}
}

func TestGovernmentSwapFromFile(t *testing.T) {
	// An operator adds next year's decree without a release: Friday
	// 8 January 2027 off, worked on Saturday 16 January.
	const file = `
base: kz
years:
  2027:
    source: "Government decree (example)"
    days_off: [2027-01-08]
    working_days: [2027-01-16]
`
	cal, err := LoadCalendar(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if cal.IsWorkingDay(day(t, "2027-01-08")) || !cal.IsWorkingDay(day(t, "2027-01-16")) {
		t.Fatal("swap not applied")
	}
	if !cal.IsWorkingDay(day(t, "2026-03-10")) || cal.IsWorkingDay(day(t, "2026-03-24")) {
		t.Error("base data lost")
	}
	p := policy(t, "kz", WithCalendar(cal))
	got, err := p.Due(Input{Type: TypeObjection, ReceivedAt: at(t, "2027-01-15 12:00")})
	if err != nil {
		t.Fatal(err)
	}
	// Saturday 16 (worked), Monday 18, Tuesday 19.
	if want := endOf(t, "2027-01-19"); !got.DueAt.Equal(want) {
		t.Errorf("DueAt = %s, want %s", got.DueAt, want)
	}
	without, _ := policy(t, "kz").Due(Input{Type: TypeObjection, ReceivedAt: at(t, "2027-01-15 12:00")})
	if want := endOf(t, "2027-01-20"); !without.DueAt.Equal(want) {
		t.Errorf("built-in DueAt = %s, want %s", without.DueAt, want)
	}
}

func TestAnotherCountryAsData(t *testing.T) {
	// A Sunday-to-Thursday week with a holiday that moves.
	const file = `
name: Example
code: ex
weekend: [friday, saturday]
move_weekend_holidays: true
fixed:
  - {date: "01-01", name: "New Year"}
  - {date: "02-29", name: "Leap Day", move: false}
moving:
  - {name: "Spring", dates: [2026-04-03]}
`
	cal, err := LoadCalendar(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		day     string
		working bool
	}{
		{"2026-01-01", false}, // Thursday
		{"2026-01-04", true},  // Sunday is a working day here
		{"2026-01-02", false}, // Friday
		{"2026-04-03", false}, // Spring on a Friday...
		{"2026-04-05", false}, // ...moves to Sunday
		{"2026-04-06", true},
		{"2028-02-29", false},
		{"2027-03-01", true}, // no Leap Day in a common year
	}
	for _, tt := range tests {
		if got := cal.IsWorkingDay(day(t, tt.day)); got != tt.working {
			t.Errorf("%s working = %v, want %v", tt.day, got, tt.working)
		}
	}
	if cal.String() != "Example" || cal.Code() != "ex" {
		t.Errorf("name %q code %q", cal.String(), cal.Code())
	}
}

func TestCalendarFileErrorsNameTheKeyAndLine(t *testing.T) {
	tests := []struct{ file, want string }{
		{"name: X\nholidays: []\n", `unknown key "holidays"`},
		{"name: X\nfixed:\n  - {date: \"13-01\", name: A}\n", `line 3: date "13-01": want MM-DD`},
		{"name: X\nfixed:\n  - {date: \"01-01\"}\n", `fixed[0]: name is required`},
		{"name: X\nweekend: [sunday, funday]\n", `line 2: "funday" is not a day of the week`},
		{"name: X\nyears:\n  2026:\n    days_off: [2027-01-01]\n", `line 4: years.2026.days_off: 2027-01-01 is not in 2026`},
		{"name: X\nyears:\n  2026:\n    days_off: [2026-01-05]\n    working_days: [2026-01-05]\n", `both a day off and a working day`},
		{"name: X\nyears:\n  99999: {}\n", `line 3: years: key "99999": want a year`},
		{"name: X\nmoving:\n  - {name: A, dates: [2026-02-30]}\n", `line 3: parse date "2026-02-30": want YYYY-MM-DD`},
		{"name: X\nmoving:\n  - {name: A}\n", `moving[0]: dates is required`},
		{"name: X\nyears:\n  2026: {days_of: []}\n", `line 3: unknown key "days_of": want days_off, working_days, source`},
		{"code: x\n", `needs a name`},
		{"base: us\n", `base: "us"`},
		{"", `empty file`},
	}
	for _, tt := range tests {
		_, err := LoadCalendar(strings.NewReader(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("file %q: err = %v, want one line containing %q", tt.file, err, tt.want)
		}
	}
}

func TestAddWorkingDaysSkipsTheStartDay(t *testing.T) {
	fri := day(t, "2026-01-09")
	got, err := AddWorkingDays(Weekdays{}, fri, 1)
	if err != nil || got != day(t, "2026-01-12") {
		t.Errorf("Friday + 1 working day = %s, %v; want Monday 2026-01-12", got, err)
	}
	if got, _ := AddWorkingDays(Weekdays{}, fri, 0); got != fri {
		t.Errorf("+0 = %s, want the same day", got)
	}
}

// neverWorking is a broken calendar: counting on it must fail, not hang.
type neverWorking struct{}

func (neverWorking) IsWorkingDay(Date) bool { return false }

func TestCalendarWithoutWorkingDaysIsAnError(t *testing.T) {
	if _, err := AddWorkingDays(neverWorking{}, day(t, "2026-01-01"), 1); err == nil {
		t.Error("no error")
	}
	p := policy(t, "kz", WithCalendar(neverWorking{}))
	if _, err := p.Due(Input{Type: TypeObjection, ReceivedAt: at(t, "2026-01-01 10:00")}); err == nil {
		t.Error("Due: no error")
	}
}

func TestKazakhstanDataIsACopy(t *testing.T) {
	a := KazakhstanData()
	a[0] = 'X'
	if bytes.Equal(a, KazakhstanData()) {
		t.Error("KazakhstanData shares its bytes")
	}
}

func TestDateArithmetic(t *testing.T) {
	tests := []struct {
		from   string
		months int
		want   string
	}{
		{"2026-01-31", 1, "2026-02-28"},
		{"2028-01-31", 1, "2028-02-29"},
		{"2026-03-31", 1, "2026-04-30"},
		{"2026-12-15", 1, "2027-01-15"},
		{"2026-01-31", 3, "2026-04-30"},
		{"2026-08-31", 6, "2027-02-28"},
	}
	for _, tt := range tests {
		if got := day(t, tt.from).AddMonths(tt.months); got.String() != tt.want {
			t.Errorf("%s + %d months = %s, want %s", tt.from, tt.months, got, tt.want)
		}
	}
	if n := day(t, "2026-03-01").DaysUntil(day(t, "2026-03-31")); n != 30 {
		t.Errorf("DaysUntil = %d", n)
	}
	if _, err := ParseDate("2026-02-30"); err == nil {
		t.Error("2026-02-30 parsed")
	}
}
