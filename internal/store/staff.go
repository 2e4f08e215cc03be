package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

const staffColumns = `s.id, s.email, s.name, s.role, s.locale, s.password_hash, s.totp_secret,
	s.totp_enabled_at, s.totp_last_step, s.session_epoch, s.disabled_at, s.created_at, s.platform_since IS NOT NULL`

func (s *Store) scanStaff(row pgx.Row) (auth.Staff, error) {
	var st auth.Staff
	var totp []byte
	err := row.Scan(&st.ID, &st.Email, &st.Name, &st.Role, &st.Locale, &st.PasswordHash, &totp,
		orZero(&st.TOTPEnabled), &st.TOTPLastStep, &st.SessionEpoch, orZero(&st.DisabledAt), &st.CreatedAt, &st.Platform)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("read staff: %w", err)
	}
	// Staff accounts are the deployment's (one person may work for several
	// operators), and so are the keys of their secrets.
	if st.TOTPSecret, err = s.deployment.OpenString(sealed.TOTPSecret, totp); err != nil {
		return st, err
	}
	return st, nil
}

// StaffByID returns an account; staff pages call it on every request, by
// primary key. On one operator's store a platform account (issue 15) that
// is no member of the operator is found too, as auth.PlatformOnly, so that
// it may sign in for the platform page and nothing else.
func (s *Store) StaffByID(ctx context.Context, id int64) (auth.Staff, error) {
	query, args := s.staffSelectSigningIn(`WHERE s.id = $1`, id)
	return s.scanStaff(s.pool.QueryRow(ctx, query, args...))
}

// staffSelect reads accounts under where (its arguments args, from $1). One
// operator's store (Store.For) reads its members only, each in the role it
// has for that operator (staff_operators): a member of another operator is
// not found, so its session and sign-in fail here (issue 15). A store of no
// operator reads every account in its own role, as a deployment of one
// operator always has.
func (s *Store) staffSelect(where string, args ...any) (string, []any) {
	if s.pool.operator == 0 {
		return `SELECT ` + staffColumns + ` FROM staff s ` + where, args
	}
	args = append(args, s.pool.operator)
	return `SELECT ` + strings.Replace(staffColumns, "s.role", "m.role", 1) + ` FROM staff s
		JOIN staff_operators m ON m.staff_id = s.id AND m.operator_id = $` + strconv.Itoa(len(args)) + ` ` + where, args
}

// staffSelectSigningIn is staffSelect for signing in and for sessions:
// on one operator's store a platform account that is no member of the
// operator is read too, in the role auth.PlatformOnly, which holds nothing
// of the operator's. where starts with WHERE. Lists and changes of staff
// keep to staffSelect: an operator's workspace never lists, nor changes, a
// platform account it has not made a member.
func (s *Store) staffSelectSigningIn(where string, args ...any) (string, []any) {
	if s.pool.operator == 0 {
		return s.staffSelect(where, args...)
	}
	args = append(args, s.pool.operator)
	return `SELECT ` + strings.Replace(staffColumns, "s.role", "coalesce(m.role, '"+string(auth.PlatformOnly)+"')", 1) + ` FROM staff s
		LEFT JOIN staff_operators m ON m.staff_id = s.id AND m.operator_id = $` + strconv.Itoa(len(args)) + `
		WHERE (m.staff_id IS NOT NULL OR s.platform_since IS NOT NULL) AND ` + strings.TrimPrefix(where, "WHERE "), args
}

// StaffByEmail returns the account of an email address, in any letter case.
func (s *Store) StaffByEmail(ctx context.Context, email string) (auth.Staff, error) {
	query, args := s.staffSelectSigningIn(`WHERE lower(s.email) = lower($1)`, email)
	return s.scanStaff(s.pool.QueryRow(ctx, query, args...))
}

