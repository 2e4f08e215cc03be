package store

import (
	"context"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// A time that has not come yet (not confirmed, never paused, not sent) is
// NULL in the database and the zero time in Go, both ways: nothing stores a
// stand-in date that a report, an export or a query on the column would
// take for a real one, and a change that leaves a time alone leaves it.
func TestTimesNotYetReachedAreNullInTheDatabaseAndZeroInGo(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &intakeOutbox{}, testkit.Keys())
	nr := newIntakeRequest("RD-NULL-TIME-0001", "null@example.kz")
	if _, err := s.CreateRequest(ctx, nr); err != nil {
		t.Fatal(err)
	}
	stored := func() (set []string) {
		t.Helper()
		var confirmed, paused, originalDue, identity, sent, attempted, closed bool
		if err := pool.QueryRow(ctx, `SELECT r.confirmed_at IS NOT NULL, r.paused_at IS NOT NULL,
				r.original_due_at IS NOT NULL, r.identity_checked_at IS NOT NULL, r.closed_at IS NOT NULL,
				bool_or(e.sent_at IS NOT NULL), bool_or(e.last_attempt_at IS NOT NULL)
			FROM requests r JOIN emails e ON e.request_id = r.id WHERE r.reference = $1 GROUP BY r.id`, nr.Request.Reference).
			Scan(&confirmed, &paused, &originalDue, &identity, &closed, &sent, &attempted); err != nil {
			t.Fatal(err)
		}
		for name, isSet := range map[string]bool{"confirmed_at": confirmed, "paused_at": paused, "original_due_at": originalDue,
			"identity_checked_at": identity, "closed_at": closed, "sent_at": sent, "last_attempt_at": attempted} {
			if isSet {
				set = append(set, name)
			}
		}
		return set
	}
	if set := stored(); len(set) != 0 {
		t.Errorf("a new request has %v set, want them NULL", set)
	}
	r, err := s.RequestByReference(ctx, nr.Request.Reference)
	if err != nil {
		t.Fatal(err)
	}
	for name, at := range map[string]time.Time{"ConfirmedAt": r.ConfirmedAt, "PausedAt": r.PausedAt,
		"OriginalDueAt": r.OriginalDueAt, "Identity.At": r.Identity.At} {
		if !at.IsZero() {
			t.Errorf("%s of a new request = %v, want the zero time", name, at)
		}
	}
	emails, err := s.EmailsOfRequest(ctx, r.ID)
	if err != nil || len(emails) != 2 {
		t.Fatalf("emails: %d %v", len(emails), err)
	}
	if e := emails[0]; !e.SentAt.IsZero() || !e.LastAttemptAt.IsZero() {
		t.Errorf("an email not sent yet: sent %v, last attempt %v, want zero times", e.SentAt, e.LastAttemptAt)
	}

	// A change with no due date keeps the one there; one with a
	// confirmation time stores it.
	at := nr.Request.ReceivedAt.Add(time.Hour)
	r, err = s.ChangeRequest(ctx, request.RequestKey{ID: r.ID}, func(r request.Request) (request.Change, error) {
		return request.Change{To: request.New, Event: "confirmed", Actor: request.ActorRequester, At: at, ConfirmedAt: at}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err = s.RequestByReference(ctx, nr.Request.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if !r.ConfirmedAt.Equal(at) || !r.DueAt.Equal(nr.Request.DueAt) {
		t.Errorf("after confirming: confirmed %v, due %v; want %v and the due date kept, %v", r.ConfirmedAt, r.DueAt, at, nr.Request.DueAt)
	}
	if set := stored(); len(set) != 1 || set[0] != "confirmed_at" {
		t.Errorf("after confirming, set: %v, want only confirmed_at", set)
	}
	if err := s.MarkEmailsSent(ctx, []int64{emails[0].ID}, at); err != nil {
		t.Fatal(err)
	}
	if sent, err := s.Emails(ctx, []int64{emails[0].ID}); err != nil || len(sent) != 1 || !sent[0].SentAt.Equal(at) {
		t.Errorf("a sent email: %+v %v, want sent at %v", sent, err, at)
	}
}
