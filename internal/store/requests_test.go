package store

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// intakeOutbox describes the real delivery job (jobs.DeliverEmailArgs) for
// the intake's statement; jobs cannot be imported here (it imports store).
type intakeOutbox struct{ countingOutbox }

func (*intakeOutbox) DeliveryJob() DeliveryJob {
	return DeliveryJob{Kind: "deliver_email", Queue: "email", MaxAttempts: 500, IDsField: "email_ids"}
}

func newIntakeRequest(reference, email string) request.NewRequest {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	mail := func(kind, to string) request.OutboxEmail {
		return request.OutboxEmail{Kind: kind, MessageID: reference + "." + kind + "@test", To: to, Locale: "ru",
			Subject: reference, Text: "text", HTML: "<p>html</p>"}
	}
	return request.NewRequest{
		Request: request.Request{
			Reference: reference, Type: request.Erasure, Status: request.Unverified, Locale: "ru",
			ReceivedAt: at, DueAt: at.AddDate(0, 0, 30), Rule: "default.erasure", RuleBasis: "received",
			FullName: "Айгерим Нурланқызы", Email: email,
		},
		StatusTokenHash:  []byte(reference + "-status"),
		ConfirmTokenHash: []byte(reference + "-confirm"),
		ConfirmExpiresAt: at.Add(7 * 24 * time.Hour),
		Emails:           []request.OutboxEmail{mail(request.EmailAcknowledgement, email), mail(request.EmailStaffNew, "dpo@example.kz")},
	}
}

// The intake is one statement: when any part of it fails (here the
// reference, drawn again by the caller), none of it is stored: no request,
// no event, no link, no email and no delivery job.
func TestAFailedIntakeStoresNothing(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &intakeOutbox{}, testkit.Keys())
	count := func() (n [6]int) {
		for i, table := range []string{"requests", "events", "status_links", "confirmations", "emails", "river_job"} {
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n[i]); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	first, err := s.CreateRequest(ctx, newIntakeRequest("RD-AAAA-BBBB-CCCC", "first@example.kz"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := count(), [6]int{1, 1, 1, 1, 2, 1}; got != want {
		t.Fatalf("rows after one intake (requests, events, links, confirmations, emails, jobs) = %v, want %v", got, want)
	}
	var args string
	if err := pool.QueryRow(ctx, `SELECT args::text FROM river_job`).Scan(&args); err != nil {
		t.Fatal(err)
	}
	var ids [2]int64
	if err := pool.QueryRow(ctx, `SELECT min(id), max(id) FROM emails WHERE request_id = $1`, first.ID).Scan(&ids[0], &ids[1]); err != nil {
		t.Fatal(err)
	}
	if want := `{"email_ids": [` + strconv.FormatInt(ids[0], 10) + `, ` + strconv.FormatInt(ids[1], 10) + `]}`; args != want {
		t.Errorf("the delivery job's arguments %s, want %s", args, want)
	}

	second := newIntakeRequest("RD-AAAA-BBBB-CCCC", "second@example.kz")
	second.StatusTokenHash, second.ConfirmTokenHash = []byte("other-status"), []byte("other-confirm")
	if _, err := s.CreateRequest(ctx, second); !errors.Is(err, request.ErrReferenceTaken) {
		t.Fatalf("a taken reference: %v, want ErrReferenceTaken", err)
	}
	if got, want := count(), [6]int{1, 1, 1, 1, 2, 1}; got != want {
		t.Errorf("rows after the failed intake = %v, want them unchanged %v", got, want)
	}
}

// The delivery worker records each sent email as an event of its request;
// the insert holds a key-share lock on the request until it commits. An
// expiry sweep running at that moment must still see the request: with a
// FOR UPDATE lock, SKIP LOCKED passed it over until the next sweep.
func TestAnEmailBeingRecordedDoesNotHideARequestFromTheExpirySweep(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := New(pool, &intakeOutbox{}, testkit.Keys())
	nr := newIntakeRequest("RD-AAAA-BBBB-DDDD", "late@example.kz")
	r, err := s.CreateRequest(ctx, nr)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	if err := pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY id) FROM emails WHERE request_id = $1`, r.ID).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	// The worker's MarkEmailsSent, caught before its commit.
	worker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = worker.Rollback(ctx) }()
	if _, err := worker.Exec(ctx, `INSERT INTO events (request_id, kind, actor, data, created_at)
		VALUES ($1, 'email_sent', 'system', '{}', $2)`, r.ID, nr.Request.ReceivedAt); err != nil {
		t.Fatal(err)
	}

	after := nr.ConfirmExpiresAt.Add(time.Second)
	n, err := s.ExpireUnconfirmed(ctx, after, 100, func(r request.Request) (request.Change, error) {
		return request.Change{To: request.Expired, Event: "expired", Actor: request.ActorSystem, At: after}, nil
	})
	if err != nil || n != 1 {
		t.Fatalf("sweep while an email is being recorded: %d %v, want 1", n, err)
	}
	if err := worker.Commit(ctx); err != nil {
		t.Fatalf("the worker's record after the sweep: %v", err)
	}
	var status string
	if err := pool.QueryRow(ctx, `SELECT status FROM requests WHERE id = $1`, r.ID).Scan(&status); err != nil || status != "expired" {
		t.Errorf("status %q %v, want expired", status, err)
	}
}
