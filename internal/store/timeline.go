package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

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
