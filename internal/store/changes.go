package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/deadline"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// ChangeRequest locks one request, asks decide what to do and applies the
// change. decide runs inside the transaction: it sees the request as it is
// while no one else can change it.
func (s *Store) ChangeRequest(ctx context.Context, key request.RequestKey, decide func(request.Request) (request.Change, error)) (request.Request, error) {
	where, arg := "r.id = $1", any(key.ID)
	switch {
	case key.ID != 0:
	case key.StatusTokenHash != nil:
		where, arg = "r.id = "+byStatusLink, key.StatusTokenHash
	case key.Reference != "":
		where, arg = "r.reference = $1", key.Reference
	default:
		return request.Request{}, ErrNotFound
	}
	var out request.Request
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		mine, args := s.ownedBy("r.operator_id", []any{arg})
		r, err := s.scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+requestFrom+`WHERE `+where+mine+lockRequest, args...))
		if err != nil {
			return err
		}
		out = r
		ch, err := decide(r)
		if err != nil {
			return err
		}
		out, err = s.applyChange(ctx, tx, r, ch)
		return err
	})
	return out, err
}

// updateRequest writes a request.Change to its request's row (applyChange).
var updateRequest = mustNamed(`
	UPDATE requests SET status = @status, updated_at = @at,
		confirmed_at = coalesce(@confirmed_at::timestamptz, confirmed_at),
		closed_at = CASE WHEN @closes AND closed_at IS NULL THEN @at ELSE closed_at END,
		assignee_id = CASE WHEN @set_assignee THEN nullif(@assignee_id, 0) ELSE assignee_id END,
		original_due_at = CASE WHEN @extended THEN coalesce(original_due_at, due_at) ELSE original_due_at END,
		due_at = coalesce(@due_at::timestamptz, due_at),
		extensions = extensions + CASE WHEN @extended THEN 1 ELSE 0 END,
		outcome_reason = CASE WHEN @outcome_reason <> '' THEN @outcome_reason ELSE outcome_reason END,
		paused_at = CASE WHEN @pause THEN @at WHEN @resume THEN NULL ELSE paused_at END,
		deadline_rule = coalesce(@rule, deadline_rule),
		deadline_legal_ref = coalesce(@legal_ref, deadline_legal_ref),
		deadline_basis = coalesce(@rule_basis, deadline_basis),
		identity_checked_at = coalesce(@identity_at::timestamptz, identity_checked_at),
		identity_method = coalesce(nullif(@identity_method, ''), identity_method),
		identity_checked_by = coalesce(nullif(@identity_staff_id::bigint, 0), identity_checked_by),
		identity_api_key_id = coalesce(nullif(@identity_api_key_id::bigint, 0), identity_api_key_id)
	WHERE id = @id`)

