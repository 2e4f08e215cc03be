package store_test

import (
	"context"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// dashboardNow is "now" for the hand-built dashboard data: the twelve months
// are April 2025 to March 2026, in Almaty.
var dashboardNow = time.Date(2026, 3, 2, 10, 0, 0, 0, almaty)

// The dashboard's hand-built caseload. Days are calendar days in Almaty from
// receipt to closing; the figures each test expects are worked out from this
// table by hand, in the comments next to them.
//
//	name  type           status       received (Almaty)   due                 closed              days  on time
//	A     access         completed    2026-01-05 10:00    2026-02-04 10:00    2026-01-15 12:00    10    yes
//	B     access         completed    2026-01-10 10:00    2026-02-09 10:00    2026-02-12 09:00    33    no
//	C     access         rejected     2026-02-01 00:30 *  2026-03-03 00:30    2026-02-20 23:50    19    yes
//	D     erasure        completed    2025-12-31 23:30    2026-01-30 23:30    2026-01-01 00:10 ** 1     yes
//	E     erasure        rejected     2025-06-10 10:00    2025-07-10 10:00    2025-07-20 10:00    40    no
//	F     erasure        withdrawn    2026-02-03 10:00    2026-03-05 10:00    2026-02-05 10:00    (not an answer)
//	G     objection      expired      2026-02-10 10:00    2026-03-12 10:00    2026-02-17 10:00    (not an answer)
//	H     access         new          2026-02-25 10:00    2026-03-27 10:00    open
//	I     access         completed    2025-03-01 10:00    2025-03-31 10:00    2025-03-20 10:00    19    yes (before the 12 months)
//	J     rectification  in_progress  2026-03-01 10:00    2026-03-31 10:00    open
//	K     access         completed    2025-11-01 10:00    2026-01-01 10:00 ***2025-12-15 10:00    44    yes
//
//	*   31 January 19:30 in UTC: received in February in Almaty.
//	**  31 December 19:10 in UTC: answered in 2026 in Almaty, in 2025 in UTC.
//	*** extended from 2025-12-01: on time against the deadline in force.
func dashboardFixture(t *testing.T) *store.Store {
	t.Helper()
	pool := testkit.DB(t)
	at := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, almaty) }
	rows := []testkit.Req{
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2026, 1, 5, 10, 0), ClosedAt: at(2026, 1, 15, 12, 0)},
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2026, 1, 10, 10, 0), ClosedAt: at(2026, 2, 12, 9, 0)},
		{Type: request.Access, Status: request.Rejected, ReceivedAt: at(2026, 2, 1, 0, 30), ClosedAt: at(2026, 2, 20, 23, 50)},
		{Type: request.Erasure, Status: request.Completed, ReceivedAt: at(2025, 12, 31, 23, 30), ClosedAt: at(2026, 1, 1, 0, 10)},
		{Type: request.Erasure, Status: request.Rejected, ReceivedAt: at(2025, 6, 10, 10, 0), ClosedAt: at(2025, 7, 20, 10, 0)},
		{Type: request.Erasure, Status: request.Withdrawn, ReceivedAt: at(2026, 2, 3, 10, 0), ClosedAt: at(2026, 2, 5, 10, 0)},
		{Type: request.Objection, Status: request.Expired, ReceivedAt: at(2026, 2, 10, 10, 0), ClosedAt: at(2026, 2, 17, 10, 0)},
		{Type: request.Access, Status: request.New, ReceivedAt: at(2026, 2, 25, 10, 0)},
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2025, 3, 1, 10, 0), ClosedAt: at(2025, 3, 20, 10, 0)},
		{Type: request.Rectification, Status: request.InProgress, ReceivedAt: at(2026, 3, 1, 10, 0)},
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2025, 11, 1, 10, 0), DueAt: at(2026, 1, 1, 10, 0),
			ClosedAt: at(2025, 12, 15, 10, 0)},
	}
	for _, r := range rows {
		if _, err := testkit.AddRequest(context.Background(), pool, r); err != nil {
			t.Fatal(err)
		}
	}
	return store.New(pool, nil, testkit.Keys())
}

func checkAnswered(t *testing.T, what string, got, want store.Answered) {
	t.Helper()
	if got.Count != want.Count || got.OnTime != want.OnTime || (want.Count > 0 && got.MedianDays != want.MedianDays) {
		t.Errorf("%s: %d answered, %d on time, median %.1f days; want %d, %d, %.1f",
			what, got.Count, got.OnTime, got.MedianDays, want.Count, want.OnTime, want.MedianDays)
	}
}

