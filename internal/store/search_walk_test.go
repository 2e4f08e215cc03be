package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// A broad search walks the first requests of its tab in order, up to a
// fence (where.fenced). On the all tab the fence is on the open and closed
// requests merged: here the closed matches come within the first rows of
// the closed ones, while the first open match lies past the first three
// open requests but is due before every closed match. Walked half by half,
// the closed half filled the page and the open match was left out; the
// page must be the one a search read by id lists, page after page.
func TestABroadSearchOfTheAllTabMissesNoMatchPastTheFence(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	byID := New(pool, &intakeOutbox{}, testkit.Keys())
	broad := New(pool, &intakeOutbox{}, testkit.Keys())
	broad.searchCap, broad.searchFence = 1, 3
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	add := func(name string, status request.Status, due time.Duration) string {
		t.Helper()
		r := testkit.Req{FullName: name, Status: status, ReceivedAt: now.Add(-20 * day), DueAt: now.Add(due)}
		if !status.Open() {
			r.ClosedAt = now.Add(-day)
		}
		id, err := testkit.AddRequest(ctx, pool, r)
		if err != nil {
			t.Fatal(err)
		}
		var ref string
		if err := pool.QueryRow(ctx, `SELECT reference FROM requests WHERE id = $1`, id).Scan(&ref); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	for i := range 3 {
		add("Иван Другой", request.New, time.Duration(i+1)*day)
	}
	openMatch := add("Ерлан Широков", request.InProgress, 4*day)
	for i := range 4 {
		add("Ерлан Широков", request.Completed, time.Duration(10+i)*day)
	}
	list := func(s *Store) []string {
		t.Helper()
		return pagedRefs(t, s, QueueFilter{Tab: TabAll, Now: now, Search: "широков"}, 2)
	}
	want := list(byID)
	if len(want) != 5 || want[0] != openMatch {
		t.Fatalf("read by id, the all tab lists %v, want 5 with the open match %s first", want, openMatch)
	}
	if got := list(broad); !slices.Equal(got, want) {
		t.Errorf("walked within its fence, the all tab lists %v, want %v", got, want)
	}
	if c, err := broad.QueueCounts(ctx, QueueFilter{Now: now, Search: "широков"}); err != nil || !SearchTooBroad(c[TabAll]) {
		t.Errorf("a broad search's counts: %v %v, want none taken", c, err)
	}
}
