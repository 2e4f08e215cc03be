package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

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
// Four queries, each one pass over a date range of the requests.
func (s *Store) Dashboard(ctx context.Context, now time.Time, loc *time.Location, year int) (Dashboard, error) {
	if loc == nil || loc.String() == "Local" {
		return Dashboard{}, fmt.Errorf("dashboard: need a named time zone")
	}
	tz := loc.String()
	d := Dashboard{Year: year}
	local := now.In(loc)
	first := time.Date(local.Year(), local.Month()-(DashboardMonths-1), 1, 0, 0, 0, 0, loc)
	end := time.Date(local.Year(), local.Month()+1, 1, 0, 0, 0, 0, loc)
	// The months' first instants, and the end of the last month: a row falls
	// into month i when bounds[i] <= t < bounds[i+1]. width_bucket finds that
	// by a binary search on the instants, which costs far less per row than
	// converting every row's time to the operator's zone to group by it.
	bounds := make([]time.Time, 0, DashboardMonths+1)
	for i := range DashboardMonths {
		m := time.Date(first.Year(), first.Month()+time.Month(i), 1, 0, 0, 0, 0, loc)
		d.Months = append(d.Months, DashboardMonth{Month: m})
		bounds = append(bounds, m)
	}
	bounds = append(bounds, end)
	month := func(bucket int) (int, bool) { return bucket - 1, bucket >= 1 && bucket <= DashboardMonths }

	// Answers over the months: per type, per month and in all, in one pass.
	// grouping() tells the three sets apart: 1 per type, 2 per month, 3 all.
	// The answers are spelled with the closed list too, so that the planner
	// matches requests_closed_at_idx.
	rows, err := s.pool.Query(ctx, `
	SELECT coalesce(a.type, ''), coalesce(a.month, 0), grouping(a.type, a.month),
		count(*), count(*) FILTER (WHERE a.on_time),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY a.days)
	FROM (SELECT r.type, width_bucket(r.closed_at, $4::timestamptz[]) AS month,
			r.closed_at <= r.due_at AS on_time,
			(r.closed_at AT TIME ZONE $3)::date - (r.received_at AT TIME ZONE $3)::date AS days
		FROM requests r
		WHERE `+closedStatuses+` AND `+answeredStatuses+` AND r.closed_at >= $1 AND r.closed_at < $2) a
	GROUP BY GROUPING SETS ((a.type), (a.month), ())`, first, end, tz, bounds)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: answers: %w", err)
	}
	byType := map[request.Type]Answered{}
	for rows.Next() {
		var typ string
		var bucket, set int
		var a Answered
		var median pgtype.Float8
		if err := rows.Scan(&typ, &bucket, &set, &a.Count, &a.OnTime, &median); err != nil {
			rows.Close()
			return Dashboard{}, fmt.Errorf("dashboard: answers: %w", err)
		}
		a.MedianDays = median.Float64
		switch set {
		case 1:
			byType[request.Type(typ)] = a
		case 2:
			if i, ok := month(bucket); ok {
				d.Months[i].Answered = a
			}
		case 3:
			d.Total = a
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: answers: %w", err)
	}
	for _, t := range request.AllTypes() {
		if a, ok := byType[t]; ok {
			d.ByType = append(d.ByType, DashboardType{Type: t, Answered: a})
		}
	}

	// Requests received per month, for the chart.
	rows, err = s.pool.Query(ctx, `
	SELECT width_bucket(r.received_at, $3::timestamptz[]), count(*)
	FROM requests r
	WHERE r.received_at >= $1 AND r.received_at < $2
	GROUP BY 1`, first, end, bounds)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: received: %w", err)
	}
	for rows.Next() {
		var bucket, n int
		if err := rows.Scan(&bucket, &n); err != nil {
			rows.Close()
			return Dashboard{}, fmt.Errorf("dashboard: received: %w", err)
		}
		if i, ok := month(bucket); ok {
			d.Months[i].Received = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: received: %w", err)
	}

	if err := s.yearFigures(ctx, &d, loc); err != nil {
		return Dashboard{}, err
	}
	return d, nil
}

// yearFigures fills d.YearTypes and d.YearTotal for d.Year. Receipts and
// closings are read apart and joined per type here, so that the closings
// are a range of requests_closed_at_idx instead of one more pass over every
// request received in the year.
func (s *Store) yearFigures(ctx context.Context, d *Dashboard, loc *time.Location) error {
	from := time.Date(d.Year, time.January, 1, 0, 0, 0, 0, loc)
	to := time.Date(d.Year+1, time.January, 1, 0, 0, 0, 0, loc)
	byType := map[request.Type]*YearFigures{}
	get := func(t request.Type) *YearFigures {
		if byType[t] == nil {
			byType[t] = &YearFigures{Type: t}
		}
		return byType[t]
	}

	rows, err := s.pool.Query(ctx, `
	SELECT r.type, count(*) FROM requests r
	WHERE r.received_at >= $1 AND r.received_at < $2
	GROUP BY r.type`, from, to)
	if err != nil {
		return fmt.Errorf("dashboard: year %d: %w", d.Year, err)
	}
	for rows.Next() {
		var typ string
		var n int
		if err := rows.Scan(&typ, &n); err != nil {
			rows.Close()
			return fmt.Errorf("dashboard: year %d: %w", d.Year, err)
		}
		get(request.Type(typ)).Received = n
		d.YearTotal.Received += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dashboard: year %d: %w", d.Year, err)
	}

	// GROUPING SETS adds the total row (grouping = 1), whose median is over
	// every answer of the year, which no sum of the per-type rows could give.
	rows, err = s.pool.Query(ctx, `
	SELECT coalesce(r.type, ''), grouping(r.type),
		count(*) FILTER (WHERE r.status = 'completed'),
		count(*) FILTER (WHERE r.status = 'rejected'),
		count(*) FILTER (WHERE r.status = 'withdrawn'),
		count(*) FILTER (WHERE `+answeredStatuses+` AND r.closed_at <= r.due_at),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY
			(r.closed_at AT TIME ZONE $3)::date - (r.received_at AT TIME ZONE $3)::date)
			FILTER (WHERE `+answeredStatuses+`)
	FROM requests r
	WHERE `+closedStatuses+` AND r.closed_at >= $1 AND r.closed_at < $2
	GROUP BY GROUPING SETS ((r.type), ())`, from, to, loc.String())
	if err != nil {
		return fmt.Errorf("dashboard: year %d: %w", d.Year, err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ string
		var set int
		var y YearFigures
		var median pgtype.Float8
		if err := rows.Scan(&typ, &set, &y.Completed, &y.Rejected, &y.Withdrawn, &y.Answered.OnTime, &median); err != nil {
			return fmt.Errorf("dashboard: year %d: %w", d.Year, err)
		}
		y.Answered.Count = y.Completed + y.Rejected
		y.Answered.MedianDays = median.Float64
		into := &d.YearTotal
		if set == 0 {
			into = get(request.Type(typ))
		}
		into.Completed, into.Rejected, into.Withdrawn, into.Answered = y.Completed, y.Rejected, y.Withdrawn, y.Answered
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dashboard: year %d: %w", d.Year, err)
	}
	for _, t := range request.AllTypes() {
		if y := byType[t]; y != nil {
			d.YearTypes = append(d.YearTypes, *y)
		}
	}
	return nil
}
