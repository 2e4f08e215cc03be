package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/opscope"
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
// nothing is written and no row comes back. Every row it writes is the
// operator's the connection is scoped to (the request's operator_id is the
// column's default, migration 00037, and every other row takes the
// request's, which is that default computed once and not again per table;
// Store.For sets the scope), and the duplicate it looks
// for is that operator's (row-level security, 00038). Its parameters are named
// (namedSQL). Exported for the baselines of scripts/bench
// (tools/bench/bare), which commit the same rows with it.
func CreateRequestSQL() string { return createRequest.named }

// CreateRequestQuery is CreateRequestSQL ready to send: the statement with
// $1… and args in their order, as CreateRequest sends it. A name args lacks,
// or one the statement does not take, is an error.
func CreateRequestQuery(args map[string]any) (string, []any, error) {
	positional, err := createRequest.bind(args)
	return createRequest.sql, positional, err
}

var createRequest = mustNamed(`
WITH acknowledged AS (
	-- Counts the acknowledgement against its address's day when there is a
	-- limit: past it, no row, and then nothing below is written.
	INSERT INTO acknowledgement_counts (email_index, day, sent)
	SELECT (@email_indexes::bytea[])[1], @acknowledgement_day::date, 1 WHERE @acknowledgement_limit::int > 0
	ON CONFLICT ON CONSTRAINT acknowledgement_counts_pkey DO UPDATE SET sent = acknowledgement_counts.sent + 1
		WHERE acknowledgement_counts.sent < @acknowledgement_limit::int
	RETURNING sent
), dup AS (
	-- The oldest open request per term (one while keys are not being
	-- rotated) is the first entry of requests_email_index_idx's range:
	-- one probe each, however many open requests the address has.
	SELECT min(first.id) AS id FROM unnest(@email_indexes::bytea[]) AS term(email_index),
	LATERAL (SELECT id FROM requests
		WHERE email_index = term.email_index AND type = @type
		  AND ` + StatusIn("status", request.OpenStatuses()) + `
		ORDER BY id LIMIT 1) AS first
), r AS (
	INSERT INTO requests (reference, type, status, locale, received_at,
		due_at, deadline_rule, deadline_legal_ref, deadline_basis, personal, email_index,
		search_index, on_behalf, relationship, access_scope,
		duplicate_of, updated_at, confirmed_at,
		identity_checked_at, identity_method, identity_api_key_id)
	SELECT @reference, @type, @status, @locale, @received_at,
		@due_at, @rule, @legal_ref, @rule_basis, @personal, (@email_indexes::bytea[])[1],
		@search_index, @on_behalf, @relationship, @access_scope,
		dup.id, @received_at, @confirmed_at::timestamptz,
		CASE WHEN @identity_method::text <> '' THEN @received_at::timestamptz END,
		nullif(@identity_method::text, ''), nullif(@vouched_by::bigint, 0)
	FROM dup
	WHERE @acknowledgement_limit::int <= 0 OR EXISTS (SELECT FROM acknowledged)
	RETURNING id, duplicate_of, operator_id
), ev AS (
	-- Filed by an operator's system with its key (identity_api_key_id), the
	-- event is that key's, as every key action is: staff, with no staff id.
	INSERT INTO events (request_id, operator_id, kind, actor, to_status, data, created_at)
	SELECT r.id, r.operator_id, 'received', CASE WHEN @vouched_by::bigint <> 0 THEN 'staff' ELSE 'requester' END, @status,
		@received_data::jsonb || CASE WHEN r.duplicate_of IS NULL THEN '{}'::jsonb
		ELSE jsonb_build_object('possible_duplicate_of', r.duplicate_of) END, @received_at
	FROM r
	RETURNING id, request_id, operator_id
), link AS (
	INSERT INTO status_links (token_hash, request_id, operator_id, created_at)
	SELECT @status_token_hash, r.id, r.operator_id, @received_at FROM r
), confirmation AS (
	INSERT INTO confirmations (request_id, operator_id, token_hash, expires_at)
	SELECT r.id, r.operator_id, @confirm_token_hash, @confirm_expires_at FROM r WHERE @confirm_token_hash::bytea IS NOT NULL
), idempotency AS (
	-- A second submission with the same key waits here for the first to
	-- commit, then fails on the key, and CreateRequest finds the first.
	INSERT INTO idempotency_keys (key_hash, request_id, operator_id, body_hash, created_at)
	SELECT @idempotency_key_hash, r.id, r.operator_id, @body_hash, @received_at FROM r WHERE @idempotency_key_hash::bytea IS NOT NULL
), proof AS (
	INSERT INTO files (request_id, operator_id, purpose, name, content_type, size, sha256, content, created_at)
	SELECT r.id, r.operator_id, f.purpose, f.name, f.content_type, f.size, f.sha256, f.content, @received_at
	FROM r, unnest(@file_purposes::text[], @file_names::bytea[], @file_content_types::text[],
			@file_sizes::bigint[], @file_sha256s::bytea[], @file_contents::bytea[])
		WITH ORDINALITY AS f(purpose, name, content_type, size, sha256, content, n)
	ORDER BY f.n
), mail AS (
	INSERT INTO emails (request_id, operator_id, event_id, kind, locale, message_id, sealed, secrets, created_at)
	SELECT ev.request_id, ev.operator_id, ev.id, m.kind, m.locale, m.message_id, m.sealed, m.secrets, @received_at
	FROM ev, unnest(@email_kinds::text[], @email_locales::text[], @email_message_ids::text[],
			@email_sealed::bytea[], @email_secrets::bytea[])
		WITH ORDINALITY AS m(kind, locale, message_id, sealed, secrets, n)
	ORDER BY m.n
	RETURNING id
), job AS (
	INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at, created_at, metadata, tags)
	SELECT jsonb_build_object(@job_ids_field::text, jsonb_agg(id ORDER BY id)), @job_kind, @job_max_attempts::smallint, 1, @job_queue,
		'available', now(), now(),
		-- The operator the connection is scoped to, as jobs.operatorInsert
		-- records it for jobs River's client inserts.
		jsonb_strip_nulls(jsonb_build_object('operator_id', nullif(current_setting('rightsdesk.operator', true), '')::bigint)), '{}'
	FROM mail HAVING count(*) > 0
	RETURNING id
), wake AS (
	SELECT pg_notify(current_schema() || '.river_insert', @job_notify) FROM job WHERE @job_notify <> ''
)
SELECT r.id, coalesce(r.duplicate_of, 0), (SELECT count(*) FROM wake) FROM r`)

