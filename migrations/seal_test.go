package migrations_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
	"rightsdesk/migrations"
)

// TestUpgradeSealsWhatWasStoredInTheClear: an installation from before
// encryption at rest upgrades with its data intact: every personal value
// sealed, the clear columns gone, the reasons staff typed moved out of the
// event log, and everything readable and searchable through the store.
func TestUpgradeSealsWhatWasStoredInTheClear(t *testing.T) {
	ctx := context.Background()
	pool := testkit.EmptyDB(t)
	logger := slog.New(slog.DiscardHandler)
	if err := migrations.UpTo(ctx, pool, logger, nil, 13); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var id, eventID int64
	err := pool.QueryRow(ctx, `INSERT INTO requests (reference, type, status, locale, received_at, due_at,
		deadline_rule, full_name, email, phone, details, updated_at)
		VALUES ('RD-AAAA-BBBB-CCCC', 'access', 'in_progress', 'kk', $1, $1::timestamptz + interval '30 days',
			'default.calendar_30d', 'Әлия Жұмабекова', 'Aliya@Example.kz', '+7 701 123 45 67', 'Менің деректерім', $1)
		RETURNING id`, at).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO messages (request_id, author, body, created_at) VALUES ($1, 'requester', 'Міне құжат', $2)`,
		`INSERT INTO files (request_id, purpose, name, content_type, size, sha256, content, created_at)
			VALUES ($1, 'proof', 'kualik.pdf', 'application/pdf', 4, '\x01', '%PDF', $2)`,
		`WITH e AS (INSERT INTO events (request_id, kind, actor, data, created_at)
			VALUES ($1, 'received', 'requester', '{}', $2) RETURNING id)
		 INSERT INTO emails (request_id, event_id, kind, recipient, locale, message_id, subject, body_text, body_html, secrets, created_at)
			SELECT $1, id, 'acknowledgement', 'Aliya@Example.kz', 'kk', 'm1@x', 'Өтініш қабылданды', 'Сәлем, Әлия', '<p>Сәлем</p>', '{"status": "tok"}', $2 FROM e`,
	} {
		if _, err := pool.Exec(ctx, stmt, id, at); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := pool.QueryRow(ctx, `INSERT INTO events (request_id, kind, actor, data, created_at)
		VALUES ($1, 'extended', 'staff', '{"reason": "Жұмабекова көп жүйеде", "due_at": "2026-05-01T00:00:00Z"}', $2) RETURNING id`,
		id, at).Scan(&eventID); err != nil {
		t.Fatal(err)
	}

	// Without a key the upgrade stops, saying why, and changes nothing.
	if err := migrations.Up(ctx, pool, logger, nil); err == nil || !strings.Contains(err.Error(), "ENCRYPTION_KEY") {
		t.Fatalf("upgrade without a key: %v", err)
	}
	var clear int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM requests WHERE full_name = 'Әлия Жұмабекова'`).Scan(&clear); err != nil || clear != 1 {
		t.Fatalf("the refused upgrade changed the data: %d, %v", clear, err)
	}

	if err := migrations.Up(ctx, pool, logger, testkit.Keys()); err != nil {
		t.Fatal(err)
	}
	var dump string
	if err := pool.QueryRow(ctx, `SELECT concat_ws(' ', (SELECT row_to_json(r)::text FROM requests r),
		(SELECT json_agg(m)::text FROM messages m), (SELECT json_agg(e)::text FROM emails e),
		(SELECT json_agg(e)::text FROM events e), (SELECT json_agg(f)::text FROM files f))`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Жұмабекова", "Aliya", "123 45 67", "Менің", "Міне", "kualik", "Сәлем", "tok"} {
		if strings.Contains(dump, s) {
			t.Errorf("%q is still in the clear after the upgrade", s)
		}
	}
	s := store.New(pool, nil, testkit.Keys())
	r, err := s.RequestByReference(ctx, "RD-AAAA-BBBB-CCCC")
	if err != nil {
		t.Fatal(err)
	}
	if r.FullName != "Әлия Жұмабекова" || r.Email != "Aliya@Example.kz" || r.Details != "Менің деректерім" {
		t.Errorf("read back %q %q %q", r.FullName, r.Email, r.Details)
	}
	msgs, err := s.Messages(ctx, id)
	if err != nil || len(msgs) != 1 || msgs[0].Body != "Міне құжат" {
		t.Errorf("messages %+v, %v", msgs, err)
	}
	emails, err := s.EmailsOfRequest(ctx, id)
	if err != nil || len(emails) != 1 || emails[0].To != "Aliya@Example.kz" || emails[0].Secrets["status"] != "tok" {
		t.Errorf("emails %+v, %v", emails, err)
	}
	events, err := s.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var reason string
	for _, e := range events {
		if e.ID == eventID {
			reason = e.Text
			if _, ok := e.Data["reason"]; ok || e.Data["due_at"] != "2026-05-01T00:00:00Z" {
				t.Errorf("the extension event after the move: %v", e.Data)
			}
		}
	}
	if reason != "Жұмабекова көп жүйеде" {
		t.Errorf("the extension's reason after the move: %q", reason)
	}
	for _, q := range []string{"әлия", "жұмабек", "aliya@example.kz", "87011234567"} {
		page, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Search: q}, store.Page{Limit: 10})
		if err != nil || len(page.Rows) != 1 {
			t.Errorf("search %q after the upgrade: %d rows, %v", q, len(page.Rows), err)
		}
	}
	// The log is strictly append-only again.
	if _, err := pool.Exec(ctx, `UPDATE events SET data = '{}' WHERE id = $1`, eventID); err == nil {
		t.Error("the event log accepts updates after the upgrade")
	}
	var pgErr interface{ SQLState() string }
	if _, err := pool.Exec(ctx, `DELETE FROM events`); !errors.As(err, &pgErr) {
		t.Errorf("delete from the log: %v", err)
	}
}
