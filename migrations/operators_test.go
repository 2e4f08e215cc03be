package migrations_test

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/jobs"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
	"rightsdesk/migrations"
)

// newRequest is a submission as the intake hands it to the store.
func newRequest(reference, email string, at time.Time) request.NewRequest {
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

// TestUpgradeKeepsEveryRequestUnderTheDefaultOperator: a database made by
// the migrations before operators (up to 00036), with requests seeded in
// bulk, upgrades with every row under the default operator, every store call
// still finds what it found, and the intake's requests join them.
func TestUpgradeKeepsEveryRequestUnderTheDefaultOperator(t *testing.T) {
	ctx := context.Background()
	pool := testkit.EmptyDB(t)
	logger := slog.New(slog.DiscardHandler)
	if err := migrations.UpTo(ctx, pool, logger, testkit.Keys(), 36); err != nil {
		t.Fatal(err)
	}
	outbox, err := jobs.NewOutbox(pool)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, outbox, testkit.Keys())
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	staffID, err := testkit.AddStaff(ctx, pool, "Дана", "dana@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := testkit.SeedRequests(ctx, pool, 300, testkit.SeedOptions{Now: at, Seed: 15})
	if err != nil {
		t.Fatal(err)
	}
	// Today's queue names the operator's column, which a database of 00036
	// does not have yet: what it held is read as rows, and the store's queue
	// must list exactly those after the upgrade.
	before := referencesIn(t, pool)

	if err := migrations.Up(ctx, pool, logger, testkit.Keys()); err != nil {
		t.Fatal(err)
	}
	// What the store lists is what it listed before the upgrade, whether
	// scoped to the default operator or, while it is the only one, not.
	for name, s := range map[string]*store.Store{"unscoped": st, "default operator": st.For(operator.DefaultID)} {
		var after []string
		page := store.Page{Limit: store.MaxPageSize}
		for {
			got, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Now: at}, page)
			if err != nil {
				t.Fatalf("%s: queue: %v", name, err)
			}
			after = append(after, refs(got.Rows)...)
			if got.Next == "" || len(after) > len(before) {
				break
			}
			page.After = got.Next
		}
		slices.Sort(after)
		if !reflect.DeepEqual(after, before) {
			t.Errorf("%s: the queue lists %d requests after the upgrade, the database held %d before", name, len(after), len(before))
		}
	}
	// The store's intake statement is today's: it writes columns of later
	// migrations (each row's operator_id, 00037), so its requests are taken
	// in after the upgrade; the rows the upgrade itself moves are the seeded
	// requests, events and emails.
	for _, ref := range []string{"RD-AAAA-BBBB-CCCC", "RD-DDDD-EEEE-FFFF"} {
		if _, err := st.CreateRequest(ctx, newRequest(ref, "aigerim@example.kz", at)); err != nil {
			t.Fatalf("intake after the upgrade: %v", err)
		}
	}

	for _, table := range []string{"requests", "events", "emails", "confirmations", "status_links"} {
		var all, others int
		if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE operator_id <> 1) FROM `+table).Scan(&all, &others); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if all == 0 || others != 0 {
			t.Errorf("%s: %d rows, %d of them not the default operator's", table, all, others)
		}
	}
	var requests int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&requests); err != nil || requests != 302 {
		t.Errorf("%d requests after the upgrade (%v), want 302", requests, err)
	}
	var slug, role string
	if err := pool.QueryRow(ctx, `SELECT o.slug, m.role FROM staff_operators m JOIN operators o ON o.id = m.operator_id WHERE m.staff_id = $1`, staffID).Scan(&slug, &role); err != nil || slug != operator.DefaultSlug || role != "agent" {
		t.Errorf("the agent's membership after the upgrade: %q %q (%v), want an agent of %q", slug, role, err, operator.DefaultSlug)
	}

	// Every store call answers as before, whether scoped to the default
	// operator or, while it is the only one, not scoped at all.
	for name, s := range map[string]*store.Store{"unscoped": st, "default operator": st.For(operator.DefaultID)} {
		r, err := s.RequestByReference(ctx, "RD-AAAA-BBBB-CCCC")
		if err != nil || r.Email != "aigerim@example.kz" {
			t.Fatalf("%s: the request by reference: %+v, %v", name, r, err)
		}
		found, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Now: at, Search: "aigerim@example.kz"}, store.Page{})
		if err != nil || len(found.Rows) != 2 {
			t.Errorf("%s: search by address found %d (%v), want the 2 requests", name, len(found.Rows), err)
		}
		timeline, err := s.Timeline(ctx, r.ID)
		if err != nil || len(timeline) == 0 {
			t.Errorf("%s: timeline: %d entries, %v", name, len(timeline), err)
		}
		emails, err := s.EmailsOfRequest(ctx, r.ID)
		if err != nil || len(emails) != 2 {
			t.Errorf("%s: emails: %d, %v", name, len(emails), err)
		}
		if _, err := s.RequestByReference(ctx, mustReference(t, pool, seeded.LastID)); err != nil {
			t.Errorf("%s: a seeded request: %v", name, err)
		}
	}
	// A request taken after the upgrade joins them.
	if _, err := st.CreateRequest(ctx, newRequest("RD-GGGG-HHHH-JJJJ", "aigerim@example.kz", at.Add(time.Hour))); err != nil {
		t.Fatalf("intake after the upgrade: %v", err)
	}
	var op int64
	if err := pool.QueryRow(ctx, `SELECT operator_id FROM requests WHERE reference = 'RD-GGGG-HHHH-JJJJ'`).Scan(&op); err != nil || op != operator.DefaultID {
		t.Errorf("a request after the upgrade belongs to operator %d (%v), want the default", op, err)
	}

	// An operators file then adds an operator: the default one keeps the
	// deployment's keys, so what it held before opens and is found as
	// before, and the new operator's keys, its own, find none of it.
	ids, err := st.RecordOperators(ctx, []string{"flextok"})
	if err != nil {
		t.Fatal(err)
	}
	def, flex := st.For(operator.DefaultID), st.For(ids["flextok"])
	if r, err := def.RequestByReference(ctx, "RD-AAAA-BBBB-CCCC"); err != nil || r.Email != "aigerim@example.kz" {
		t.Errorf("with a second operator, the default's request by reference: %q, %v", r.Email, err)
	}
	if found, err := def.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Now: at, Search: "aigerim@example.kz"}, store.Page{}); err != nil || len(found.Rows) != 3 {
		t.Errorf("with a second operator, the default's search by address found %d (%v), want its 3 requests", len(found.Rows), err)
	}
	if _, err := flex.CreateRequest(ctx, newRequest("RD-KKKK-MMMM-NNNN", "aigerim@example.kz", at.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if found, err := flex.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Now: at, Search: "aigerim@example.kz"}, store.Page{}); err != nil || len(found.Rows) != 1 || found.Rows[0].Reference != "RD-KKKK-MMMM-NNNN" {
		t.Errorf("the new operator's search by address found %v (%v), want its own request only", found.Rows, err)
	}
}

func mustReference(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var ref string
	if err := pool.QueryRow(context.Background(), `SELECT reference FROM requests WHERE id = $1`, id).Scan(&ref); err != nil {
		t.Fatalf("request %d: %v", id, err)
	}
	return ref
}

// refs are the references of rows, in order.
// referencesIn is every request's reference the database holds, sorted.
func referencesIn(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT reference FROM requests ORDER BY reference`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func refs(rows []store.QueueRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Reference
	}
	return out
}
