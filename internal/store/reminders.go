package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/reminder"
	"rightsdesk/internal/request"
)

// ReminderCandidate is a confirmed open request due before a sweep's
// horizon, with the person its reminder goes to.
type ReminderCandidate struct {
	RequestID int64
	Reference string
	Type      request.Type
	DueAt     time.Time
	// The assignee, when there is one and the account is active. StaffID 0
	// sends the reminder to the privacy contact, so that nothing assigned to
	// a disabled account goes unreminded.
	StaffID     int64
	StaffName   string
	StaffEmail  string
	StaffLocale request.Locale
	// Reminded is the ledger's key for the request: the most urgent
	// reminder sent, "" when none was (reminder.Covers says what it holds
	// back).
	Reminded string
}

// reminderCandidatesQuery selects the candidates ($1 the horizon) through
// requests_remind_due_idx (migrations 00008, 00080), index-only, with the
// ledger's row of each (00090) by its primary key. Only remindedStatuses
// count: an unverified request has no confirmed requester yet, and closed
// ones need no answer.
var reminderCandidatesQuery = `
	SELECT r.id, r.reference, r.type, r.due_at,
		coalesce(a.id, 0), coalesce(a.name, ''), coalesce(a.email, ''), coalesce(a.locale, ''),
		coalesce(l.threshold, '')
	FROM requests r LEFT JOIN staff a ON a.id = r.assignee_id AND a.disabled_at IS NULL
		LEFT JOIN reminders l ON l.request_id = r.id
	WHERE ` + remindedStatuses + ` AND r.due_at <= $1
	ORDER BY r.due_at, r.id`

// ReminderCandidates lists the confirmed open requests due at or before
// horizon (overdue ones included), earliest first.
//
// The selection runs with JIT compilation off (withoutJIT).
func (s *Store) ReminderCandidates(ctx context.Context, horizon time.Time) ([]ReminderCandidate, error) {
	var out []ReminderCandidate
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := withoutJIT(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, reminderCandidatesQuery, horizon)
		if err != nil {
			return fmt.Errorf("select reminder candidates: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReminderCandidate, error) {
			var c ReminderCandidate
			err := row.Scan(&c.RequestID, &c.Reference, &c.Type, &c.DueAt,
				&c.StaffID, &c.StaffName, &c.StaffEmail, &c.StaffLocale, &c.Reminded)
			return c, err
		})
		if err != nil {
			return fmt.Errorf("read reminder candidates: %w", err)
		}
		return nil
	})
	return out, err
}

// withoutJIT turns JIT compilation off for the rest of tx. The sweep's
// statements read and write a few thousand rows by key, but PostgreSQL
// prices every row they may touch with the operator policy's lookup
// (00038) and, at a million requests, expects tens of thousands: above
// jit_optimize_above_cost, it compiled the selection for 1.1 s (at 200,000
// requests, docs/benchmarks.md) to run it in 25 ms. Local to the
// transaction: nothing else the connection runs is changed.
func withoutJIT(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return fmt.Errorf("turn JIT off: %w", err)
	}
	return nil
}

// ReminderClaim is a reminder a sweep means to send: the ledger key it is
// recorded under.
type ReminderClaim struct {
	RequestID int64
	Key       string
}

// ReminderDigest is one recipient's share of a sweep.
type ReminderDigest struct {
	StaffID int64 // 0: the privacy contact
	Claims  []ReminderClaim
}

// reminderClaimQuery claims a digest's reminders in the ledger
// (RecordReminders): $1 the requests, $2 their keys, $3 the keys'
// reminder.Urgency, $4 the instant.
var reminderClaimQuery = `
	WITH r AS (
		SELECT r.id, r.operator_id FROM requests r WHERE r.id = ANY($1::bigint[]) AND ` + remindedStatuses + `
	)
	INSERT INTO reminders AS l (request_id, threshold, urgency, reminded_at, operator_id)
	SELECT u.id, u.k, u.urgency, $4, r.operator_id
	FROM unnest($1::bigint[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(id, k, urgency, n)
	JOIN r ON r.id = u.id
	ORDER BY u.n
	ON CONFLICT (request_id) DO UPDATE
		SET threshold = excluded.threshold, urgency = excluded.urgency, reminded_at = excluded.reminded_at
		WHERE l.urgency < excluded.urgency
	RETURNING request_id, threshold`

