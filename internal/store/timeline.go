package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
)

// TimelineEvent is a logged event with the member of staff behind it.
type TimelineEvent struct {
	Event
	ActorID   int64
	ActorName string // the staff member's name for staff events
}

// TimelineEntry is one line of a request's staff timeline: exactly one of
// Event, Email and Note is set.
type TimelineEntry struct {
	At    time.Time
	Event *TimelineEvent
	Email *Email
	Note  *Note
}

// Timeline merges a request's events, emails and notes in time order. An
// email comes right after the event that caused it, and a note stands in
// for its note_added event.
func (s *Store) Timeline(ctx context.Context, requestID int64) ([]TimelineEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+eventColumns+`, coalesce(e.actor_id, 0), coalesce(s.name, 'API: ' || k.name, '')
		`+eventFrom+` LEFT JOIN staff s ON s.id = e.actor_id AND e.actor = 'staff'
			LEFT JOIN api_keys k ON e.actor = 'staff' AND e.actor_id IS NULL AND k.id = (e.data->>'api_key_id')::bigint
		WHERE e.request_id = $1 ORDER BY e.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list timeline events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TimelineEvent, error) {
		var e TimelineEvent
		err := s.scanEvent(row, &e.Event, &e.ActorID, &e.ActorName)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read timeline events: %w", err)
	}
	emails, err := s.EmailsOfRequest(ctx, requestID)
	if err != nil {
		return nil, err
	}
	notes, err := s.Notes(ctx, requestID)
	if err != nil {
		return nil, err
	}
	// Each email and note sits right after the event that recorded it, even
	// when many things share one instant (a batch, or a test's frozen clock).
	rows, err = s.pool.Query(ctx, `SELECT id, event_id FROM emails WHERE request_id = $1`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list email events: %w", err)
	}
	emailEvent := map[int64]int64{}
	var emailID, eventID int64
	if _, err := pgx.ForEachRow(rows, []any{&emailID, &eventID}, func() error {
		emailEvent[emailID] = eventID
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read email events: %w", err)
	}
	noteEvent := map[int64]int64{}
	type ranked struct {
		entry                TimelineEntry
		anchor, rank, itemID int64
	}
	all := make([]ranked, 0, len(events)+len(emails)+len(notes))
	for i := range events {
		e := &events[i]
		if e.Kind == "note_added" {
			// Shown as the note itself, with its author and text.
			if f, ok := e.Data["note_id"].(float64); ok {
				noteEvent[int64(f)] = e.ID
				continue
			}
		}
		all = append(all, ranked{TimelineEntry{At: e.At, Event: e}, e.ID, 0, e.ID})
	}
	for i := range emails {
		all = append(all, ranked{TimelineEntry{At: emails[i].CreatedAt, Email: &emails[i]}, emailEvent[emails[i].ID], 1, emails[i].ID})
	}
	for i := range notes {
		all = append(all, ranked{TimelineEntry{At: notes[i].At, Note: &notes[i]}, noteEvent[notes[i].ID], 2, notes[i].ID})
	}
	slices.SortStableFunc(all, func(a, b ranked) int {
		return cmp.Or(a.entry.At.Compare(b.entry.At), cmp.Compare(a.anchor, b.anchor),
			cmp.Compare(a.rank, b.rank), cmp.Compare(a.itemID, b.itemID))
	})
	out := make([]TimelineEntry, len(all))
	for i, r := range all {
		out[i] = r.entry
	}
	return out, nil
}

// RequestLink names another request.
type RequestLink struct {
	ID        int64
	Reference string
	Status    request.Status
}

// PossibleDuplicates lists the requests linked to r as possible duplicates:
// the earlier one it points at and the later ones that point at it.
func (s *Store) PossibleDuplicates(ctx context.Context, r request.Request) ([]RequestLink, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, reference, status FROM requests
		WHERE id = $2 OR duplicate_of = $1 ORDER BY id`, r.ID, r.DuplicateOf)
	if err != nil {
		return nil, fmt.Errorf("list possible duplicates: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (RequestLink, error) {
		var l RequestLink
		err := row.Scan(&l.ID, &l.Reference, &l.Status)
		return l, err
	})
}

// DeliveryRetrier makes an email's delivery job run again at once, inside
// the transaction that records the retry (River, in production).
type DeliveryRetrier interface {
	RetryDelivery(ctx context.Context, tx pgx.Tx, emailID int64) error
}

// ErrEmailNotFailed is returned when asked to retry an email that has not
// failed (it was sent, or is waiting for its turn).
var ErrEmailNotFailed = errors.New("email has not failed")

// ErrDeliveryRunning is returned when a delivery attempt of the email is
// under way (or still being recorded): retrying now could send it twice.
var ErrDeliveryRunning = errors.New("email delivery attempt in progress")

// RetryEmail puts a failed email of a request back in the queue, has its
// delivery job run now and logs the member of staff who asked, in one
// transaction: a retry is either wholly recorded or not at all.
func (s *Store) RetryEmail(ctx context.Context, requestID, emailID, staffID int64, at time.Time, retrier DeliveryRetrier) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var state, kind string
		err := tx.QueryRow(ctx, `SELECT state, kind FROM emails WHERE id = $1 AND request_id = $2 FOR UPDATE`,
			emailID, requestID).Scan(&state, &kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("find email to retry: %w", err)
		}
		if state != EmailFailed {
			return ErrEmailNotFailed
		}
		if _, err := tx.Exec(ctx, `UPDATE emails SET state = 'queued' WHERE id = $1`, emailID); err != nil {
			return fmt.Errorf("queue email again: %w", err)
		}
		if err := retrier.RetryDelivery(ctx, tx, emailID); err != nil {
			// The whole retry rolls back: the email stays failed, nothing is logged.
			return fmt.Errorf("retry delivery of email %d: %w", emailID, err)
		}
		_, err = insertEvent(ctx, tx, event{
			RequestID: requestID, Kind: "email_retried", Actor: request.ActorStaff, ActorID: staffID,
			Data: map[string]any{"email_id": emailID, "kind": kind}, At: at,
		})
		return err
	})
}
