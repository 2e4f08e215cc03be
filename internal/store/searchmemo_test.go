package store

import (
	"context"
	"testing"
	"time"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// A search found broad is remembered (search_broad) and believed only
// while no request lost its terms since: through the intake, the purge, a
// request deleted, its terms rewritten and a key rotation, made through one
// store and searched through another, as two instances would, the counts
// are taken exactly whenever the matches are within the cap, and the pages
// list what the rows say.
func TestARememberedBroadSearchIsForgottenWhenItsMatchesFall(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	// Two instances whose cap (2) makes a search of three requests broad,
	// and one that reads every search by id, for what the rows say.
	one := New(pool, &intakeOutbox{}, testkit.Keys())
	other := New(pool, &intakeOutbox{}, testkit.Keys())
	byID := New(pool, &intakeOutbox{}, testkit.Keys())
	for _, s := range []*Store{one, other} {
		s.searchCap, s.searchFence = 2, 3
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	add := func(name string, status request.Status, due time.Duration) int64 {
		t.Helper()
		r := testkit.Req{FullName: name, Status: status, ReceivedAt: now.Add(-400 * day), DueAt: now.Add(due)}
		if !status.Open() {
			r.ClosedAt = now.Add(-300 * day)
		}
		id, err := testkit.AddRequest(ctx, pool, r)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	const name = "широков"
	remembered := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM search_broad`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// check searches through s and wants it broad (no counts) or counted
	// exactly, and every tab listing what a search read by id lists.
	check := func(after string, s *Store, wantBroad bool, wantAll int) {
		t.Helper()
		f := QueueFilter{Now: now, Search: name}
		want, err := byID.QueueCounts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want[TabAll] != wantAll {
			t.Fatalf("after %s: the rows hold %d matches, want %d", after, want[TabAll], wantAll)
		}
		got, err := s.QueueCounts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case wantBroad && !SearchTooBroad(got[TabAll]):
			t.Errorf("after %s: counts %v, want none taken (%d matches, cap 2)", after, got, wantAll)
		case !wantBroad:
			for _, tab := range Tabs() {
				if got[tab] != want[tab] {
					t.Errorf("after %s: the %s tab counts %d, the rows %d", after, tab, got[tab], want[tab])
				}
			}
		}
		for _, tab := range []Tab{TabOpen, TabAll, TabClosed} {
			f.Tab = tab
			if g, w := pagedRefs(t, s, f, 2), pagedRefs(t, byID, f, 2); len(g) != len(w) || (len(g) > 0 && g[0] != w[0]) {
				t.Errorf("after %s: the %s tab lists %v, want %v", after, tab, g, w)
			}
		}
	}

	add("Иван Другой", request.New, day)
	add("Ерлан Широков", request.Completed, 2*day)
	open1 := add("Ерлан Широков", request.New, 3*day)
	add("Айгерим Широкова", request.InProgress, 4*day)
	check("three matches", one, true, 3)
	if remembered() != 1 {
		t.Fatalf("a broad search: %d records, want 1", remembered())
	}
	check("three matches, the other instance", other, true, 3)

	// The intake only adds matches: what was broad stays broad.
	add("Ерлан Широков", request.New, 5*day)
	check("an intake", other, true, 4)

	// The purge empties the closed request's terms: 3 left, still broad.
	if _, err := other.PurgePersonalData(ctx, now.Add(-200*day), now, 100); err != nil {
		t.Fatal(err)
	}
	check("the purge", one, true, 3)

	// A request deleted: 2 left, within the cap, counted exactly by either.
	if _, err := pool.Exec(ctx, `DELETE FROM requests WHERE id = $1`, open1); err != nil {
		t.Fatal(err)
	}
	check("a deletion", one, false, 2)
	check("a deletion, the other instance", other, false, 2)

	// Broad again, remembered again; then a request's terms rewritten (a
	// name corrected) takes it back under the cap.
	corrected := add("Ерлан Широков", request.New, 6*day)
	check("another intake", other, true, 3)
	if _, err := pool.Exec(ctx, `UPDATE requests SET search_index = '{}' WHERE id = $1`, corrected); err != nil {
		t.Fatal(err)
	}
	check("a correction", one, false, 2)

	// A record of an epoch gone by is not believed, even where it names
	// this very search: the search is read again.
	add("Ерлан Широков", request.New, 7*day)
	check("a third intake", one, true, 3)
	if _, err := pool.Exec(ctx, `UPDATE search_broad SET epoch = epoch - 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM requests WHERE id = (SELECT max(id) FROM requests)`); err != nil {
		t.Fatal(err)
	}
	check("a stale record and a deletion", other, false, 2)

	// A key rotation re-seals every request's terms from its sealed data
	// (the corrected one's come back: 4 matches): a store on the new keys
	// finds them, and one still on the old key alone,
	// whose broad search was remembered, finds what its terms now match:
	// nothing.
	add("Ерлан Широков", request.New, 8*day)
	check("a fourth intake", one, true, 3)
	both, err := keyring.Parse(keyring.Generate() + "," + testkit.EncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(pool, nil, both).Rotate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rotated := New(pool, &intakeOutbox{}, both)
	rotated.searchCap, rotated.searchFence = 2, 3
	byID = New(pool, &intakeOutbox{}, both)
	check("the rotation, on the new keys", rotated, true, 4)
	if c, err := one.QueueCounts(ctx, QueueFilter{Now: now, Search: name}); err != nil || c[TabAll] != 0 {
		t.Errorf("after the rotation, on the old key alone: counts %v (%v), want none found", c, err)
	}
}

// A second transaction that removes terms moves the epoch once, at its
// commit, and one that only adds moves nothing.
func TestOnlyRemovalsMoveTheSearchEpoch(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	epoch := func() int64 {
		t.Helper()
		var e int64
		if err := pool.QueryRow(ctx, `SELECT coalesce((SELECT epoch FROM search_epoch), 0)`).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var ids []int64
	for range 3 {
		id, err := testkit.AddRequest(ctx, pool, testkit.Req{FullName: "Ерлан Широков", Status: request.New, ReceivedAt: now, DueAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if e := epoch(); e != 0 {
		t.Fatalf("after intakes alone the epoch is %d, want 0", e)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE requests SET search_index = '{}' WHERE id = ANY($1)`, ids[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE requests SET assignee_id = NULL WHERE id = $1`, ids[2]); err != nil {
		t.Fatal(err)
	}
	if e := epoch(); e != 0 {
		t.Fatalf("before the commit another connection reads epoch %d, want 0", e)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if e := epoch(); e != 1 {
		t.Fatalf("after one transaction rewrote two requests' terms the epoch is %d, want 1", e)
	}
}
