package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
)

// requestColumns reads a request from requestFrom.
const requestColumns = `r.id, r.reference, r.type, r.status, r.locale, r.received_at,
	r.confirmed_at, r.due_at, r.deadline_rule, r.deadline_legal_ref, r.deadline_basis,
	r.personal, r.on_behalf, r.relationship, r.access_scope, coalesce(r.duplicate_of, 0),
	coalesce(a.id, 0), coalesce(a.name, ''), coalesce(a.email, ''), coalesce(a.locale, ''),
	r.extensions, r.original_due_at, r.outcome_reason, r.paused_at,
	r.identity_checked_at, coalesce(r.identity_method, ''), coalesce(r.identity_checked_by, 0),
	coalesce(r.identity_api_key_id, 0), coalesce(ic.name, 'API: ' || ik.name, '')`

// byStatusLink finds the request of a live status link ($1, its hash).
const byStatusLink = `(SELECT request_id FROM status_links WHERE token_hash = $1 AND revoked_at IS NULL)`

// requestFrom is the request with its assignee.
const requestFrom = ` FROM requests r LEFT JOIN staff a ON a.id = r.assignee_id ` + identityJoins

// identityJoins name who checked the requester's identity: a member of
// staff or an API key.
const identityJoins = ` LEFT JOIN staff ic ON ic.id = r.identity_checked_by LEFT JOIN api_keys ik ON ik.id = r.identity_api_key_id `

func (s *Store) scanRequest(row pgx.Row) (request.Request, error) {
	return s.scanRequestWith(row)
}

// scanRequestWith reads requestColumns followed by extra columns.
func (s *Store) scanRequestWith(row pgx.Row, extra ...any) (request.Request, error) {
	var r request.Request
	var personal []byte
	dest := append([]any{&r.ID, &r.Reference, &r.Type, &r.Status, &r.Locale, &r.ReceivedAt,
		orZero(&r.ConfirmedAt), &r.DueAt, &r.Rule, &r.LegalRef, &r.RuleBasis,
		&personal, &r.OnBehalf, &r.Relationship, &r.AccessScope, &r.DuplicateOf,
		&r.AssigneeID, &r.AssigneeName, &r.AssigneeEmail, &r.AssigneeLocale,
		&r.Extensions, orZero(&r.OriginalDueAt), &r.OutcomeReason, orZero(&r.PausedAt),
		orZero(&r.Identity.At), &r.Identity.Method, &r.Identity.StaffID, &r.Identity.APIKeyID, &r.Identity.ByName}, extra...)
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	return r, s.openPersonal(personal, &r)
}

// RequestByStatusToken finds the request a status link points at.
func (s *Store) RequestByStatusToken(ctx context.Context, tokenHash []byte) (request.Request, error) {
	mine, args := s.ownedBy("r.operator_id", []any{tokenHash})
	return s.scanRequest(s.pool.QueryRow(ctx,
		`SELECT `+requestColumns+requestFrom+`WHERE r.id = `+byStatusLink+mine, args...))
}

// RequestByReference finds a request by its reference.
func (s *Store) RequestByReference(ctx context.Context, reference string) (request.Request, error) {
	mine, args := s.ownedBy("r.operator_id", []any{reference})
	return s.scanRequest(s.pool.QueryRow(ctx,
		`SELECT `+requestColumns+requestFrom+`WHERE r.reference = $1`+mine, args...))
}

// RequestLink names another request.
type RequestLink struct {
	ID        int64
	Reference string
	Status    request.Status
}

// PossibleDuplicates lists the requests linked to r as possible duplicates:
// the earlier one it points at and the later ones that point at it.
func (s *Store) PossibleDuplicates(ctx context.Context, r request.Request) ([]RequestLink, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, reference, status FROM requests
		WHERE id = $2 OR duplicate_of = $1 ORDER BY id`, r.ID, r.DuplicateOf)
	if err != nil {
		return nil, fmt.Errorf("list possible duplicates: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (RequestLink, error) {
		var l RequestLink
		err := row.Scan(&l.ID, &l.Reference, &l.Status)
		return l, err
	})
}
