package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/auth"
)

// apiKeyColumns are a key's columns (api_keys a) and its maker's role and
// state (staff m, LEFT JOINed on created_by: keys from the command line
// have none).
//
// #nosec G101 -- column names; keys are stored as hashes
const apiKeyColumns = `a.id, a.name, a.role, a.prefix, coalesce(a.created_by, 0), a.created_at,
	a.last_used_at, a.revoked_at,
	coalesce(m.role, ''), m.disabled_at IS NOT NULL`

const apiKeysWithMaker = ` FROM api_keys a LEFT JOIN staff m ON m.id = a.created_by` // #nosec G101 -- a FROM clause, not a credential

func scanAPIKey(row pgx.Row) (auth.APIKey, error) {
	var k auth.APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Prefix, &k.CreatedBy, &k.CreatedAt, orZero(&k.LastUsedAt), orZero(&k.RevokedAt),
		&k.MakerRole, &k.MakerDisabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ErrNotFound
	}
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

// APIKeys lists every key of the store's operator, newest first.
func (s *Store) APIKeys(ctx context.Context) ([]auth.APIKey, error) {
	own, args := s.ownedBy("a.operator_id", nil)
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+apiKeysWithMaker+` WHERE true`+own+` ORDER BY a.id DESC`, args...)
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
		own, args := s.ownedBy("a.operator_id", []any{id})
		k, err = scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyColumns+apiKeysWithMaker+` WHERE a.id = $1`+own+` FOR UPDATE OF a`, args...))
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
//
// One operator's store finds that operator's keys only: a key used on
// another operator's address is unknown there (issue 15).
func (s *Store) UseAPIKey(ctx context.Context, hash []byte, at time.Time) (auth.APIKey, error) {
	own, args := s.ownedBy("operator_id", []any{hash, at, at.Add(-apiKeyTouchEvery)})
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `
		WITH k AS (SELECT id, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`+own+`),
		touched AS (
			UPDATE api_keys SET last_used_at = $2 FROM k
			WHERE api_keys.id = k.id AND (k.last_used_at IS NULL OR k.last_used_at < $3)
			RETURNING api_keys.id)
		SELECT a.id, a.name, a.role, a.prefix, coalesce(a.created_by, 0), a.created_at,
			CASE WHEN EXISTS (SELECT 1 FROM touched) THEN $2 ELSE a.last_used_at END,
			NULL::timestamptz, coalesce(m.role, ''), m.disabled_at IS NOT NULL
		FROM k JOIN api_keys a ON a.id = k.id LEFT JOIN staff m ON m.id = a.created_by`, args...))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return k, fmt.Errorf("find API key: %w", err)
	}
	return k, err
}
