package store_test

import (
	"context"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// TestEveryTabCountStopsAtTheCap fills the closed tab and then the open
// ones past store.CountCap: each such tab then says "more than CountCap",
// the others stay exact, and a filter that brings a tab under the cap gets
// the exact figure back.
func TestEveryTabCountStopsAtTheCap(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	// Generated rows in bulk: AddRequest one by one would take a while.
	addMany := func(n int, typ request.Type, status request.Status, due time.Duration) {
		t.Helper()
		_, err := pool.Exec(ctx, `
			INSERT INTO requests (reference, type, status, locale, received_at, closed_at, due_at,
				deadline_rule, personal, updated_at)
			SELECT 'CAP' || $3::text || $5::text || g, $3, $5, 'ru', $1::timestamptz - interval '40 days',
				CASE WHEN $6 THEN $1::timestamptz - interval '20 days' END, $1::timestamptz + $7::interval,
				'default.calendar_30d', $4::bytea, $1
			FROM generate_series(1, $2::int) g`, queueNow, n, string(typ), sealedPerson(t), string(status),
			!status.Open(), due.String())
		if err != nil {
			t.Fatal(err)
		}
	}
	addOpen := func(typ request.Type, assignee int64) {
		t.Helper()
		if _, err := testkit.AddRequest(ctx, pool, testkit.Req{Type: typ, ReceivedAt: queueNow, AssigneeID: assignee}); err != nil {
			t.Fatal(err)
		}
	}
	me, err := testkit.AddStaff(ctx, pool, "Айгерим", "aigerim@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	addOpen(request.Access, me)
	addOpen(request.Erasure, 0)
	addOpen(request.Erasure, 0)
	addMany(store.CountCap-2, request.Access, request.Completed, -10*24*time.Hour)

	counts := func(f store.QueueFilter) map[store.Tab]int {
		t.Helper()
		f.Now, f.StaffID = queueNow, me
		c, err := s.QueueCounts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// CountCap-2 closed and 3 open: all exact; all is one past the cap.
	c := counts(store.QueueFilter{})
	if c[store.TabClosed] != store.CountCap-2 || store.CountCapped(c[store.TabClosed]) {
		t.Errorf("closed under the cap: %d", c[store.TabClosed])
	}
	if c[store.TabAll] != store.CountCap+1 || !store.CountCapped(c[store.TabAll]) {
		t.Errorf("all past the cap: %d", c[store.TabAll])
	}

	addMany(3, request.Erasure, request.Completed, -10*24*time.Hour) // CountCap+1 closed
	c = counts(store.QueueFilter{})
	if !store.CountCapped(c[store.TabClosed]) || c[store.TabClosed] != store.CountCap+1 || c[store.TabAll] != store.CountCap+1 {
		t.Errorf("past the cap: closed %d, all %d", c[store.TabClosed], c[store.TabAll])
	}
	if c[store.TabOpen] != 3 || c[store.TabMine] != 1 || c[store.TabUnassigned] != 2 || c[store.TabOverdue] != 0 {
		t.Errorf("open tabs under the cap must be exact: %v", c)
	}
	// Erasure: 3 closed, 2 open, exact again.
	c = counts(store.QueueFilter{Types: []request.Type{request.Erasure}})
	if c[store.TabClosed] != 3 || c[store.TabAll] != 5 || c[store.TabOpen] != 2 {
		t.Errorf("erasure only: %v", c)
	}

	// CountCap overdue, unassigned, new portability requests: open and
	// unassigned pass the cap, overdue is exactly at it, the rest stay.
	addMany(store.CountCap, request.Portability, request.New, -24*time.Hour)
	c = counts(store.QueueFilter{})
	want := map[store.Tab]int{
		store.TabOpen: store.CountCap + 1, store.TabMine: 1, store.TabUnassigned: store.CountCap + 1,
		store.TabDueSoon: 0, store.TabOverdue: store.CountCap, store.TabAwaiting: 0,
		store.TabClosed: store.CountCap + 1, store.TabAll: store.CountCap + 1,
	}
	for tab, n := range want {
		if c[tab] != n {
			t.Errorf("with %d overdue: %s = %d, want %d", store.CountCap, tab, c[tab], n)
		}
	}
	if store.CountCapped(c[store.TabOverdue]) {
		t.Errorf("overdue at exactly the cap says more than the cap")
	}
	c = counts(store.QueueFilter{Types: []request.Type{request.Access}})
	if c[store.TabOpen] != 1 || c[store.TabMine] != 1 || c[store.TabUnassigned] != 0 || c[store.TabOverdue] != 0 {
		t.Errorf("access only, under the cap again: %v", c)
	}
}

// sealedPerson is one sealed requests.personal value, for rows made in bulk
// by SQL (the counts do not read it).
func sealedPerson(t *testing.T) []byte {
	t.Helper()
	doc, _, _, err := sealed.SealPersonal(testkit.Keys(), sealed.Personal{FullName: "Closed Person", Email: "closed@example.kz"})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
