package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/auth"
)

// Memberships lists the operators an account is a member of, with its
// role in each, in operator order. One statement reads them all: the
// transaction names the account (rightsdesk.staff), and the policy
// own_memberships (migration 00056) lets it read that account's rows of
// staff_operators, whatever operator the connection is scoped to; nothing
// else of any operator is read.
func (s *Store) Memberships(ctx context.Context, staffID int64) ([]auth.Membership, error) {
	var out []auth.Membership
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('rightsdesk.staff', $1, true)`, strconv.FormatInt(staffID, 10)); err != nil {
			return fmt.Errorf("name the account: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT operator_id, role FROM staff_operators WHERE staff_id = $1 ORDER BY operator_id`, staffID)
		if err != nil {
			return fmt.Errorf("list memberships: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Membership, error) {
			var m auth.Membership
			return m, r.Scan(&m.OperatorID, &m.Role)
		})
		if err != nil {
			return fmt.Errorf("list memberships: %w", err)
		}
		return nil
	})
	return out, err
}

// CreateHandoff keeps a switcher's handoff (auth.StartHandoff) and logs the
// switch in the audit trail of the operator the account leaves, in one
// transaction. Handoffs spent or expired a day ago are forgotten meanwhile.
func (s *Store) CreateHandoff(ctx context.Context, h auth.Handoff) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM staff_handoffs WHERE expires_at < $1`, h.At.Add(-24*time.Hour)); err != nil {
			return fmt.Errorf("forget old handoffs: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO staff_handoffs (token_hash, staff_id, from_operator_id, to_operator_id, signed_in_at, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			h.TokenHash, h.StaffID, h.From, h.To, h.SignedInAt, h.ExpiresAt, h.At); err != nil {
			return fmt.Errorf("insert handoff: %w", err)
		}
		_, err := staffEvent(ctx, tx, "staff_switched", h.StaffID, map[string]any{"to_operator": h.To}, h.At)
		return err
	})
}

// UseHandoff spends a handoff to the store's operator: one that is unused
// and unexpired at now. A handoff to another operator is not found here,
// and stays unspent for the one it is for.
func (s *Store) UseHandoff(ctx context.Context, tokenHash []byte, now time.Time) (auth.Handoff, error) {
	h := auth.Handoff{TokenHash: tokenHash, At: now}
	err := s.pool.QueryRow(ctx, `
		UPDATE staff_handoffs SET used_at = $2
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 AND to_operator_id = rightsdesk_operator()
		RETURNING staff_id, from_operator_id, to_operator_id, signed_in_at, expires_at`, tokenHash, now).
		Scan(&h.StaffID, &h.From, &h.To, &h.SignedInAt, &h.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, ErrNotFound
	}
	if err != nil {
		return h, fmt.Errorf("use handoff: %w", err)
	}
	return h, nil
}

// SetPlatform grants (on) or revokes the platform role of the account with
// email, and ends its sessions on a revocation. The flag is the
// deployment's (staff has no operator), so any store sets it.
func (s *Store) SetPlatform(ctx context.Context, email string, on bool, at time.Time) (auth.Staff, error) {
	var st auth.Staff
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM staff WHERE lower(email) = lower($1) FOR UPDATE`, email).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("find account: %w", err)
		}
		q := `UPDATE staff SET platform_since = coalesce(platform_since, $2), updated_at = $2 WHERE id = $1`
		if !on {
			q = `UPDATE staff SET platform_since = NULL, updated_at = $2, session_epoch = session_epoch + 1 WHERE id = $1 AND platform_since IS NOT NULL`
		}
		if _, err := tx.Exec(ctx, q, id, at); err != nil {
			return fmt.Errorf("set platform role: %w", err)
		}
		st, err = s.scanStaff(tx.QueryRow(ctx, `SELECT `+staffColumns+` FROM staff s WHERE s.id = $1`, id))
		return err
	})
	return st, err
}

// OperatorCounts are the figures of one operator the platform page shows:
// counts only, never a row. Open, Overdue and DueSoon are capped as the
// queue's tabs are (CountCapped).
type OperatorCounts struct {
	Open, Overdue, DueSoon int
	// Received and Closed are the requests received, and closed, in the
	// 30 days before now.
	Received, Closed int
	// Unsent is the emails not yet accepted by the relay.
	Unsent int
}

// PlatformWindow is how far back the platform page's received and closed
// counts look.
const PlatformWindow = 30 * 24 * time.Hour

// OperatorCounts counts the store's operator's requests and emails at now,
// under its scope: the queue's own tab counts (one definition of open,
// overdue and due soon), the emails backlog, and what came and went in
// PlatformWindow.
func (s *Store) OperatorCounts(ctx context.Context, now time.Time) (OperatorCounts, error) {
	var c OperatorCounts
	tabs, err := s.QueueCounts(ctx, QueueFilter{Now: now})
	if err != nil {
		return c, err
	}
	c.Open, c.Overdue, c.DueSoon = tabs[TabOpen], tabs[TabOverdue], tabs[TabDueSoon]
	since := now.Add(-PlatformWindow)
	owned, args := s.ownedBy("operator_id", []any{since, now})
	if err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM requests WHERE received_at >= $1 AND received_at <= $2`+owned+`),
		(SELECT count(*) FROM requests WHERE closed_at >= $1 AND closed_at <= $2`+owned+`)`, args...).Scan(&c.Received, &c.Closed); err != nil {
		return c, fmt.Errorf("count received and closed: %w", err)
	}
	b, err := s.EmailBacklog(ctx)
	if err != nil {
		return c, err
	}
	c.Unsent = b.Queued + b.Failed
	return c, nil
}

// Join makes the account with email a member of the store's operator in
// role, or gives it that role there, with the event in that operator's
// trail (rightsdesk user join). The account's own role and its other
// memberships are left as they are.
func (s *Store) Join(ctx context.Context, email string, role auth.Role, at time.Time) (auth.Staff, error) {
	var st auth.Staff
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := s.scanStaffInto(ctx, tx, email, &st)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO staff_operators (staff_id, role) VALUES ($1, $2)
			ON CONFLICT (staff_id, operator_id) DO UPDATE SET role = excluded.role`, st.ID, role); err != nil {
			return fmt.Errorf("add membership: %w", err)
		}
		st.Role = role
		_, err = staffEvent(ctx, tx, "staff_joined", 0, map[string]any{"staff_id": st.ID, "role": role, "via": "cli"}, at)
		return err
	})
	return st, err
}

// Leave ends the membership of the account with email of the store's
// operator, with the event in that operator's trail: its sessions there
// end with the next request, as the account is no longer found there
// (unless it has the platform role, which sees counts only).
func (s *Store) Leave(ctx context.Context, email string, at time.Time) (auth.Staff, error) {
	var st auth.Staff
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := s.scanStaffInto(ctx, tx, email, &st)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM staff_operators WHERE staff_id = $1 AND operator_id = rightsdesk_operator()`, st.ID)
		if err != nil {
			return fmt.Errorf("remove membership: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = staffEvent(ctx, tx, "staff_left", 0, map[string]any{"staff_id": st.ID, "via": "cli"}, at)
		return err
	})
	return st, err
}

// scanStaffInto reads the deployment's account with email, locked, into st.
func (s *Store) scanStaffInto(ctx context.Context, tx pgx.Tx, email string, st *auth.Staff) error {
	var err error
	*st, err = s.scanStaff(tx.QueryRow(ctx, `SELECT `+staffColumns+` FROM staff s WHERE lower(s.email) = lower($1) FOR UPDATE`, email))
	return err
}