// CreateRequest writes a new request, its "received" event, its confirmation
// and status link, its emails and their delivery, in one statement
// (CreateRequestSQL).
//
// Concurrent submissions are committed together (intakebatch.go): each is
// answered after the commit that stored it, and one the database refuses
// is refused as it would have been alone, without failing the others.
func (s *Store) CreateRequest(ctx context.Context, nr request.NewRequest) (request.Request, error) {
	if s.intake == nil {
		return s.insertRequest(ctx, s.pool, nr)
	}
	return s.insertRequestWith(ctx, s.pool, nr, func(ctx context.Context, args []any) (int64, int64, int, error) {
		return s.intake.commit(ctx, s.pool, s.intakeScope(ctx), createRequest.sql, args)
	})
}

// intakeScope is the operator a submission is stored for, as its batch's
// queue is keyed: the store's, or its context's.
func (s *Store) intakeScope(ctx context.Context) int64 {
	if s.pool.operator != 0 {
		return s.pool.operator
	}
	if id, ok := opscope.From(ctx); ok {
		return id
	}
	return noScope
}

// insertRequest is CreateRequest on q alone: the transaction that stores a
// letter with the request it becomes (letters.go).
func (s *Store) insertRequest(ctx context.Context, q querier, nr request.NewRequest) (request.Request, error) {
	return s.insertRequestWith(ctx, q, nr, func(ctx context.Context, args []any) (id, duplicateOf int64, woken int, err error) {
		err = q.QueryRow(ctx, createRequest.sql, args...).Scan(&id, &duplicateOf, &woken)
		return id, duplicateOf, woken, err
	})
}

// insertRequestWith is the intake with run sending the statement's
// arguments: q looks up an idempotency key first.
func (s *Store) insertRequestWith(ctx context.Context, q querier, nr request.NewRequest,
	run func(ctx context.Context, args []any) (id, duplicateOf int64, woken int, err error)) (request.Request, error) {
	r := nr.Request
	if nr.IdempotencyKeyHash != nil {
		var firstID int64
		var body []byte
		err := q.QueryRow(ctx, `SELECT request_id, body_hash FROM idempotency_keys WHERE key_hash = $1`, nr.IdempotencyKeyHash).Scan(&firstID, &body)
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
	if nr.Source != "" {
		received["source"] = nr.Source
	}
	args, err := createRequest.bind(map[string]any{
		"reference":    r.Reference,
		"type":         r.Type,
		"status":       r.Status,
		"locale":       r.Locale,
		"received_at":  r.ReceivedAt,
		"confirmed_at": orNull(r.ConfirmedAt),
		"due_at":       r.DueAt,
		"rule":         r.Rule,
		"legal_ref":    r.LegalRef,
		"rule_basis":   r.RuleBasis,
		"personal":     personal,
		"search_index": index,
		// The current key's term first: it is the one stored.
		"email_indexes":   sealed.EmailIndexes(s.keys, r.Email),
		"on_behalf":       r.OnBehalf,
		"relationship":    r.Relationship,
		"access_scope":    r.AccessScope,
		"identity_method": string(r.Identity.Method),
		"vouched_by":      nr.VouchedBy,
		"received_data":   received,

		"status_token_hash":    nr.StatusTokenHash,
		"confirm_token_hash":   nr.ConfirmTokenHash,
		"confirm_expires_at":   nr.ConfirmExpiresAt,
		"idempotency_key_hash": nr.IdempotencyKeyHash,
		"body_hash":            nr.BodyHash,

		"file_purposes":      f.purpose,
		"file_names":         f.name,
		"file_content_types": f.contentType,
		"file_sizes":         f.size,
		"file_sha256s":       f.sha256,
		"file_contents":      f.content,

		"email_kinds":       m.kind,
		"email_locales":     m.locale,
		"email_message_ids": m.messageID,
		"email_sealed":      m.sealed,
		"email_secrets":     m.secrets,
		"job_ids_field":     job.IDsField,
		"job_kind":          job.Kind,
		"job_max_attempts":  job.MaxAttempts,
		"job_queue":         job.Queue,
		"job_notify":        job.Notify,

		"acknowledgement_day":   nullable(nr.AcknowledgementDay),
		"acknowledgement_limit": nr.AcknowledgementLimit,
	})
	if err != nil {
		return request.Request{}, fmt.Errorf("store request: %w", err)
	}
	r.ID, r.DuplicateOf, _, err = run(ctx, args)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && nr.AcknowledgementLimit > 0:
		return request.Request{}, request.ErrAcknowledgementLimit
	case isUniqueViolation(err, "requests_reference_key"):
		return request.Request{}, request.ErrReferenceTaken
	case isUniqueViolation(err, "idempotency_keys_pkey"):
		// Another submission with this key committed meanwhile; nothing of
		// this one was stored. The lookup above now finds the first.
		return s.insertRequestWith(ctx, q, nr, run)
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
