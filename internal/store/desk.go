package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
)

// StaffMember finds a member of staff for the desk (assignment emails),
// with whether their role works requests (the permission table's answer).
func (s *Store) StaffMember(ctx context.Context, id int64) (request.StaffMember, error) {
	var m request.StaffMember
	var role auth.Role
	err := s.pool.QueryRow(ctx, `SELECT id, name, email, locale, disabled_at IS NULL, role FROM staff WHERE id = $1`, id).
		Scan(&m.ID, &m.Name, &m.Email, &m.Locale, &m.Active, &role)
	m.CanWork = auth.Can(role, auth.PermRequestsWork)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("find staff member: %w", err)
	}
	return m, nil
}

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
