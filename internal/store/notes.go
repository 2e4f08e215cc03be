package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// Note is an internal note staff wrote on a request. Notes are for staff
// only: nothing shows them to the requester or sends them anywhere.
type Note struct {
	ID        int64
	StaffID   int64
	StaffName string
	Body      string
	At        time.Time
}

// AddNote writes a note and logs who added it, in one transaction. The
// event holds the note's id, never its text: the log keeps no personal data.
func (s *Store) AddNote(ctx context.Context, requestID, staffID int64, body string, at time.Time) (Note, error) {
	n := Note{StaffID: staffID, Body: body, At: at}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO notes (request_id, staff_id, body, created_at) VALUES ($1, $2, $3, $4)
			RETURNING id, (SELECT name FROM staff WHERE id = $2)`,
			requestID, staffID, s.keys.SealString(sealed.NoteBody, body), at).Scan(&n.ID, &n.StaffName)
		if err != nil {
			return fmt.Errorf("insert note: %w", err)
		}
		_, err = insertEvent(ctx, tx, event{
			RequestID: requestID, Kind: "note_added", Actor: request.ActorStaff, ActorID: staffID,
			Data: map[string]any{"note_id": n.ID}, At: at,
		})
		return err
	})
	return n, err
}

// Notes lists a request's notes, oldest first, with their authors' names.
func (s *Store) Notes(ctx context.Context, requestID int64) ([]Note, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT n.id, coalesce(n.staff_id, 0), coalesce(s.name, 'API: ' || k.name), n.body, n.created_at
		FROM notes n LEFT JOIN staff s ON s.id = n.staff_id LEFT JOIN api_keys k ON k.id = n.api_key_id
		WHERE n.request_id = $1 ORDER BY n.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Note, error) {
		var n Note
		var body []byte
		if err := row.Scan(&n.ID, &n.StaffID, &n.StaffName, &body, &n.At); err != nil {
			return n, err
		}
		var err error
		n.Body, err = s.openText(sealed.NoteBody, body)
		return n, err
	})
}

// AddAPINote writes a note whose author is an API key and logs it, in one
// transaction. Like a staff note, the event holds the note's id, not its text.
func (s *Store) AddAPINote(ctx context.Context, requestID, keyID int64, body string, at time.Time) (Note, error) {
	n := Note{Body: body, At: at}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO notes (request_id, api_key_id, body, created_at) VALUES ($1, $2, $3, $4)
			RETURNING id, (SELECT 'API: ' || name FROM api_keys WHERE id = $2)`,
			requestID, keyID, s.keys.SealString(sealed.NoteBody, body), at).Scan(&n.ID, &n.StaffName)
		if err != nil {
			return fmt.Errorf("insert note: %w", err)
		}
		_, err = insertEvent(ctx, tx, event{
			RequestID: requestID, Kind: "note_added", Actor: request.ActorStaff,
			Data: map[string]any{"note_id": n.ID, "api_key_id": keyID}, At: at,
		})
		return err
	})
	return n, err
}
