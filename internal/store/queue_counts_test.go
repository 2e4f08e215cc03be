package store_test

import (
	"context"
	"testing"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// TestClosedCountsStopAtTheCap fills the closed tab past store.CountCap:
// the closed and all tabs then say "more than CountCap", the open tabs stay
// exact, and a filter that brings the closed requests under the cap gets
// the exact figure back.
func TestClosedCountsStopAtTheCap(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	// CountCap closed access requests, then more, one at a time, as generated
	// rows: AddRequest one by one would take a while.
	addClosed := func(n int, typ request.Type) {
		t.Helper()
		_, err := pool.Exec(ctx, `
			INSERT INTO requests (reference, type, status, locale, received_at, closed_at, due_at,
				deadline_rule, personal, updated_at)
			SELECT 'CAP' || $3::text || g, $3, 'completed', 'ru', $1::timestamptz - interval '40 days',
				$1::timestamptz - interval '20 days', $1::timestamptz - interval '10 days',
				'default.calendar_30d', $4::bytea, $1
			FROM generate_series(1, $2::int) g`, queueNow, n, string(typ), sealedPerson(t))
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
	addClosed(store.CountCap-2, request.Access)

	counts := func(f store.QueueFilter) map[store.Tab]int {
		t.Helper()
		f.Now, f.StaffID = queueNow, me
		c, err := s.QueueCounts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// 9,998 closed and 3 open: all exact; all is 10,001, past the cap.
	c := counts(store.QueueFilter{})
	if c[store.TabClosed] != store.CountCap-2 || store.CountCapped(c[store.TabClosed]) {
		t.Errorf("closed under the cap: %d", c[store.TabClosed])
	}
	if c[store.TabAll] != store.CountCap+1 || !store.CountCapped(c[store.TabAll]) {
		t.Errorf("all past the cap: %d", c[store.TabAll])
	}

	addClosed(3, request.Erasure) // 10,001 closed
	c = counts(store.QueueFilter{})
	if !store.CountCapped(c[store.TabClosed]) || c[store.TabClosed] != store.CountCap+1 || c[store.TabAll] != store.CountCap+1 {
		t.Errorf("past the cap: closed %d, all %d", c[store.TabClosed], c[store.TabAll])
	}
	if c[store.TabOpen] != 3 || c[store.TabMine] != 1 || c[store.TabUnassigned] != 2 || c[store.TabOverdue] != 0 {
		t.Errorf("open tabs must stay exact: %v", c)
	}
	// Erasure: 3 closed, 2 open, exact again.
	c = counts(store.QueueFilter{Types: []request.Type{request.Erasure}})
	if c[store.TabClosed] != 3 || c[store.TabAll] != 5 || c[store.TabOpen] != 2 {
		t.Errorf("erasure only: %v", c)
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