// applyChange moves a request to its new state and records the event and the
// emails that go with it. The decision was made by the domain.
func (s *Store) applyChange(ctx context.Context, tx pgx.Tx, r request.Request, ch request.Change) (request.Request, error) {
	assign, setAssignee := int64(0), ch.Assign != nil
	if setAssignee {
		assign = *ch.Assign
	}
	var identity request.IdentityCheck
	if ch.Identity != nil {
		identity = *ch.Identity
	}
	args, err := updateRequest.bind(map[string]any{
		"id":     r.ID,
		"status": ch.To,
		"at":     ch.At,
		"closes": !ch.To.Open(),
		// A zero time leaves the column as it is.
		"confirmed_at":   orNull(ch.ConfirmedAt),
		"due_at":         orNull(ch.DueAt),
		"set_assignee":   setAssignee,
		"assignee_id":    assign,
		"extended":       ch.Extended,
		"outcome_reason": ch.OutcomeReason,
		"pause":          ch.Pause,
		"resume":         ch.Resume,
		// NULL keeps the rule recorded; a recomputation replaces it.
		"rule":                ruleField(ch.Rule, func(d *deadline.Result) string { return d.Rule }),
		"legal_ref":           ruleField(ch.Rule, func(d *deadline.Result) string { return d.LegalRef }),
		"rule_basis":          ruleField(ch.Rule, func(d *deadline.Result) string { return d.Terms.Encode() }),
		"identity_at":         orNull(identity.At),
		"identity_method":     string(identity.Method),
		"identity_staff_id":   identity.StaffID,
		"identity_api_key_id": identity.APIKeyID,
	})
	if err == nil {
		_, err = tx.Exec(ctx, updateRequest.sql, args...)
	}
	if err != nil {
		return r, fmt.Errorf("update request %s: %w", r.Reference, err)
	}
	if err := s.applyLetterChange(ctx, tx, r, ch); err != nil {
		return r, err
	}
	if ch.RevokeStatusLinks {
		if _, err := tx.Exec(ctx, `UPDATE status_links SET revoked_at = $2 WHERE request_id = $1 AND revoked_at IS NULL`, r.ID, ch.At); err != nil {
			return r, fmt.Errorf("revoke status links: %w", err)
		}
	}
	if ch.AddStatusLink != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO status_links (token_hash, request_id, created_at) VALUES ($1, $2, $3)`, ch.AddStatusLink, r.ID, ch.At); err != nil {
			return r, fmt.Errorf("add status link: %w", err)
		}
	}
	eventID, err := insertEvent(ctx, tx, event{
		RequestID: r.ID, Kind: ch.Event, Actor: ch.Actor, ActorID: ch.ActorID, FromStatus: r.Status, ToStatus: ch.To,
		Data: ch.Data, At: ch.At,
	})
	if err != nil {
		return r, err
	}
	if ch.Text != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO event_texts (event_id, body) VALUES ($1, $2)`,
			eventID, s.keys.SealString(sealed.EventText, ch.Text)); err != nil {
			return r, fmt.Errorf("insert event text: %w", err)
		}
	}
	var messageID int64
	for _, m := range ch.Messages {
		if err := tx.QueryRow(ctx, `INSERT INTO messages (request_id, author, staff_id, body, created_at)
			VALUES ($1, $2, nullif($3, 0), $4, $5) RETURNING id`, r.ID, m.Author, m.StaffID,
			s.keys.SealString(sealed.MessageBody, m.Body), ch.At).Scan(&messageID); err != nil {
			return r, fmt.Errorf("insert message: %w", err)
		}
	}
	var fileID int64
	for _, f := range ch.Files {
		// Files sent with a message belong to it (the last one of the change).
		if err := tx.QueryRow(ctx, `INSERT INTO files (request_id, message_id, purpose, name, content_type, size, sha256, content, created_at)
			VALUES ($1, nullif($2, 0), $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			r.ID, messageID, f.Purpose, s.keys.SealString(sealed.FileName, f.Name), f.ContentType, f.Size, f.SHA256,
			s.keys.Seal(sealed.FileContent, f.Content), ch.At).Scan(&fileID); err != nil {
			return r, fmt.Errorf("insert file: %w", err)
		}
	}
	switch {
	case ch.Download != nil && ch.Download.FileID != 0:
		// A new link to an answer sent before: only to a response file of
		// this request whose content is still held.
		tag, err := tx.Exec(ctx, `INSERT INTO download_links (token_hash, file_id, expires_at, created_at)
			SELECT $1, f.id, $3, $4 FROM files f
			WHERE f.id = $2 AND f.request_id = $5 AND f.purpose = 'response' AND f.content IS NOT NULL`,
			ch.Download.TokenHash, ch.Download.FileID, ch.Download.ExpiresAt, ch.At, r.ID)
		if err != nil {
			return r, fmt.Errorf("insert download link: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return r, ErrNotFound
		}
	case ch.Download != nil && fileID != 0:
		if _, err := tx.Exec(ctx, `INSERT INTO download_links (token_hash, file_id, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
			ch.Download.TokenHash, fileID, ch.Download.ExpiresAt, ch.At); err != nil {
			return r, fmt.Errorf("insert download link: %w", err)
		}
	}
	if err := s.insertEmails(ctx, tx, r.ID, eventID, ch.At, ch.Emails); err != nil {
		return r, err
	}
	if ch.DeleteFiles {
		if _, err := deleteFiles(ctx, tx, []int64{r.ID}, ch.At); err != nil {
			return r, err
		}
	}
	if err := s.recordWebhooks(ctx, tx, r, ch, eventID); err != nil {
		return r, err
	}
	r.Status = ch.To
	if !ch.DueAt.IsZero() {
		r.DueAt = ch.DueAt
	}
	if !ch.ConfirmedAt.IsZero() {
		r.ConfirmedAt = ch.ConfirmedAt
	}
	if ch.Identity != nil {
		r.Identity = *ch.Identity
	}
	return r, nil
}

// ruleField is one field of a replaced rule, or NULL when the rule stays.
func ruleField(r *deadline.Result, get func(*deadline.Result) string) *string {
	if r == nil {
		return nil
	}
	v := get(r)
	return &v
}
