package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// The dashboard reads rollups that triggers keep; after every kind of change
// a request goes through (intake, confirmation, completion, rejection,
// withdrawal, expiry, a merge, a type set in triage, purging, a deletion),
// each made through a second Store as another instance would make it, its
// figures equal those computed directly over the rows (dashboardOverRows:
// the dashboard's queries before the rollups), for the twelve months and for
// each year, in the operator's zone and in another one.
func TestDashboardFiguresMatchTheRowsThroughEveryChange(t *testing.T) {
	d := newChangeDesk(t)
	ctx, pool, reader, writer := d.ctx, d.pool, d.reader, d.writer
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	utc, err := time.LoadLocation("UTC")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Add(time.Hour)
	check := func(after string) {
		t.Helper()
		// Almaty last, so that the changes that follow are counted in it.
		for _, loc := range []*time.Location{utc, almaty} {
			for _, year := range []int{2024, 2025, 2026} {
				got, err := reader.Dashboard(ctx, now, loc, year)
				if err != nil {
					t.Fatal(err)
				}
				want, err := dashboardOverRows(ctx, reader, now, loc, year)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("after %s, in %s, year %d:\n rollups %+v\n rows    %+v", after, loc, year, got, want)
				}
			}
		}
	}
	check("nothing")

	// Requests as they stand, across months and years and the zones' edges.
	at := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, almaty) }
	var added []int64
	for _, r := range []testkit.Req{
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2026, 1, 5, 10, 0), ClosedAt: at(2026, 1, 15, 12, 0)},
		{Type: request.Access, Status: request.Rejected, ReceivedAt: at(2026, 2, 1, 0, 30), ClosedAt: at(2026, 2, 20, 23, 50)},
		{Type: request.Erasure, Status: request.Completed, ReceivedAt: at(2025, 12, 31, 23, 30), ClosedAt: at(2026, 1, 1, 0, 10)},
		{Type: request.Erasure, Status: request.Rejected, ReceivedAt: at(2025, 6, 10, 10, 0), ClosedAt: at(2025, 7, 20, 10, 0)},
		{Type: request.Objection, Status: request.Expired, ReceivedAt: at(2026, 2, 10, 10, 0), ClosedAt: at(2026, 2, 17, 10, 0)},
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2025, 11, 1, 10, 0), DueAt: at(2026, 1, 1, 10, 0), ClosedAt: at(2025, 12, 15, 10, 0)},
		{Type: request.Portability, Status: request.Withdrawn, ReceivedAt: at(2024, 12, 31, 20, 0), ClosedAt: at(2025, 1, 1, 3, 0)},
		{Type: request.Access, Status: request.New, ReceivedAt: at(2026, 2, 25, 10, 0)},
	} {
		id, err := testkit.AddRequest(ctx, pool, r)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, id)
	}
	check("requests added as they stand")

	d.check = check
	ids := d.intake("DSH", request.Erasure, request.Erasure, request.Access, request.Objection, request.Access, request.Restriction, request.Access)
	check("intake")

	change := d.change
	for _, id := range ids[:6] {
		change("confirmation", id, func(_ request.Request, ch *request.Change) { ch.To, ch.ConfirmedAt = request.New, now })
	}
	now = now.AddDate(0, 0, 3)
	d.now = now
	change("work", ids[0], func(_ request.Request, ch *request.Change) { ch.To = request.InProgress })
	change("completion", ids[0], func(_ request.Request, ch *request.Change) { ch.To = request.Completed })
	change("rejection", ids[3], func(_ request.Request, ch *request.Change) {
		ch.To, ch.OutcomeReason = request.Rejected, "manifestly_unfounded"
	})
	change("withdrawal", ids[1], func(_ request.Request, ch *request.Change) { ch.To = request.Withdrawn })
	change("a deadline passed", ids[2], func(_ request.Request, ch *request.Change) { ch.DueAt = now.Add(-time.Hour) })
	now = now.AddDate(0, 1, 0) // into April: a late answer, in another month
	d.now = now
	change("a late completion", ids[2], func(_ request.Request, ch *request.Change) { ch.To = request.Completed })
	change("an extension", ids[4], func(r request.Request, ch *request.Change) {
		ch.DueAt, ch.Extended = r.DueAt.AddDate(0, 2, 0), true
	})
	change("an answer in the extension", ids[4], func(_ request.Request, ch *request.Change) { ch.To = request.Completed })

	expired, err := writer.ExpireUnconfirmed(ctx, now, 100, func(r request.Request) (request.Change, error) {
		return request.Change{To: request.Expired, Event: "expired", Actor: request.ActorSystem, At: now}, nil
	})
	if err != nil || expired != 1 {
		t.Fatalf("expiry: %d %v, want 1", expired, err)
	}
	check("expiry")

	change("merging into another", ids[5], func(_ request.Request, ch *request.Change) { ch.To = request.Merged })
	// Statements of any code count, not only the store's own.
	if _, err := pool.Exec(ctx, `UPDATE requests SET type = 'rectification' WHERE id = $1`, added[7]); err != nil {
		t.Fatal(err)
	}
	check("a type changed")
	if _, err := writer.PurgePersonalData(ctx, now.Add(time.Minute), now, 100); err != nil {
		t.Fatal(err)
	}
	check("purging the closed requests' personal data")
	if _, err := pool.Exec(ctx, `DELETE FROM requests WHERE id = $1`, added[7]); err != nil {
		t.Fatal(err)
	}
	check("a deletion")
	// A batch: every open request closed in one statement.
	if _, err := pool.Exec(ctx, `UPDATE requests SET status = 'completed', closed_at = $1 WHERE closed_at IS NULL`, now); err != nil {
		t.Fatal(err)
	}
	check("a batch of closings")
}

// dashboardOverRows is the dashboard as it was computed before the rollups,
// straight from the requests: the figures the rollups must give.
func dashboardOverRows(ctx context.Context, s *Store, now time.Time, loc *time.Location, year int) (Dashboard, error) {
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

	if err := yearFiguresOverRows(ctx, s, &d, loc); err != nil {
		return Dashboard{}, err
	}
	return d, nil
}

// yearFigures fills d.YearTypes and d.YearTotal for d.Year. Receipts and
// closings are read apart and joined per type here, so that the closings
// are a range of requests_closed_at_idx instead of one more pass over every
// request received in the year.
func yearFiguresOverRows(ctx context.Context, s *Store, d *Dashboard, loc *time.Location) error {
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