// RecordReminders claims the digest's reminders in the ledger and, for the
// claims it wins, records the digest email compose renders (with its
// delivery job), a "reminder_digest" event for the email and a "reminded"
// event on each request, all in one transaction. It returns the claims won.
//
// The ledger holds one row per request: its most urgent key and that key's
// reminder.Urgency (migration 00090). A claim is INSERT ... ON CONFLICT
// (request_id) DO UPDATE ... WHERE the row's urgency is below the key's,
// RETURNING: it is won when the request has no row, or only a less urgent
// key, and then the row holds the new key. Another sweep's row, committed,
// fails the WHERE; one another sweep is writing makes the insert wait for
// that transaction, and PostgreSQL then applies the WHERE to the row it
// committed. Urgency never falls, so two sweeps at the same instant, on two
// instances, or a retry after a crash put each key in one digest only, and
// a threshold passed by a more urgent key is never sent later (Covers).
// Each request is looked up once, by its key (= ANY of the digest's
// requests): joined to requests with no condition of its own, the planner
// hashed every open request for each digest.
// Requests are claimed in id order in every sweep, so two sweeps wait for
// each other in one direction and never deadlock. A request closed since it
// was selected is not claimed.
//
// compose is not called, and nothing is written, when no claim is won.
// Delivery is the outbox's: the email row and its job commit with the
// ledger rows, and a crash after SMTP accepted the message but before that
// was recorded sends it again with the same Message-ID, so a reminder is
// never lost and at worst repeated once.
func (s *Store) RecordReminders(ctx context.Context, at time.Time, d ReminderDigest,
	compose func(won []ReminderClaim) (request.OutboxEmail, error)) ([]ReminderClaim, error) {
	// One claim per request (ON CONFLICT DO UPDATE may touch a row once a
	// statement), the most urgent if the caller named a request twice.
	type claim struct {
		ReminderClaim
		urgency int
	}
	claims := make([]claim, 0, len(d.Claims))
	for _, c := range d.Claims {
		u, err := reminder.Urgency(c.Key)
		if err != nil {
			return nil, fmt.Errorf("claim reminders: %w", err)
		}
		claims = append(claims, claim{c, u})
	}
	slices.SortFunc(claims, func(a, b claim) int {
		return cmp.Or(cmp.Compare(a.RequestID, b.RequestID), cmp.Compare(b.urgency, a.urgency))
	})
	claims = slices.CompactFunc(claims, func(a, b claim) bool { return a.RequestID == b.RequestID })
	ids := make([]int64, len(claims))
	keys := make([]string, len(claims))
	urgencies := make([]int64, len(claims))
	for i, c := range claims {
		ids[i], keys[i], urgencies[i] = c.RequestID, c.Key, int64(c.urgency)
	}
	primary := make(map[ReminderClaim]bool, len(claims))
	for _, c := range claims {
		primary[c.ReminderClaim] = true
	}

	var won []ReminderClaim
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		won = nil
		if err := withoutJIT(ctx, tx); err != nil {
			return err
		}
		// The operator is the request's, read with it, rather than the
		// column's default: that is a function call per row.
		claimed, err := tx.Query(ctx, reminderClaimQuery, ids, keys, urgencies, at)
		if err != nil {
			return fmt.Errorf("claim reminders: %w", err)
		}
		var c ReminderClaim
		_, err = pgx.ForEachRow(claimed, []any{&c.RequestID, &c.Key}, func() error {
			if primary[c] {
				won = append(won, c)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("claim reminders: %w", err)
		}
		if len(won) == 0 {
			return nil
		}
		// Back in the digest's order (the caller's), not the ledger's.
		order := make(map[ReminderClaim]int, len(d.Claims))
		for i, c := range d.Claims {
			if _, seen := order[c]; !seen {
				order[c] = i
			}
		}
		slices.SortFunc(won, func(a, b ReminderClaim) int { return cmp.Compare(order[a], order[b]) })

		email, err := compose(won)
		if err != nil {
			return err
		}
		return s.recordDigest(ctx, tx, at, d.StaffID, email, won)
	})
	if err != nil {
		return nil, err
	}
	return won, nil
}

// recordDigest writes a digest's email and its events in one statement: a
// "reminder_digest" event, the email (for the outbox, with its delivery
// job) and a "reminded" event on each request, naming the threshold and the
// email, in the order of won. Every row takes the digest event's operator,
// and the email is joined rather than looked up again for each event.
func (s *Store) recordDigest(ctx context.Context, tx pgx.Tx, at time.Time, staffID int64,
	email request.OutboxEmail, won []ReminderClaim) error {
	data := map[string]any{"reminders": len(won)}
	if staffID != 0 {
		data["staff_id"] = staffID
	}
	eventData, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode reminder_digest event data: %w", err)
	}
	var m outboxRows
	if err := m.add(s.keys, []request.OutboxEmail{email}); err != nil {
		return err
	}
	ids := make([]int64, len(won))
	keys := make([]string, len(won))
	for i, c := range won {
		ids[i], keys[i] = c.RequestID, c.Key
	}
	var emailID int64
	err = tx.QueryRow(ctx, `
		WITH digest AS (
			INSERT INTO events (kind, actor, data, created_at)
			VALUES ('reminder_digest', 'system', $1, $2)
			RETURNING id, operator_id
		), email AS (
			INSERT INTO emails (event_id, kind, locale, message_id, sealed, secrets, created_at, operator_id)
			SELECT d.id, $3, $4, $5, $6, $7, $2, d.operator_id FROM digest d
			RETURNING id, operator_id
		), reminded AS (
			INSERT INTO events (request_id, kind, actor, data, created_at, operator_id)
			SELECT u.id, 'reminded', 'system', jsonb_build_object('threshold', u.k, 'email_id', m.id), $2, m.operator_id
			FROM email m, unnest($8::bigint[], $9::text[]) WITH ORDINALITY AS u(id, k, n)
			ORDER BY u.n
		)
		SELECT id FROM email`,
		eventData, at, m.kind[0], m.locale[0], m.messageID[0], m.sealed[0], m.secrets[0], ids, keys).Scan(&emailID)
	if err != nil {
		return fmt.Errorf("record reminder digest: %w", err)
	}
	if err := s.outbox.EnqueueEmails(s.pool.scope(ctx), tx, []int64{emailID}); err != nil {
		return fmt.Errorf("enqueue emails: %w", err)
	}
	return nil
}