// ListStaff returns every account, active ones first, then by name.
func (s *Store) ListStaff(ctx context.Context) ([]auth.Staff, error) {
	query, args := s.staffSelect(`ORDER BY s.disabled_at IS NOT NULL, lower(s.name), s.id`)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer rows.Close()
	var out []auth.Staff
	for rows.Next() {
		st, err := s.scanStaff(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// CreateStaff writes a new account with its event and, for an invitation,
// its one-time link and email, in one transaction.
func (s *Store) CreateStaff(ctx context.Context, n auth.NewStaff) (auth.Staff, error) {
	st := n.Staff
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO staff (email, name, role, locale, password_hash, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id, session_epoch`,
			st.Email, st.Name, st.Role, st.Locale, st.PasswordHash, n.Audit.At).Scan(&st.ID, &st.SessionEpoch)
		if isUniqueViolation(err, "staff_email_idx") {
			return auth.ErrEmailTaken
		}
		if err != nil {
			return fmt.Errorf("insert staff: %w", err)
		}
		// The account works for the operator it was made for, in its role.
		if _, err := tx.Exec(ctx, `INSERT INTO staff_operators (staff_id, role) VALUES ($1, $2)`, st.ID, st.Role); err != nil {
			return fmt.Errorf("insert staff membership: %w", err)
		}
		kind, data := "staff_created", map[string]any{"staff_id": st.ID, "role": st.Role, "via": "cli"}
		if n.CreatedByAdmin {
			kind, data = "staff_invited", map[string]any{"staff_id": st.ID, "role": st.Role}
		}
		eventID, err := staffEvent(ctx, tx, kind, n.Audit.ActorID, data, n.Audit.At)
		if err != nil {
			return err
		}
		if n.InviteHash != nil {
			if _, err := tx.Exec(ctx, `
				INSERT INTO staff_password_tokens (token_hash, staff_id, expires_at, created_at)
				VALUES ($1, $2, $3, $4)`, n.InviteHash, st.ID, n.InviteExpires, n.Audit.At); err != nil {
				return fmt.Errorf("insert invitation: %w", err)
			}
		}
		return s.insertEmails(ctx, tx, 0, eventID, n.Audit.At, n.Emails)
	})
	if err != nil {
		return auth.Staff{}, err
	}
	st.CreatedAt = n.Audit.At
	return st, nil
}

// UpdateThrottle locks the sign-in throttle's buckets, creating missing
// ones, hands their states to update in the order given and stores what it
// returns, in one transaction. Rows are created and locked in the order of
// their names, so two attempts sharing buckets never wait on each other in
// a circle.
func (s *Store) UpdateThrottle(ctx context.Context, buckets []string, update func([]auth.BucketState) ([]auth.BucketState, error)) error {
	sorted := slices.Clone(buckets)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO signin_throttle (bucket) SELECT b FROM unnest($1::text[]) AS u(b) ORDER BY b
			ON CONFLICT (bucket) DO NOTHING`, sorted); err != nil {
			return fmt.Errorf("add throttle buckets: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT bucket, failures, lockouts, last_failure, locked_until
			FROM signin_throttle WHERE bucket = ANY($1) ORDER BY bucket FOR UPDATE`, sorted)
		if err != nil {
			return fmt.Errorf("lock throttle buckets: %w", err)
		}
		byName := map[string]auth.BucketState{}
		var name string
		var st auth.BucketState
		if _, err := pgx.ForEachRow(rows, []any{&name, &st.Failures, &st.Lockouts, orZero(&st.LastFailure), orZero(&st.LockedUntil)}, func() error {
			byName[name] = st
			return nil
		}); err != nil {
			return fmt.Errorf("lock throttle buckets: %w", err)
		}
		states := make([]auth.BucketState, len(buckets))
		for i, b := range buckets {
			states[i] = byName[b]
		}
		next, err := update(states)
		if err != nil {
			return err
		}
		for i, b := range buckets {
			n := next[i]
			if _, err := tx.Exec(ctx, `UPDATE signin_throttle SET failures = $2, lockouts = $3, last_failure = $4, locked_until = $5
				WHERE bucket = $1`, b, n.Failures, n.Lockouts, orNull(n.LastFailure), orNull(n.LockedUntil)); err != nil {
				return fmt.Errorf("count in throttle bucket: %w", err)
			}
		}
		return nil
	})
}

// RecordSignIn logs a sign-in attempt; a success clears the buckets it
// names and forgets buckets and sessions nobody can use any more.
func (s *Store) RecordSignIn(ctx context.Context, a auth.SignInAttempt) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if len(a.Clear) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM signin_throttle WHERE bucket = ANY($1)`, a.Clear); err != nil {
				return fmt.Errorf("clear sign-in failures: %w", err)
			}
		}
		if a.OK {
			// Sign-ins are rare: a good moment to forget buckets the
			// throttle would start over anyway, and sessions nobody can use
			// any more (scs expires them in real time).
			if !a.ForgetBefore.IsZero() {
				if _, err := tx.Exec(ctx, `DELETE FROM signin_throttle WHERE (last_failure IS NULL OR last_failure < $1) AND (locked_until IS NULL OR locked_until < $2)`,
					a.ForgetBefore, a.At); err != nil {
					return fmt.Errorf("prune sign-in failures: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expiry < now()`); err != nil {
				return fmt.Errorf("prune sessions: %w", err)
			}
			data := map[string]any{"method": a.Method}
			if a.FromOperator != 0 {
				data["from_operator"] = a.FromOperator
			}
			if a.Trusted {
				data["trusted_device"] = true
			}
			_, err := staffEvent(ctx, tx, "staff_signed_in", a.StaffID, data, a.At)
			return err
		}
		// The typed email is not kept: data names the account only when the
		// email matched one.
		data := map[string]any{"reason": a.Reason}
		if a.StaffID != 0 {
			data["staff_id"] = a.StaffID
		}
		if a.Trusted {
			data["trusted_device"] = true
		}
		_, err := insertEvent(ctx, tx, event{Kind: "staff_signin_failed", Actor: request.ActorStaff, Data: data, At: a.At})
		return err
	})
}

// RecordSignOut logs a sign-out.
func (s *Store) RecordSignOut(ctx context.Context, staffID int64, at time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := staffEvent(ctx, tx, "staff_signed_out", staffID, nil, at)
		return err
	})
}

// UpdatePasswordHash replaces a hash with one of the current parameters.
func (s *Store) UpdatePasswordHash(ctx context.Context, staffID int64, hash string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE staff SET password_hash = $2 WHERE id = $1`, staffID, hash); err != nil {
		return fmt.Errorf("update password hash: %w", err)
	}
	return nil
}

// lockStaff reads an account for update inside a transaction.
// It reads the account as staffSelect does: one operator's store finds its
// own members only, in the role they have there, so another operator's
// member is not found and cannot be changed from here (issue 15).
func (s *Store) lockStaff(ctx context.Context, tx pgx.Tx, id int64) (auth.Staff, error) {
	query, args := s.staffSelect(`WHERE s.id = $1 FOR UPDATE OF s`, id)
	return s.scanStaff(tx.QueryRow(ctx, query, args...))
}

// SetRole changes an account's role and logs who did it.
func (s *Store) SetRole(ctx context.Context, a auth.Audit, staffID int64, role auth.Role) (auth.Staff, error) {
	var st auth.Staff
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if st, err = s.lockStaff(ctx, tx, staffID); err != nil {
			return err
		}
		if st.Role == role {
			return nil
		}
		// One operator's store changes the role the account has for that
		// operator only; the account's own role is the deployment of one
		// operator's, which keeps its one membership in step.
		if s.pool.operator == 0 {
			if _, err := tx.Exec(ctx, `UPDATE staff SET role = $2, updated_at = $3 WHERE id = $1`, staffID, role, a.At); err != nil {
				return fmt.Errorf("change role: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE staff_operators SET role = $2 WHERE staff_id = $1 AND operator_id = rightsdesk_operator()`, staffID, role); err != nil {
			return fmt.Errorf("change role in membership: %w", err)
		}
		_, err = staffEvent(ctx, tx, "staff_role_changed", a.ActorID,
			map[string]any{"staff_id": staffID, "from": st.Role, "to": role}, a.At)
		st.Role = role
		return err
	})
	return st, err
}

