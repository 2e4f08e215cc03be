package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// StoredFile is a file of a request as staff see it listed (no content).
type StoredFile struct {
	request.File
	MessageID int64 // 0 for proof sent with the form
	At        time.Time
	Deleted   bool // the content was deleted after the retention period
}

// RequestFiles lists every file of a request, oldest first, without content.
func (s *Store) RequestFiles(ctx context.Context, requestID int64) ([]StoredFile, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, purpose, name, content_type, size, coalesce(message_id, 0), created_at, content IS NULL
		FROM files WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredFile, error) {
		var f StoredFile
		var name []byte
		if err := row.Scan(&f.ID, &f.Purpose, &name, &f.ContentType, &f.Size, &f.MessageID, &f.At, &f.Deleted); err != nil {
			return f, err
		}
		return f, s.openFileName(name, &f.File)
	})
}

// draftKeep is how long a previewed response file waits to be sent.
const draftKeep = 24 * time.Hour

// SaveResponseDraft keeps a response file between a preview and the send,
// replacing the staff member's earlier one for the request, and returns its
// id. Drafts nobody sent within a day are deleted on the way.
func (s *Store) SaveResponseDraft(ctx context.Context, requestID, staffID int64, f request.File, at time.Time) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM response_drafts WHERE created_at < $1`, at.Add(-draftKeep)); err != nil {
			return fmt.Errorf("delete old drafts: %w", err)
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO response_drafts (request_id, staff_id, name, content_type, size, sha256, content, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (request_id, staff_id) DO UPDATE SET name = excluded.name,
				content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
				content = excluded.content, created_at = excluded.created_at
			RETURNING id`,
			requestID, staffID, s.keys.SealString(sealed.DraftName, f.Name), f.ContentType, f.Size, f.SHA256,
			s.keys.Seal(sealed.DraftContent, f.Content), at).Scan(&id)
		if err != nil {
			return fmt.Errorf("save response draft: %w", err)
		}
		return nil
	})
	return id, err
}

// ResponseDraft returns the draft file a member of staff previewed.
func (s *Store) ResponseDraft(ctx context.Context, requestID, staffID, draftID int64) (request.File, error) {
	var f request.File
	var name, content []byte
	err := s.pool.QueryRow(ctx, `
		SELECT id, name, content_type, size, sha256, content FROM response_drafts
		WHERE id = $1 AND request_id = $2 AND staff_id = $3`, draftID, requestID, staffID).
		Scan(&f.ID, &name, &f.ContentType, &f.Size, &f.SHA256, &content)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("read response draft: %w", err)
	}
	if f.Name, err = s.openText(sealed.DraftName, name); err != nil {
		return f, err
	}
	if f.Content, err = s.keys.Open(sealed.DraftContent, content); err != nil {
		return f, err
	}
	f.Purpose = request.FileResponse
	return f, nil
}

// DeleteResponseDrafts forgets every draft of a request (once answered).
func (s *Store) DeleteResponseDrafts(ctx context.Context, requestID int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM response_drafts WHERE request_id = $1`, requestID); err != nil {
		return fmt.Errorf("delete response drafts: %w", err)
	}
	return nil
}

// openFileName opens a file's sealed name; a purged file (no name left) is
// called by its purpose and id, e.g. "proof-42". f.ID and f.Purpose must be
// read already.
func (s *Store) openFileName(name []byte, f *request.File) error {
	if len(name) == 0 {
		f.Name = fmt.Sprintf("%s-%d", f.Purpose, f.ID)
		return nil
	}
	var err error
	f.Name, err = s.openText(sealed.FileName, name)
	return err
}

// openFile opens a file's sealed name and content.
func (s *Store) openFile(name, content []byte, f *request.File) error {
	if err := s.openFileName(name, f); err != nil {
		return err
	}
	var err error
	f.Content, err = s.keys.Open(sealed.FileContent, content)
	return err
}