func TestDashboardMonthsCountInTheOperatorsTimeZone(t *testing.T) {
	s := dashboardFixture(t)
	d, err := s.Dashboard(context.Background(), dashboardNow, almaty, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Months) != store.DashboardMonths {
		t.Fatalf("%d months", len(d.Months))
	}
	if first, last := d.Months[0].Month, d.Months[11].Month; !first.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, almaty)) ||
		!last.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, almaty)) {
		t.Errorf("months run from %v to %v", first, last)
	}
	// Received: E in June, K in November, D on 31 December, A and B in
	// January, C (31 January in UTC), F, G and H in February, J in March; I
	// is before the twelve months.
	wantReceived := map[string]int{"2025-06": 1, "2025-11": 1, "2025-12": 1, "2026-01": 2, "2026-02": 4, "2026-03": 1}
	// Answers: E (40 days, late) in July; K (44, on time) in December; A (10)
	// and D (1) in January, both on time, median 5.5; B (33, late) and C
	// (19) in February, median 26.
	wantAnswered := map[string]store.Answered{
		"2025-07": {Count: 1, OnTime: 0, MedianDays: 40},
		"2025-12": {Count: 1, OnTime: 1, MedianDays: 44},
		"2026-01": {Count: 2, OnTime: 2, MedianDays: 5.5},
		"2026-02": {Count: 2, OnTime: 1, MedianDays: 26},
	}
	for _, m := range d.Months {
		key := m.Month.Format("2006-01")
		if m.Received != wantReceived[key] {
			t.Errorf("%s: received %d, want %d", key, m.Received, wantReceived[key])
		}
		checkAnswered(t, key, m.Answered, wantAnswered[key])
	}
	// Access: 10, 19, 33, 44 days (B late): median 26, 3 of 4 on time.
	// Erasure: 1 and 40 days (E late): median 20.5, 1 of 2.
	if len(d.ByType) != 2 || d.ByType[0].Type != request.Access || d.ByType[1].Type != request.Erasure {
		t.Fatalf("by type: %+v", d.ByType)
	}
	checkAnswered(t, "access", d.ByType[0].Answered, store.Answered{Count: 4, OnTime: 3, MedianDays: 26})
	checkAnswered(t, "erasure", d.ByType[1].Answered, store.Answered{Count: 2, OnTime: 1, MedianDays: 20.5})
	// All: 1, 10, 19, 33, 40, 44 days: median 26; A, C, D, K on time.
	checkAnswered(t, "total", d.Total, store.Answered{Count: 6, OnTime: 4, MedianDays: 26})
	if r := d.Total.OnTimeRate(); r < 0.666 || r > 0.667 {
		t.Errorf("on-time rate %.4f, want 4/6", r)
	}
}

func TestDashboardYearFiguresForADisclosureReport(t *testing.T) {
	s := dashboardFixture(t)
	tests := []struct {
		year  int
		types []store.YearFigures
		total store.YearFigures
	}{
		// 2026 — received: A, B, C, H (access), F (erasure), G (objection), J
		// (rectification). Completed: A, B (access), D (erasure, 00:10 on 1
		// January in Almaty). Rejected: C. Withdrawn: F. On time: A, C, D,
		// not B. Medians: access 10, 19, 33 → 19; erasure 1; all → 14.5.
		{2026, []store.YearFigures{
			{Type: request.Access, Received: 4, Completed: 2, Rejected: 1, Answered: store.Answered{Count: 3, OnTime: 2, MedianDays: 19}},
			{Type: request.Rectification, Received: 1},
			{Type: request.Erasure, Received: 1, Completed: 1, Withdrawn: 1, Answered: store.Answered{Count: 1, OnTime: 1, MedianDays: 1}},
			{Type: request.Objection, Received: 1},
		}, store.YearFigures{Received: 7, Completed: 3, Rejected: 1, Withdrawn: 1,
			Answered: store.Answered{Count: 4, OnTime: 3, MedianDays: 14.5}}},
		// 2025 — received: I, K (access), D (23:30 on 31 December), E
		// (erasure). Completed: I (19 days), K (44). Rejected: E (40, late).
		// D's answer belongs to 2026. Medians: access 31.5; all 40.
		{2025, []store.YearFigures{
			{Type: request.Access, Received: 2, Completed: 2, Answered: store.Answered{Count: 2, OnTime: 2, MedianDays: 31.5}},
			{Type: request.Erasure, Received: 2, Rejected: 1, Answered: store.Answered{Count: 1, OnTime: 0, MedianDays: 40}},
		}, store.YearFigures{Received: 4, Completed: 2, Rejected: 1, Answered: store.Answered{Count: 3, OnTime: 2, MedianDays: 40}}},
		{2020, nil, store.YearFigures{}},
	}
	for _, tt := range tests {
		d, err := s.Dashboard(context.Background(), dashboardNow, almaty, tt.year)
		if err != nil {
			t.Fatal(err)
		}
		if d.Year != tt.year || len(d.YearTypes) != len(tt.types) {
			t.Fatalf("%d: %+v", tt.year, d.YearTypes)
		}
		check := func(what string, got, want store.YearFigures) {
			t.Helper()
			if got.Type != want.Type || got.Received != want.Received || got.Completed != want.Completed ||
				got.Rejected != want.Rejected || got.Withdrawn != want.Withdrawn {
				t.Errorf("%d %s: %+v, want %+v", tt.year, what, got, want)
			}
			checkAnswered(t, what, got.Answered, want.Answered)
		}
		for i, want := range tt.types {
			check(string(want.Type), d.YearTypes[i], want)
		}
		check("total", d.YearTotal, tt.total)
	}
}

func TestDashboardOfAnEmptyDatabase(t *testing.T) {
	s := store.New(testkit.DB(t), nil, testkit.Keys())
	d, err := s.Dashboard(context.Background(), dashboardNow, almaty, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Months) != store.DashboardMonths || len(d.ByType) != 0 || d.Total.Count != 0 || d.YearTotal.Received != 0 {
		t.Errorf("empty dashboard: %+v", d)
	}
	if _, err := s.Dashboard(context.Background(), dashboardNow, time.Local, 2026); err == nil {
		t.Error("a zone without a name was accepted")
	}
}