// SetDisabled disables or enables an account. Disabling also ends its
// sessions, so enabling it again does not bring them back.
func (s *Store) SetDisabled(ctx context.Context, a auth.Audit, staffID int64, disabled bool) (auth.Staff, error) {
	var st auth.Staff
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if st, err = s.lockStaff(ctx, tx, staffID); err != nil {
			return err
		}
		if st.Active() != disabled {
			return nil // already as asked
		}
		kind := "staff_enabled"
		q := `UPDATE staff SET disabled_at = NULL, updated_at = $2 WHERE id = $1`
		if disabled {
			kind = "staff_disabled"
			q = `UPDATE staff SET disabled_at = $2, updated_at = $2, session_epoch = session_epoch + 1 WHERE id = $1`
		}
		if _, err := tx.Exec(ctx, q, staffID, a.At); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		_, err = staffEvent(ctx, tx, kind, a.ActorID, map[string]any{"staff_id": staffID}, a.At)
		st.DisabledAt = time.Time{}
		if disabled {
			st.DisabledAt = a.At
		}
		return err
	})
	return st, err
}

// EndSessions ends every session of an account at once.
func (s *Store) EndSessions(ctx context.Context, a auth.Audit, staffID int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lockStaff(ctx, tx, staffID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE staff SET session_epoch = session_epoch + 1 WHERE id = $1`, staffID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		_, err := staffEvent(ctx, tx, "staff_sessions_ended", a.ActorID, map[string]any{"staff_id": staffID}, a.At)
		return err
	})
}

// SetTOTPSecret keeps a secret being enrolled; it is not in force until
// EnableTOTP.
func (s *Store) SetTOTPSecret(ctx context.Context, staffID int64, secret string) error {
	_, err := s.pool.Exec(ctx, `UPDATE staff SET totp_secret = $2 WHERE id = $1 AND totp_enabled_at IS NULL`, staffID,
		s.deployment.SealString(sealed.TOTPSecret, secret))
	if err != nil {
		return fmt.Errorf("store TOTP secret: %w", err)
	}
	return nil
}

// EnableTOTP puts the enrolled secret in force.
func (s *Store) EnableTOTP(ctx context.Context, staffID, step int64, at time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE staff SET totp_enabled_at = $3, totp_last_step = greatest(totp_last_step, $2), updated_at = $3
			WHERE id = $1 AND totp_enabled_at IS NULL AND totp_secret <> ''`, staffID, step, at)
		if err != nil {
			return fmt.Errorf("enable TOTP: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrTOTPActive
		}
		_, err = staffEvent(ctx, tx, "staff_totp_enabled", staffID, nil, at)
		return err
	})
}

