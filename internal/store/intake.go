package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// CreateRequestSQL stores a request and everything that comes with it in one
// statement, so in one round trip and atomically: the request, its
// "received" event, status link, confirmation, idempotency key, proof files,
// emails and the job that delivers them, and wakes the email workers. An open
// request of the same person for the same right makes this one a possible
// duplicate (oldest first, so chains point at the original); staff decide.
// The job row is written as River's clients in other languages write theirs
// (River's jobs table is its interface between languages), with River's
// insert notification (store.DeliveryJob). The acknowledgement is counted
// against its address's limit for the day in the same statement; past it
// nothing is written and no row comes back. Exported for the baselines of
// scripts/bench (internal/bench/bare), which commit the same rows with it.
func CreateRequestSQL() string { return createRequestSQL }

var createRequestSQL = `
WITH acknowledged AS (
	-- Counts the acknowledgement against its address's day ($41) when there
	-- is a limit ($42): past it, no row, and then nothing below is written.
	INSERT INTO acknowledgement_counts (email_index, day, sent)
	SELECT ($11::bytea[])[1], $41::date, 1 WHERE $42::int > 0
	ON CONFLICT (email_index, day) DO UPDATE SET sent = acknowledgement_counts.sent + 1
		WHERE acknowledgement_counts.sent < $42::int
	RETURNING sent
), dup AS (
	SELECT min(id) AS id FROM requests
	WHERE email_index = ANY($11) AND type = $2
	  AND ` + StatusIn("status", request.OpenStatuses()) + `
), r AS (
	INSERT INTO requests (reference, type, status, locale, received_at,
		due_at, deadline_rule, deadline_legal_ref, deadline_basis, personal, email_index,
		search_index, on_behalf, relationship, access_scope,
		duplicate_of, updated_at, confirmed_at,
		identity_checked_at, identity_method, identity_api_key_id)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ($11::bytea[])[1], $12, $13, $14, $15,
		dup.id, $5, $16::timestamptz,
		CASE WHEN $39::text <> '' THEN $5::timestamptz END, nullif($39::text, ''), nullif($40::bigint, 0)
	FROM dup
	WHERE $42::int <= 0 OR EXISTS (SELECT FROM acknowledged)
	RETURNING id, duplicate_of
), ev AS (
	-- Filed by an operator's system with its key (identity_api_key_id), the
	-- event is that key's, as every key action is: staff, with no staff id.
	INSERT INTO events (request_id, kind, actor, to_status, data, created_at)
	SELECT r.id, 'received', CASE WHEN $40::bigint <> 0 THEN 'staff' ELSE 'requester' END, $3,
		$17::jsonb || CASE WHEN r.duplicate_of IS NULL THEN '{}'::jsonb
		ELSE jsonb_build_object('possible_duplicate_of', r.duplicate_of) END, $5
	FROM r
	RETURNING id, request_id
), link AS (
	INSERT INTO status_links (token_hash, request_id, created_at) SELECT $18, r.id, $5 FROM r
), confirmation AS (
	INSERT INTO confirmations (request_id, token_hash, expires_at)
	SELECT r.id, $19, $20 FROM r WHERE $19::bytea IS NOT NULL
), idempotency AS (
	-- A second submission with the same key waits here for the first to
	-- commit, then fails on the key, and CreateRequest finds the first.
	INSERT INTO idempotency_keys (key_hash, request_id, body_hash, created_at)
	SELECT $21, r.id, $22, $5 FROM r WHERE $21::bytea IS NOT NULL
), proof AS (
	INSERT INTO files (request_id, purpose, name, content_type, size, sha256, content, created_at)
	SELECT r.id, f.purpose, f.name, f.content_type, f.size, f.sha256, f.content, $5
	FROM r, unnest($23::text[], $24::bytea[], $25::text[], $26::bigint[], $27::bytea[], $28::bytea[])
		WITH ORDINALITY AS f(purpose, name, content_type, size, sha256, content, n)
	ORDER BY f.n
), mail AS (
	INSERT INTO emails (request_id, event_id, kind, locale, message_id, sealed, secrets, created_at)
	SELECT ev.request_id, ev.id, m.kind, m.locale, m.message_id, m.sealed, m.secrets, $5
	FROM ev, unnest($29::text[], $30::text[], $31::text[], $32::bytea[], $33::bytea[])
		WITH ORDINALITY AS m(kind, locale, message_id, sealed, secrets, n)
	ORDER BY m.n
	RETURNING id
), job AS (
	INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at, created_at, metadata, tags)
	SELECT jsonb_build_object($34::text, jsonb_agg(id ORDER BY id)), $35, $36::smallint, 1, $37,
		'available', now(), now(), '{}', '{}'
	FROM mail HAVING count(*) > 0
	RETURNING id
), wake AS (
	SELECT pg_notify(current_schema() || '.river_insert', $38) FROM job WHERE $38 <> ''
)
SELECT r.id, coalesce(r.duplicate_of, 0), (SELECT count(*) FROM wake) FROM r`

