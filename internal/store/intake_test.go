package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// A request is a possible duplicate of the oldest open request of the same
// address and right, whichever keys sealed them; another right, another
// address or a closed request makes none. The lookup is one probe of
// requests_email_index_idx (migration 00028), which this checks stays right.
func TestAPossibleDuplicatePointsAtTheOldestOpenRequestOfItsAddressAndRight(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &intakeOutbox{}, testkit.Keys())
	n := 0
	submit := func(s *Store, email string, typ request.Type) request.Request {
		t.Helper()
		n++
		nr := newIntakeRequest(fmt.Sprintf("RD-DUPE-%04d-AAAA", n), email)
		nr.Request.Type = typ
		nr.StatusTokenHash, nr.ConfirmTokenHash = fmt.Appendf(nil, "status-%d", n), fmt.Appendf(nil, "confirm-%d", n)
		for i := range nr.Emails {
			nr.Emails[i].MessageID = fmt.Sprintf("%d.%d@test", n, i)
		}
		r, err := s.CreateRequest(ctx, nr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	storedDuplicateOf := func(id int64) (dup int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT coalesce(duplicate_of, 0) FROM requests WHERE id = $1`, id).Scan(&dup); err != nil {
			t.Fatal(err)
		}
		return dup
	}

	first := submit(s, "aigerim@example.kz", request.Erasure)
	if first.DuplicateOf != 0 {
		t.Errorf("the first request is a duplicate of %d", first.DuplicateOf)
	}
	// Many open requests of one address: each later one points at the first.
	var later []request.Request
	for range 30 {
		later = append(later, submit(s, "Aigerim@Example.kz", request.Erasure))
	}
	for _, r := range later {
		if r.DuplicateOf != first.ID || storedDuplicateOf(r.ID) != first.ID {
			t.Fatalf("request %d: duplicate of %d (stored %d), want the oldest, %d", r.ID, r.DuplicateOf, storedDuplicateOf(r.ID), first.ID)
		}
	}
	if r := submit(s, "aigerim@example.kz", request.Access); r.DuplicateOf != 0 {
		t.Errorf("another right of the same address: duplicate of %d, want none", r.DuplicateOf)
	}
	if r := submit(s, "erlan@example.kz", request.Erasure); r.DuplicateOf != 0 {
		t.Errorf("another address: duplicate of %d, want none", r.DuplicateOf)
	}

	// Once the oldest is closed, the oldest still open is the one.
	if _, err := pool.Exec(ctx, `UPDATE requests SET status = 'completed', closed_at = received_at WHERE id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	if r := submit(s, "aigerim@example.kz", request.Erasure); r.DuplicateOf != later[0].ID {
		t.Errorf("with the oldest closed: duplicate of %d, want the oldest open, %d", r.DuplicateOf, later[0].ID)
	}
	if _, err := pool.Exec(ctx, `UPDATE requests SET status = 'completed', closed_at = received_at WHERE email_index IS NOT NULL AND type = 'erasure'`); err != nil {
		t.Fatal(err)
	}
	if r := submit(s, "aigerim@example.kz", request.Erasure); r.DuplicateOf != 0 {
		t.Errorf("with all of them closed: duplicate of %d, want none", r.DuplicateOf)
	}

	// While keys rotate, a request stored under the old key is still found
	// by one stored under the new one.
	oldKey, newKey := bytes.Repeat([]byte{7}, keyring.KeySize), bytes.Repeat([]byte{9}, keyring.KeySize)
	before, err := keyring.New(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	rotating, err := keyring.New(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	underOld := submit(New(pool, &intakeOutbox{}, before), "rotating@example.kz", request.Objection)
	if r := submit(New(pool, &intakeOutbox{}, rotating), "rotating@example.kz", request.Objection); r.DuplicateOf != underOld.ID {
		t.Errorf("under the new key: duplicate of %d, want the request stored under the old one, %d", r.DuplicateOf, underOld.ID)
	}
}
