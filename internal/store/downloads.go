package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
)

// ErrLinkExpired is returned for a download link past its time.
var ErrLinkExpired = request.ErrLinkExpired

// Download returns the file behind a live download link and logs the
// download in the same transaction, so every download is on the record.
// With an expired link it returns ErrLinkExpired and the request's locale,
// so the person is answered in their language.
func (s *Store) Download(ctx context.Context, tokenHash []byte, now time.Time) (request.File, request.Locale, error) {
	return s.download(ctx, now, `FROM download_links l JOIN files f ON f.id = l.file_id JOIN requests r ON r.id = f.request_id
		WHERE l.token_hash = $1`, tokenHash)
}

func (s *Store) download(ctx context.Context, now time.Time, from string, args ...any) (request.File, request.Locale, error) {
	var f request.File
	var locale request.Locale
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var requestID int64
		var expires time.Time
		var name, content []byte
		err := tx.QueryRow(ctx, `
			SELECT f.id, f.request_id, f.name, f.content_type, f.size, f.content, l.expires_at, r.locale `+from, args...).
			Scan(&f.ID, &requestID, &name, &f.ContentType, &f.Size, &content, &expires, &locale)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("find download: %w", err)
		}
		if now.After(expires) || content == nil {
			return ErrLinkExpired
		}
		if err := s.openFile(name, content, &f); err != nil {
			return err
		}
		_, err = insertEvent(ctx, tx, event{
			RequestID: requestID, Kind: "file_downloaded", Actor: request.ActorRequester,
			Data: map[string]any{"file_id": f.ID}, At: now,
		})
		return err
	})
	return f, locale, err
}

// ErrFileDeleted is returned for a file whose content is gone.
var ErrFileDeleted = errors.New("file content deleted")

// StaffDownload returns a file of a request with its content and logs that
// the member of staff downloaded it, in one transaction: no download by
// staff goes unrecorded.
func (s *Store) StaffDownload(ctx context.Context, requestID, fileID, staffID int64, at time.Time) (request.File, error) {
	var f request.File
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var name, content []byte
		err := tx.QueryRow(ctx, `
			SELECT id, purpose, name, content_type, size, content FROM files WHERE id = $1 AND request_id = $2`,
			fileID, requestID).Scan(&f.ID, &f.Purpose, &name, &f.ContentType, &f.Size, &content)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("find file: %w", err)
		}
		if content == nil {
			return ErrFileDeleted
		}
		if err := s.openFile(name, content, &f); err != nil {
			return err
		}
		_, err = insertEvent(ctx, tx, event{
			RequestID: requestID, Kind: "file_downloaded", Actor: request.ActorStaff, ActorID: staffID,
			Data: map[string]any{"file_id": f.ID}, At: at,
		})
		return err
	})
	return f, err
}