// CreateRequest writes a new request, its "received" event, its confirmation
// and status link, its emails and their delivery, in one statement
// (createRequestSQL).
func (s *Store) CreateRequest(ctx context.Context, nr request.NewRequest) (request.Request, error) {
	r := nr.Request
	if nr.IdempotencyKeyHash != nil {
		var firstID int64
		var body []byte
		err := s.pool.QueryRow(ctx, `SELECT request_id, body_hash FROM idempotency_keys WHERE key_hash = $1`, nr.IdempotencyKeyHash).Scan(&firstID, &body)
		if err == nil {
			if !bytes.Equal(body, nr.BodyHash) {
				return request.Request{}, request.ErrIdempotencyMismatch
			}
			return request.Request{ID: firstID}, request.ErrRepeated
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return request.Request{}, fmt.Errorf("look up idempotency key: %w", err)
		}
	}
	personal, index, err := s.sealPersonal(r)
	if err != nil {
		return request.Request{}, err
	}
	var f intakeFiles
	for _, file := range nr.Files {
		f.add(s.keys, file)
	}
	var m outboxRows
	if err := m.add(s.keys, nr.Emails); err != nil {
		return request.Request{}, err
	}
	job := s.outbox.DeliveryJob()
	received := map[string]any{"type": r.Type, "rule": r.Rule, "due_at": r.DueAt, "proof_files": len(nr.Files)}
	if nr.VouchedBy != 0 {
		received["api_key_id"], received["identity_method"] = nr.VouchedBy, r.Identity.Method
	}
	var woken int
	err = s.pool.QueryRow(ctx, createRequestSQL,
		r.Reference, r.Type, r.Status, r.Locale, r.ReceivedAt,
		r.DueAt, r.Rule, r.LegalRef, r.RuleBasis, personal,
		// The current key's term first: it is the one stored.
		sealed.EmailIndexes(s.keys, r.Email), index,
		r.OnBehalf, r.Relationship, r.AccessScope, orNull(r.ConfirmedAt),
		received,
		nr.StatusTokenHash, nr.ConfirmTokenHash, nr.ConfirmExpiresAt,
		nr.IdempotencyKeyHash, nr.BodyHash,
		f.purpose, f.name, f.contentType, f.size, f.sha256, f.content,
		m.kind, m.locale, m.messageID, m.sealed, m.secrets,
		job.IDsField, job.Kind, job.MaxAttempts, job.Queue, job.Notify,
		string(r.Identity.Method), nr.VouchedBy,
		nullable(nr.AcknowledgementDay), nr.AcknowledgementLimit,
	).Scan(&r.ID, &r.DuplicateOf, &woken)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && nr.AcknowledgementLimit > 0:
		return request.Request{}, request.ErrAcknowledgementLimit
	case isUniqueViolation(err, "requests_reference_key"):
		return request.Request{}, request.ErrReferenceTaken
	case isUniqueViolation(err, "idempotency_keys_pkey"):
		// Another submission with this key committed meanwhile; nothing of
		// this one was stored. The lookup above now finds the first.
		return s.CreateRequest(ctx, nr)
	case err != nil:
		return request.Request{}, fmt.Errorf("store request: %w", err)
	}
	return r, nil
}

// nullable is NULL for "".
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// intakeFiles are proof files as CreateRequestSQL takes them: a column each.
type intakeFiles struct {
	purpose, contentType  []string
	name, sha256, content [][]byte
	size                  []int64
}

func (c *intakeFiles) add(keys *keyring.Keyring, f request.File) {
	c.purpose = append(c.purpose, f.Purpose)
	c.name = append(c.name, keys.SealString(sealed.FileName, f.Name))
	c.contentType = append(c.contentType, f.ContentType)
	c.size = append(c.size, f.Size)
	c.sha256 = append(c.sha256, f.SHA256)
	c.content = append(c.content, keys.Seal(sealed.FileContent, f.Content))
}

// PruneIdempotencyKeys forgets keys older than cutoff.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
