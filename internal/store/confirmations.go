package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
)

// Confirmation returns a confirmation link and its request.
func (s *Store) Confirmation(ctx context.Context, tokenHash []byte) (request.Request, request.Confirmation, error) {
	return s.confirmation(ctx, s.pool, tokenHash, "")
}

func (s *Store) confirmation(ctx context.Context, q querier, tokenHash []byte, lock string) (request.Request, request.Confirmation, error) {
	var c request.Confirmation
	r, err := s.scanRequestWith(q.QueryRow(ctx, `
		SELECT `+requestColumns+`, c.expires_at, c.used_at
		FROM confirmations c JOIN requests r ON r.id = c.request_id LEFT JOIN staff a ON a.id = r.assignee_id `+identityJoins+`
		WHERE c.token_hash = $1 `+lock, tokenHash), &c.ExpiresAt, orZero(&c.UsedAt))
	if err != nil {
		return r, c, err
	}
	c.RequestID = r.ID
	return r, c, nil
}

// Confirm uses a confirmation link as decide says, in one transaction:
// the request's new state, the link marked used, the event and the emails.
func (s *Store) Confirm(ctx context.Context, tokenHash []byte, decide func(request.Request, request.Confirmation) (request.Change, error)) (request.Request, error) {
	var out request.Request
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Locking the link serialises two clicks on it: the second one sees
		// it used and changes nothing.
		r, c, err := s.confirmation(ctx, tx, tokenHash, "FOR NO KEY UPDATE OF c, r")
		if err != nil {
			return err
		}
		ch, err := decide(r, c)
		if err != nil {
			out = r
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE confirmations SET used_at = $2 WHERE request_id = $1`, r.ID, ch.At); err != nil {
			return fmt.Errorf("mark confirmation used: %w", err)
		}
		out, err = s.applyChange(ctx, tx, r, ch)
		return err
	})
	return out, err
}

// ExpireUnconfirmed applies decide to unverified requests whose
// confirmation link ran out before now. SKIP LOCKED lets two instances
// sweep at once without waiting on, or doubling, each other's work.
func (s *Store) ExpireUnconfirmed(ctx context.Context, now time.Time, limit int, decide func(request.Request) (request.Change, error)) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+requestFrom+`
			JOIN confirmations c ON c.request_id = r.id
			WHERE `+StatusIn("r.status", request.ExpiringStatuses())+` AND c.used_at IS NULL AND c.expires_at < $1
			ORDER BY c.expires_at LIMIT $2`+lockRequest+` SKIP LOCKED`, now, limit)
		if err != nil {
			return fmt.Errorf("find unconfirmed requests: %w", err)
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (request.Request, error) { return s.scanRequest(row) })
		if err != nil {
			return fmt.Errorf("read unconfirmed requests: %w", err)
		}
		for _, r := range due {
			ch, err := decide(r)
			if err != nil {
				return err
			}
			if _, err := s.applyChange(ctx, tx, r, ch); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