// DisableTOTP switches the second factor off, using up the code's step.
func (s *Store) DisableTOTP(ctx context.Context, staffID, step int64, at time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE staff SET totp_enabled_at = NULL, totp_secret = '', totp_last_step = $2, updated_at = $3
			WHERE id = $1 AND totp_enabled_at IS NOT NULL AND totp_last_step < $2`, staffID, step, at)
		if err != nil {
			return fmt.Errorf("disable TOTP: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrBadCode
		}
		_, err = staffEvent(ctx, tx, "staff_totp_disabled", staffID, nil, at)
		return err
	})
}

// UseTOTPStep records a code's step as used; false when it (or a later one)
// was used already, e.g. by a concurrent sign-in with the same code.
func (s *Store) UseTOTPStep(ctx context.Context, staffID, step int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE staff SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, staffID, step)
	if err != nil {
		return false, fmt.Errorf("use TOTP step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// InviteStaff returns the account of an unused, unexpired invitation.
func (s *Store) InviteStaff(ctx context.Context, tokenHash []byte, now time.Time) (auth.Staff, error) {
	return s.scanStaff(s.pool.QueryRow(ctx, `
		SELECT `+staffColumns+` FROM staff_password_tokens t JOIN staff s ON s.id = t.staff_id
		WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND s.disabled_at IS NULL`,
		tokenHash, now))
}

// SetPasswordByInvite uses an invitation: the password is set, the link
// spent and any session of the account ended, in one transaction.
func (s *Store) SetPasswordByInvite(ctx context.Context, tokenHash []byte, hash string, at time.Time) (auth.Staff, error) {
	var st auth.Staff
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		st, err = s.scanStaff(tx.QueryRow(ctx, `
			SELECT `+staffColumns+` FROM staff_password_tokens t JOIN staff s ON s.id = t.staff_id
			WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND s.disabled_at IS NULL
			FOR UPDATE OF t, s`, tokenHash, at))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE staff_password_tokens SET used_at = $2 WHERE token_hash = $1`, tokenHash, at); err != nil {
			return fmt.Errorf("spend invitation: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE staff SET password_hash = $2, session_epoch = session_epoch + 1, updated_at = $3 WHERE id = $1`,
			st.ID, hash, at); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		_, err = staffEvent(ctx, tx, "staff_password_set", st.ID, map[string]any{"via": "invitation"}, at)
		return err
	})
	return st, err
}

// The store is where staff accounts live.
var _ auth.Repository = (*Store)(nil)

// StaffMember finds a member of staff for the desk (assignment emails),
// with whether their role works requests (the permission table's answer).
// It reads the account as StaffByID does: one operator's store knows its
// own members only, in the role they have there, so a request is never
// given to another operator's member (issue 15).
func (s *Store) StaffMember(ctx context.Context, id int64) (request.StaffMember, error) {
	query, args := s.staffSelect(`WHERE s.id = $1`, id)
	st, err := s.scanStaff(s.pool.QueryRow(ctx, query, args...))
	if err != nil {
		return request.StaffMember{}, fmt.Errorf("find staff member: %w", err)
	}
	return request.StaffMember{ID: st.ID, Name: st.Name, Email: st.Email, Locale: st.Locale,
		Active: st.Active(), CanWork: auth.Can(st.Role, auth.PermRequestsWork)}, nil
}
