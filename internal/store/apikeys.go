package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// apiKeyColumns are a key's columns (api_keys a) and its maker's role and
// state (staff m, LEFT JOINed on created_by: keys from the command line
// have none).
//
// #nosec G101 -- column names; keys are stored as hashes
const apiKeyColumns = `a.id, a.name, a.role, a.prefix, coalesce(a.created_by, 0), a.created_at,
	coalesce(a.last_used_at, 'epoch'), coalesce(a.revoked_at, 'epoch'),
	coalesce(m.role, ''), m.disabled_at IS NOT NULL`

const apiKeysWithMaker = ` FROM api_keys a LEFT JOIN staff m ON m.id = a.created_by` // #nosec G101 -- a FROM clause, not a credential

func scanAPIKey(row pgx.Row) (auth.APIKey, error) {
	var k auth.APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Prefix, &k.CreatedBy, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt,
		&k.MakerRole, &k.MakerDisabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ErrNotFound
	}
	k.LastUsedAt = zeroEpoch(k.LastUsedAt)
	k.RevokedAt = zeroEpoch(k.RevokedAt)
	return k, err
}

// CreateAPIKey stores a key (its hash) and logs who created it.
func (s *Store) CreateAPIKey(ctx context.Context, n auth.NewAPIKey) (auth.APIKey, error) {
	k := n.Key
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO api_keys (name, role, prefix, key_hash, created_by, created_at)
			VALUES ($1, $2, $3, $4, nullif($5, 0), $6) RETURNING id`,
			k.Name, k.Role, k.Prefix, n.Hash, k.CreatedBy, k.CreatedAt).Scan(&k.ID)
		if err != nil {
			return fmt.Errorf("insert API key: %w", err)
		}
		data := map[string]any{"api_key_id": k.ID, "role": k.Role}
		if n.Audit.ActorID == 0 {
			data["via"] = "cli"
		}
		_, err = staffEvent(ctx, tx, "api_key_created", n.Audit.ActorID, data, n.Audit.At)
		return err
	})
	return k, err
}

// APIKeys lists every key, newest first.
func (s *Store) APIKeys(ctx context.Context) ([]auth.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+apiKeysWithMaker+` ORDER BY a.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.APIKey, error) { return scanAPIKey(row) })
}

// RevokeAPIKey stops a key and logs who did it.
func (s *Store) RevokeAPIKey(ctx context.Context, a auth.Audit, id int64) (auth.APIKey, error) {
	var k auth.APIKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyColumns+apiKeysWithMaker+` WHERE a.id = $1 FOR UPDATE OF a`, id))
		if err != nil {
			return err
		}
		if !k.Active() {
			return auth.ErrAPIKeyRevoked
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2, revoked_by = nullif($3, 0) WHERE id = $1`, id, a.At, a.ActorID); err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		k.RevokedAt = a.At
		_, err = staffEvent(ctx, tx, "api_key_revoked", a.ActorID, map[string]any{"api_key_id": id}, a.At)
		return err
	})
	return k, err
}

// apiKeyTouchEvery is how stale last_used_at may get before a use refreshes it.
const apiKeyTouchEvery = time.Minute

// UseAPIKey finds the unrevoked key with this hash, with its maker's role
// and state as they are now (auth.APIKeys.Authenticate decides whether a
// key whose maker lost the rights to make it still works), and refreshes
// its last_used_at when older than a minute: one round trip, and at most
// one row version a minute however busy the key.
func (s *Store) UseAPIKey(ctx context.Context, hash []byte, at time.Time) (auth.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `
		WITH k AS (SELECT id, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),
		touched AS (
			UPDATE api_keys SET last_used_at = $2 FROM k
			WHERE api_keys.id = k.id AND (k.last_used_at IS NULL OR k.last_used_at < $3)
			RETURNING api_keys.id)
		SELECT a.id, a.name, a.role, a.prefix, coalesce(a.created_by, 0), a.created_at,
			CASE WHEN EXISTS (SELECT 1 FROM touched) THEN $2 ELSE coalesce(a.last_used_at, 'epoch') END,
			'epoch'::timestamptz, coalesce(m.role, ''), m.disabled_at IS NOT NULL
		FROM k JOIN api_keys a ON a.id = k.id LEFT JOIN staff m ON m.id = a.created_by`, hash, at, at.Add(-apiKeyTouchEvery)))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return k, fmt.Errorf("find API key: %w", err)
	}
	return k, err
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

// EventLog lists a request's events, oldest first, each with the member of
// staff or the API key behind it (for the staff API, which gives the whole
// log, where the staff timeline folds notes and emails in).
func (s *Store) EventLog(ctx context.Context, requestID int64) ([]TimelineEvent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT e.id, e.kind, e.actor, coalesce(e.from_status, ''), coalesce(e.to_status, ''), e.data, e.created_at,
			coalesce(e.actor_id, 0), coalesce(s.name, 'API: ' || k.name, '')
		FROM events e LEFT JOIN staff s ON s.id = e.actor_id AND e.actor = 'staff'
			LEFT JOIN api_keys k ON e.actor = 'staff' AND e.actor_id IS NULL AND k.id = (e.data->>'api_key_id')::bigint
		WHERE e.request_id = $1 ORDER BY e.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (TimelineEvent, error) {
		var e TimelineEvent
		err := row.Scan(&e.ID, &e.Kind, &e.Actor, &e.FromStatus, &e.ToStatus, &e.Data, &e.At, &e.ActorID, &e.ActorName)
		return e, err
	})
}
