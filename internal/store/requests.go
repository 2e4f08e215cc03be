package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"rightsdesk/internal/deadline"
	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// requestColumns reads a request from requestFrom.
const requestColumns = `r.id, r.reference, r.type, r.status, r.locale, r.received_at,
	coalesce(r.confirmed_at, 'epoch'), r.due_at, r.deadline_rule, r.deadline_legal_ref, r.deadline_basis,
	r.personal, r.on_behalf, r.relationship, r.access_scope, coalesce(r.duplicate_of, 0),
	coalesce(a.id, 0), coalesce(a.name, ''), coalesce(a.email, ''), coalesce(a.locale, ''),
	r.extensions, coalesce(r.original_due_at, 'epoch'), r.outcome_reason, coalesce(r.paused_at, 'epoch'),
	coalesce(r.identity_checked_at, 'epoch'), coalesce(r.identity_method, ''), coalesce(r.identity_checked_by, 0),
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
		&r.ConfirmedAt, &r.DueAt, &r.Rule, &r.LegalRef, &r.RuleBasis,
		&personal, &r.OnBehalf, &r.Relationship, &r.AccessScope, &r.DuplicateOf,
		&r.AssigneeID, &r.AssigneeName, &r.AssigneeEmail, &r.AssigneeLocale,
		&r.Extensions, &r.OriginalDueAt, &r.OutcomeReason, &r.PausedAt,
		&r.Identity.At, &r.Identity.Method, &r.Identity.StaffID, &r.Identity.APIKeyID, &r.Identity.ByName}, extra...)
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.ConfirmedAt = zeroEpoch(r.ConfirmedAt)
	r.OriginalDueAt = zeroEpoch(r.OriginalDueAt)
	r.PausedAt = zeroEpoch(r.PausedAt)
	r.Identity.At = zeroEpoch(r.Identity.At)
	return r, s.openPersonal(personal, &r)
}

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
// scripts/bench (tools/bench/bare), which commit the same rows with it.
const CreateRequestSQL = `
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
	  AND status IN ('unverified', 'new', 'in_progress', 'awaiting_requester')
), r AS (
	INSERT INTO requests (reference, type, status, locale, received_at,
		due_at, deadline_rule, deadline_legal_ref, deadline_basis, personal, email_index,
		search_index, on_behalf, relationship, access_scope,
		duplicate_of, updated_at, confirmed_at,
		identity_checked_at, identity_method, identity_api_key_id)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ($11::bytea[])[1], $12, $13, $14, $15,
		dup.id, $5, nullif($16::timestamptz, 'epoch'),
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
// (CreateRequestSQL).
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
	err = s.pool.QueryRow(ctx, CreateRequestSQL,
		r.Reference, r.Type, r.Status, r.Locale, r.ReceivedAt,
		r.DueAt, r.Rule, r.LegalRef, r.RuleBasis, personal,
		// The current key's term first: it is the one stored.
		sealed.EmailIndexes(s.keys, r.Email), index,
		r.OnBehalf, r.Relationship, r.AccessScope, orEpoch(r.ConfirmedAt),
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

// RequestByStatusToken finds the request a status link points at.
func (s *Store) RequestByStatusToken(ctx context.Context, tokenHash []byte) (request.Request, error) {
	return s.scanRequest(s.pool.QueryRow(ctx,
		`SELECT `+requestColumns+requestFrom+`WHERE r.id = `+byStatusLink, tokenHash))
}

// RequestByReference finds a request by its reference.
func (s *Store) RequestByReference(ctx context.Context, reference string) (request.Request, error) {
	return s.scanRequest(s.pool.QueryRow(ctx,
		`SELECT `+requestColumns+requestFrom+`WHERE r.reference = $1`, reference))
}

// event is one row of the append-only log.
type event struct {
	RequestID  int64
	Kind       string
	Actor      request.Actor
	ActorID    int64
	FromStatus request.Status
	ToStatus   request.Status
	Data       map[string]any
	At         time.Time
}

func insertEvent(ctx context.Context, tx pgx.Tx, e event) (int64, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return 0, fmt.Errorf("encode event data: %w", err)
	}
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO events (request_id, kind, actor, actor_id, from_status, to_status, data, created_at)
		VALUES (nullif($1, 0), $2, $3, nullif($4, 0), nullif($5, ''), nullif($6, ''), $7, $8)
		RETURNING id`,
		e.RequestID, e.Kind, e.Actor, e.ActorID, e.FromStatus, e.ToStatus, data, e.At).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert %s event: %w", e.Kind, err)
	}
	return id, nil
}

// Event is a logged event as readers see it.
type Event struct {
	ID         int64
	Kind       string
	Actor      request.Actor
	FromStatus request.Status
	ToStatus   request.Status
	Data       map[string]any
	Text       string // what staff typed for it (request.Change.Text); empty once purged
	At         time.Time
}

// eventColumns reads an event of events e joined to its text t.
const eventColumns = `e.id, e.kind, e.actor, coalesce(e.from_status, ''), coalesce(e.to_status, ''), e.data, t.body, e.created_at`

// eventFrom is the log with the texts staff typed.
const eventFrom = ` FROM events e LEFT JOIN event_texts t ON t.event_id = e.id `

// scanEvent reads eventColumns followed by extra columns.
func (s *Store) scanEvent(row pgx.Row, e *Event, extra ...any) error {
	var text []byte
	if err := row.Scan(append([]any{&e.ID, &e.Kind, &e.Actor, &e.FromStatus, &e.ToStatus, &e.Data, &text, &e.At}, extra...)...); err != nil {
		return err
	}
	var err error
	e.Text, err = s.openText(sealed.EventText, text)
	return err
}

// Events lists a request's events, oldest first.
func (s *Store) Events(ctx context.Context, requestID int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+eventFrom+`WHERE e.request_id = $1 ORDER BY e.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var e Event
		err := s.scanEvent(row, &e)
		return e, err
	})
}

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// Confirmation returns a confirmation link and its request.
func (s *Store) Confirmation(ctx context.Context, tokenHash []byte) (request.Request, request.Confirmation, error) {
	return s.confirmation(ctx, s.pool, tokenHash, "")
}

