package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
)

// DashboardMonths is how many calendar months the dashboard's monthly figures
// cover: the current month and the eleven before it.
const DashboardMonths = 12

// Answered sums up the answers (completions and rejections) given in a period.
// Withdrawn and expired requests were owed no answer and are left out, as in
// the export's on_time column, so that they neither flatter nor spoil the rate.
type Answered struct {
	Count  int // completed or rejected in the period
	OnTime int // of those, closed by the deadline in force (after any extension)
	// MedianDays is the median of the calendar days from receipt to answer,
	// counted in the operator's time zone like the export's days_taken.
	// It is meaningless when Count is 0.
	MedianDays float64
}

// OnTimeRate is the share of answers given on time, from 0 to 1 (0 when there
// were none: check Count).
func (a Answered) OnTimeRate() float64 {
	if a.Count == 0 {
		return 0
	}
	return float64(a.OnTime) / float64(a.Count)
}

// DashboardMonth is one calendar month of the dashboard.
type DashboardMonth struct {
	Month    time.Time // midnight of the month's first day, in the operator's time zone
	Received int       // requests received in the month, whatever became of them
	Answered Answered  // answers given in the month, whenever the request came in
}

// DashboardType is one request type's answers over the dashboard's months.
type DashboardType struct {
	Type     request.Type
	Answered Answered
}

// YearFigures are one request type's figures for a calendar year: what a
// yearly disclosure report states. Received counts requests by the day they
// came in; the outcomes count requests by the day they were closed, so a
// request received in December and answered in January counts in both years.
type YearFigures struct {
	Type      request.Type // empty on the total
	Received  int
	Completed int
	Rejected  int
	Withdrawn int
	Answered  Answered // completions and rejections of the year
}

// Dashboard is the figures of the staff dashboard.
type Dashboard struct {
	// Months are the DashboardMonths months up to the current one, oldest first.
	Months []DashboardMonth
	// ByType is every type answered in those months, in request.AllTypes order.
	ByType []DashboardType
	// Total is the answers of all those months, every type together.
	Total Answered

	Year      int
	YearTypes []YearFigures // every type with a figure in Year, in request.AllTypes order
	YearTotal YearFigures
}

// Dashboard computes the dashboard's figures at now: the months are calendar
// months in loc (the operator's time zone), and year is a calendar year there.
//
// The figures come from the rollups that the requests table's triggers keep
// (migrations/00036_dashboard_rollups.sql, per operator since 00040): requests received per month and
// type, and requests closed per month, type, status and days taken. They are
// counted in one zone; when loc is another, they are counted again first
// (once, holding off changes to the requests while it runs).
func (s *Store) Dashboard(ctx context.Context, now time.Time, loc *time.Location, year int) (Dashboard, error) {
	if loc == nil || loc.String() == "Local" {
		return Dashboard{}, fmt.Errorf("dashboard: need a named time zone")
	}
	if _, err := s.DashboardZone(ctx, loc.String()); err != nil {
		return Dashboard{}, err
	}
	d := Dashboard{Year: year}
	local := now.In(loc)
	first := time.Date(local.Year(), local.Month()-(DashboardMonths-1), 1, 0, 0, 0, 0, loc)
	for i := range DashboardMonths {
		d.Months = append(d.Months, DashboardMonth{Month: time.Date(first.Year(), first.Month()+time.Month(i), 1, 0, 0, 0, 0, loc)})
	}
	// month is the index in d.Months of the month starting on day m (as the
	// rollups key it: a date, the month's first day in the zone).
	month := func(m time.Time) (int, bool) {
		i := (m.Year()-first.Year())*12 + int(m.Month()) - int(first.Month())
		return i, i >= 0 && i < DashboardMonths
	}
	// The months' first days, and the year's, as dates.
	day := func(y int, m time.Month) string { return fmt.Sprintf("%04d-%02d-01", y, int(m)) }
	end := first.AddDate(0, DashboardMonths, 0)
	monthsFrom, monthsTo := day(first.Year(), first.Month()), day(end.Year(), end.Month())
	yearFrom, yearTo := day(year, time.January), day(year+1, time.January)

	byType := map[request.Type]*YearFigures{}
	yearType := func(t request.Type) *YearFigures {
		if byType[t] == nil {
			byType[t] = &YearFigures{Type: t}
		}
		return byType[t]
	}

	own, args := s.ownedBy("operator_id", []any{monthsFrom, monthsTo, yearFrom, yearTo})
	rows, err := s.pool.Query(ctx, `
	SELECT month, type, sum(n) FROM dashboard_received
	WHERE ((month >= $1::date AND month < $2::date) OR (month >= $3::date AND month < $4::date))`+own+`
	GROUP BY month, type`, args...)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: received: %w", err)
	}
	for rows.Next() {
		var m time.Time
		var typ string
		var n int
		if err := rows.Scan(&m, &typ, &n); err != nil {
			rows.Close()
			return Dashboard{}, fmt.Errorf("dashboard: received: %w", err)
		}
		if i, ok := month(m); ok {
			d.Months[i].Received += n
		}
		if m.Year() == year && n != 0 {
			yearType(request.Type(typ)).Received += n
			d.YearTotal.Received += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: received: %w", err)
	}

	// The closings: answers are tallied with their days taken, so that each
	// median is the exact median of the answers it is over.
	var (
		monthAnswers  [DashboardMonths]tally
		typeAnswers   = map[request.Type]*tally{}
		allAnswers    tally
		yearAnswers   = map[request.Type]*tally{}
		yearAllAnswer tally
	)
	rows, err = s.pool.Query(ctx, `
	SELECT month, type, status, days, n, on_time FROM dashboard_closed
	WHERE ((month >= $1::date AND month < $2::date) OR (month >= $3::date AND month < $4::date)) AND n <> 0`+own,
		args...)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: answers: %w", err)
	}
	for rows.Next() {
		var m time.Time
		var typ, status string
		var days, n, onTime int
		if err := rows.Scan(&m, &typ, &status, &days, &n, &onTime); err != nil {
			rows.Close()
			return Dashboard{}, fmt.Errorf("dashboard: answers: %w", err)
		}
		st, t := request.Status(status), request.Type(typ)
		if st.Open() {
			continue // closed once and opened again: not a closing now
		}
		if i, ok := month(m); ok && st.Answered() {
			monthAnswers[i].add(days, n, onTime)
			tallyOf(typeAnswers, t).add(days, n, onTime)
			allAnswers.add(days, n, onTime)
		}
		if m.Year() != year {
			continue
		}
		y := yearType(t)
		for _, into := range []*YearFigures{y, &d.YearTotal} {
			switch st {
			case request.Completed:
				into.Completed += n
			case request.Rejected:
				into.Rejected += n
			case request.Withdrawn:
				into.Withdrawn += n
			}
		}
		if st.Answered() {
			tallyOf(yearAnswers, t).add(days, n, onTime)
			yearAllAnswer.add(days, n, onTime)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: answers: %w", err)
	}

	for i := range d.Months {
		d.Months[i].Answered = monthAnswers[i].answered()
	}
	d.Total = allAnswers.answered()
	d.YearTotal.Answered = yearAllAnswer.answered()
	for _, t := range request.AllTypes() {
		if a := typeAnswers[t]; a != nil {
			d.ByType = append(d.ByType, DashboardType{Type: t, Answered: a.answered()})
		}
		if y := byType[t]; y != nil {
			if a := yearAnswers[t]; a != nil {
				y.Answered = a.answered()
			}
			d.YearTypes = append(d.YearTypes, *y)
		}
	}
	return d, nil
}