func (s *Store) confirmation(ctx context.Context, q querier, tokenHash []byte, lock string) (request.Request, request.Confirmation, error) {
	var c request.Confirmation
	var used time.Time
	r, err := s.scanRequestWith(q.QueryRow(ctx, `
		SELECT `+requestColumns+`, c.expires_at, coalesce(c.used_at, 'epoch')
		FROM confirmations c JOIN requests r ON r.id = c.request_id LEFT JOIN staff a ON a.id = r.assignee_id `+identityJoins+`
		WHERE c.token_hash = $1 `+lock, tokenHash), &c.ExpiresAt, &used)
	if err != nil {
		return r, c, err
	}
	c.RequestID, c.UsedAt = r.ID, zeroEpoch(used)
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
	_, err := tx.Exec(ctx, `
		UPDATE requests SET status = $2, updated_at = $3,
			confirmed_at = coalesce(nullif($4::timestamptz, 'epoch'), confirmed_at),
			closed_at = CASE WHEN $5 AND closed_at IS NULL THEN $3 ELSE closed_at END,
			assignee_id = CASE WHEN $6 THEN nullif($7, 0) ELSE assignee_id END,
			original_due_at = CASE WHEN $8 THEN coalesce(original_due_at, due_at) ELSE original_due_at END,
			due_at = coalesce(nullif($9::timestamptz, 'epoch'), due_at),
			extensions = extensions + CASE WHEN $8 THEN 1 ELSE 0 END,
			outcome_reason = CASE WHEN $10 <> '' THEN $10 ELSE outcome_reason END,
			paused_at = CASE WHEN $11 THEN $3 WHEN $12 THEN NULL ELSE paused_at END,
			deadline_rule = coalesce($13, deadline_rule),
			deadline_legal_ref = coalesce($14, deadline_legal_ref),
			deadline_basis = coalesce($15, deadline_basis),
			identity_checked_at = coalesce(nullif($16::timestamptz, 'epoch'), identity_checked_at),
			identity_method = coalesce(nullif($17, ''), identity_method),
			identity_checked_by = coalesce(nullif($18::bigint, 0), identity_checked_by),
			identity_api_key_id = coalesce(nullif($19::bigint, 0), identity_api_key_id)
		WHERE id = $1`,
		r.ID, ch.To, ch.At, orEpoch(ch.ConfirmedAt), !ch.To.Open(), setAssignee, assign,
		ch.Extended, orEpoch(ch.DueAt), ch.OutcomeReason, ch.Pause, ch.Resume,
		ruleField(ch.Rule, func(d *deadline.Result) string { return d.Rule }),
		ruleField(ch.Rule, func(d *deadline.Result) string { return d.LegalRef }),
		ruleField(ch.Rule, func(d *deadline.Result) string { return d.Terms.Encode() }),
		orEpoch(identity.At), string(identity.Method), identity.StaffID, identity.APIKeyID)
	if err != nil {
		return r, fmt.Errorf("update request %s: %w", r.Reference, err)
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

func orEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0)
	}
	return t
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

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
		r, err := s.scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+requestFrom+`WHERE `+where+lockRequest, arg))
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

// ExpireUnconfirmed applies decide to unverified requests whose
// confirmation link ran out before now. SKIP LOCKED lets two instances
// sweep at once without waiting on, or doubling, each other's work.
func (s *Store) ExpireUnconfirmed(ctx context.Context, now time.Time, limit int, decide func(request.Request) (request.Change, error)) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+requestFrom+`
			JOIN confirmations c ON c.request_id = r.id
			WHERE r.status = 'unverified' AND c.used_at IS NULL AND c.expires_at < $1
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

// Message is one message on a request's conversation.
type Message struct {
	ID     int64
	Author request.Actor
	Body   string
	At     time.Time
	Files  []MessageFile
}

// MessageFile is a file sent with a message, without its content.
type MessageFile struct {
	ID             int64
	Name           string
	ContentType    string
	Size           int64
	Purpose        string
	AvailableUntil *time.Time // for a response file: until when its download links work
	Deleted        bool       // its content was deleted after the retention period
}

// Messages lists a request's conversation, oldest first, with the files
// sent with each message (metadata only).
func (s *Store) Messages(ctx context.Context, requestID int64) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, author, body, created_at FROM messages WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Message, error) {
		var m Message
		var body []byte
		if err := row.Scan(&m.ID, &m.Author, &body, &m.At); err != nil {
			return m, err
		}
		var err error
		m.Body, err = s.openText(sealed.MessageBody, body)
		return m, err
	})
	if err != nil || len(msgs) == 0 {
		return msgs, err
	}
	rows, err = s.pool.Query(ctx, `
		SELECT f.message_id, f.id, f.name, f.content_type, f.size, f.purpose,
			(SELECT max(expires_at) FROM download_links l WHERE l.file_id = f.id), f.content IS NULL
		FROM files f WHERE f.request_id = $1 AND f.message_id IS NOT NULL ORDER BY f.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list message files: %w", err)
	}
	byMessage := map[int64][]MessageFile{}
	var messageID int64
	var f MessageFile
	var name []byte
	if _, err := pgx.ForEachRow(rows, []any{&messageID, &f.ID, &name, &f.ContentType, &f.Size, &f.Purpose, &f.AvailableUntil, &f.Deleted}, func() error {
		var file request.File
		file.ID, file.Purpose = f.ID, f.Purpose
		if err := s.openFileName(name, &file); err != nil {
			return err
		}
		f.Name = file.Name
		byMessage[messageID] = append(byMessage[messageID], f)
		f.AvailableUntil = nil // the next row scans into a fresh pointer
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read message files: %w", err)
	}
	for i := range msgs {
		msgs[i].Files = byMessage[msgs[i].ID]
	}
	return msgs, nil
}

// ruleField is one field of a replaced rule, or NULL when the rule stays.
func ruleField(r *deadline.Result, get func(*deadline.Result) string) *string {
	if r == nil {
		return nil
	}
	v := get(r)
	return &v
}

// AddReply adds a requester's reply through a live status link, as
// request.ReplyRepository says: the request is locked, what its replies
// used is counted, decide decides, and the change is applied with the link
// recorded on the reply's event (by its row id), which is what the next
// count per link reads.
func (s *Store) AddReply(ctx context.Context, tokenHash []byte, linkSince, requestSince time.Time,
	decide func(request.Request, request.ReplyUsage) (request.Change, error)) (request.Request, error) {
	var out request.Request
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var linkID int64
		r, err := s.scanRequestWith(tx.QueryRow(ctx, `SELECT `+requestColumns+`, l.id`+requestFrom+`
			JOIN status_links l ON l.request_id = r.id
			WHERE l.token_hash = $1 AND l.revoked_at IS NULL`+lockRequest, tokenHash), &linkID)
		if err != nil {
			return err
		}
		out = r
		var u request.ReplyUsage
		var firstLink, firstRequest *time.Time
		err = tx.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE created_at > $2 AND (data->>'status_link')::bigint = $3),
				count(*) FILTER (WHERE created_at > $4),
				min(created_at) FILTER (WHERE created_at > $2 AND (data->>'status_link')::bigint = $3),
				min(created_at) FILTER (WHERE created_at > $4),
				(SELECT coalesce(sum(size), 0) FROM files WHERE request_id = $1 AND purpose = ANY($6))
			FROM events WHERE request_id = $1 AND kind = $5 AND created_at > least($2, $4)`,
			r.ID, linkSince, linkID, requestSince, request.EventRequesterReplied,
			[]string{request.FileProof, request.FileRequester}).
			Scan(&u.LinkReplies, &u.RequestReplies, &firstLink, &firstRequest, &u.Stored)
		if err != nil {
			return fmt.Errorf("count replies: %w", err)
		}
		if firstLink != nil {
			u.FirstLinkReply = *firstLink
		}
		if firstRequest != nil {
			u.FirstRequestReply = *firstRequest
		}
		ch, err := decide(r, u)
		if err != nil {
			return err
		}
		if ch.Data == nil {
			ch.Data = map[string]any{}
		}
		ch.Data["status_link"] = linkID
		out, err = s.applyChange(ctx, tx, r, ch)
		return err
	})
	return out, err
}