// DashboardZone makes sure the store's operator's rollups are counted in
// zone tz, counting them again if they are not (counted: which holds off every
// change to the requests while it runs: serve calls it at start, so that
// no staff member's page waits on it). A store New returned is the
// deployment's only operator's.
func (s *Store) DashboardZone(ctx context.Context, tz string) (counted bool, err error) {
	op := s.pool.operator
	if op == 0 {
		if err := s.pool.QueryRow(ctx, `SELECT rightsdesk_operator()`).Scan(&op); err != nil {
			return false, fmt.Errorf("dashboard: the operator: %w", err)
		}
	}
	var zone string
	if err := s.pool.QueryRow(ctx, `SELECT zone FROM dashboard_zone WHERE operator_id = $1`, op).Scan(&zone); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("dashboard: zone: %w", err)
	}
	if zone == tz {
		return false, nil
	}
	if _, err := s.pool.Exec(ctx, `SELECT dashboard_rebuild($1, $2)`, op, tz); err != nil {
		return false, fmt.Errorf("dashboard: count again in %s: %w", tz, err)
	}
	return true, nil
}

// tally is answers and their days taken: how many answers took each number
// of calendar days, from which the median is exact.
type tally struct {
	count, onTime int
	days          map[int]int
}

func tallyOf(m map[request.Type]*tally, t request.Type) *tally {
	if m[t] == nil {
		m[t] = &tally{}
	}
	return m[t]
}

func (a *tally) add(days, n, onTime int) {
	if a.days == nil {
		a.days = map[int]int{}
	}
	a.days[days] += n
	a.count += n
	a.onTime += onTime
}

// answered sums the tally up; its median is PostgreSQL's percentile_cont(0.5)
// over the answers' days: the middle one, or the mean of the middle two.
func (a *tally) answered() Answered {
	out := Answered{Count: a.count, OnTime: a.onTime}
	if a.count <= 0 {
		return out
	}
	keys := make([]int, 0, len(a.days))
	for k, n := range a.days {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	// at is the value of the answer of rank i (from 0) in the days' order.
	at := func(i int) int {
		for _, k := range keys {
			if i < a.days[k] {
				return k
			}
			i -= a.days[k]
		}
		return keys[len(keys)-1]
	}
	lo, hi := (a.count-1)/2, a.count/2
	out.MedianDays = float64(at(lo)+at(hi)) / 2
	return out
}
