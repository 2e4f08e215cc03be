package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// insertEmails records the emails of an event and enqueues their delivery.
func (s *Store) insertEmails(ctx context.Context, tx pgx.Tx, requestID, eventID int64, at time.Time, emails []request.OutboxEmail) error {
	if len(emails) == 0 {
		return nil
	}
	var m outboxRows
	if err := m.add(s.keys, emails); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO emails (request_id, event_id, kind, locale, message_id, sealed, secrets, created_at)
		SELECT nullif($1, 0), $2, m.kind, m.locale, m.message_id, m.sealed, m.secrets, $3
		FROM unnest($4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[])
			WITH ORDINALITY AS m(kind, locale, message_id, sealed, secrets, n)
		ORDER BY m.n
		RETURNING id`,
		requestID, eventID, at, m.kind, m.locale, m.messageID, m.sealed, m.secrets)
	if err != nil {
		return fmt.Errorf("insert emails: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("insert emails: %w", err)
	}
	if err := s.outbox.EnqueueEmails(s.pool.scope(ctx), tx, ids); err != nil {
		return fmt.Errorf("enqueue emails: %w", err)
	}
	return nil
}

// outboxRows are emails as the inserts take them, a column each (unnest):
// what an email says and to whom is sealed, and so are its secret links
// (NULL when it has none: nothing to forget once sent).
type outboxRows struct {
	kind, locale, messageID []string
	sealed, secrets         [][]byte
}

func (c *outboxRows) add(keys *keyring.Keyring, emails []request.OutboxEmail) error {
	for _, e := range emails {
		doc, err := sealed.SealOutboxEmail(keys, sealed.OutboxEmail{To: e.To, Subject: e.Subject, Text: e.Text, HTML: e.HTML})
		if err != nil {
			return fmt.Errorf("%s: %w", e.Kind, err)
		}
		var secrets []byte
		if len(e.Secrets) > 0 {
			plain, err := json.Marshal(e.Secrets)
			if err != nil {
				return fmt.Errorf("encode %s email: %w", e.Kind, err)
			}
			secrets = keys.Seal(sealed.EmailSecrets, plain)
		}
		c.kind = append(c.kind, e.Kind)
		c.locale = append(c.locale, string(e.Locale))
		c.messageID = append(c.messageID, e.MessageID)
		c.sealed = append(c.sealed, doc)
		c.secrets = append(c.secrets, secrets)
	}
	return nil
}

// Email delivery states.
const (
	EmailQueued = "queued"
	EmailSent   = "sent"
	EmailFailed = "failed"
)

// Email is a recorded email.
type Email struct {
	ID            int64
	RequestID     int64
	Kind          string
	To            string
	Locale        request.Locale
	MessageID     string
	Subject       string
	Text          string
	HTML          string
	Secrets       map[string]string
	State         string
	Attempts      int
	LastError     string
	CreatedAt     time.Time
	LastAttemptAt time.Time
	SentAt        time.Time
	// BouncedAt is when a report came back that the email could not be
	// delivered, with the status code it gave; zero when none did.
	BouncedAt    time.Time
	BounceStatus string
}

const emailColumns = `id, coalesce(request_id, 0), kind, locale, message_id, sealed, secrets,
	state, attempts, last_error, created_at, last_attempt_at, sent_at, bounced_at, bounce_status`

// scanEmail reads emailColumns; a purged email keeps its kind and
// delivery record and says nothing more.
func (s *Store) scanEmail(row pgx.Row) (Email, error) {
	var e Email
	var doc, secrets []byte
	err := row.Scan(&e.ID, &e.RequestID, &e.Kind, &e.Locale, &e.MessageID, &doc, &secrets,
		&e.State, &e.Attempts, &e.LastError, &e.CreatedAt, orZero(&e.LastAttemptAt), orZero(&e.SentAt),
		orZero(&e.BouncedAt), &e.BounceStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, err
	}
	if plain, err := s.keys.Open(sealed.Email, doc); err != nil {
		return e, err
	} else if plain != nil {
		var d sealed.OutboxEmail
		if err := json.Unmarshal(plain, &d); err != nil {
			return e, fmt.Errorf("decode email: %w", err)
		}
		e.To, e.Subject, e.Text, e.HTML = d.To, d.Subject, d.Text, d.HTML
	}
	e.Secrets = map[string]string{}
	if plain, err := s.keys.Open(sealed.EmailSecrets, secrets); err != nil {
		return e, err
	} else if plain != nil {
		if err := json.Unmarshal(plain, &e.Secrets); err != nil {
			return e, fmt.Errorf("decode email secrets: %w", err)
		}
	}
	return e, nil
}

// Emails finds the emails with these ids, oldest first; ids that do not
// exist are left out.
func (s *Store) Emails(ctx context.Context, ids []int64) ([]Email, error) {
	return s.listEmails(ctx, `SELECT `+emailColumns+` FROM emails WHERE id = ANY($1) ORDER BY id`, ids)
}

// EmailsOfRequest lists a request's emails, oldest first.
func (s *Store) EmailsOfRequest(ctx context.Context, requestID int64) ([]Email, error) {
	return s.listEmails(ctx, `SELECT `+emailColumns+` FROM emails WHERE request_id = $1 ORDER BY id`, requestID)
}

// RecentEmails lists the newest emails, for the development mailbox.
func (s *Store) RecentEmails(ctx context.Context, limit int) ([]Email, error) {
	return s.listEmails(ctx, `SELECT `+emailColumns+` FROM emails ORDER BY id DESC LIMIT $1`, limit)
}

func (s *Store) listEmails(ctx context.Context, query string, arg any) ([]Email, error) {
	rows, err := s.pool.Query(ctx, query, arg)
	if err != nil {
		return nil, fmt.Errorf("list emails: %w", err)
	}
	defer rows.Close()
	var out []Email
	for rows.Next() {
		e, err := s.scanEmail(rows)
		if err != nil {
			return nil, fmt.Errorf("read email: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EmailBacklog is what waits to be delivered.
type EmailBacklog struct {
	Queued, Failed int       // never tried or retrying; last attempt failed
	Oldest         time.Time // when the oldest of them was recorded; zero when none waits
}

// EmailBacklog counts the emails not yet accepted by the relay.
func (s *Store) EmailBacklog(ctx context.Context) (EmailBacklog, error) {
	var b EmailBacklog
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'failed'),
		min(created_at) FROM emails WHERE state <> 'sent'`).Scan(&b.Queued, &b.Failed, &oldest)
	if err != nil {
		return b, fmt.Errorf("count unsent emails: %w", err)
	}
	if oldest != nil {
		b.Oldest = *oldest
	}
	return b, nil
}

// MarkEmailsSent records that SMTP accepted the emails and forgets their
// secrets: the link tokens now live only in the recipients' mailboxes. One
// statement (so one round trip, and atomic on its own) marks the emails and
// logs each delivery; an email already marked sent logs nothing more.
func (s *Store) MarkEmailsSent(ctx context.Context, ids []int64, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		WITH sent AS (
			UPDATE emails SET state = 'sent', attempts = attempts + 1, last_error = '',
				last_attempt_at = $2, sent_at = $2, secrets = NULL
			WHERE id = ANY($1) AND state <> 'sent'
			RETURNING id, request_id, kind)
		INSERT INTO events (request_id, kind, actor, data, created_at)
		SELECT request_id, 'email_sent', $3, jsonb_build_object('email_id', id, 'kind', kind), $2
		FROM sent ORDER BY id`,
		ids, at, request.ActorSystem)
	if err != nil {
		return fmt.Errorf("mark emails %v sent: %w", ids, err)
	}
	return nil
}

// MarkEmailFailed records a failed delivery attempt; the job retries it.
// reason must not carry personal data (the SMTP server's reply is fine).
func (s *Store) MarkEmailFailed(ctx context.Context, id int64, at time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE emails SET state = 'failed', attempts = attempts + 1, last_error = left($3, 500),
			last_attempt_at = $2
		WHERE id = $1 AND state <> 'sent'`, id, at, reason)
	if err != nil {
		return fmt.Errorf("mark email failed: %w", err)
	}
	return nil
}

// DeliveryRetrier makes an email's delivery job run again at once, inside
// the transaction that records the retry (River, in production).
type DeliveryRetrier interface {
	RetryDelivery(ctx context.Context, tx pgx.Tx, emailID int64) error
}

// ErrEmailNotFailed is returned when asked to retry an email that has not
// failed (it was sent, or is waiting for its turn).
var ErrEmailNotFailed = errors.New("email has not failed")

// ErrDeliveryRunning is returned when a delivery attempt of the email is
// under way (or still being recorded): retrying now could send it twice.
var ErrDeliveryRunning = errors.New("email delivery attempt in progress")

// RetryEmail puts a failed email of a request back in the queue, has its
// delivery job run now and logs the member of staff who asked, in one
// transaction: a retry is either wholly recorded or not at all.
func (s *Store) RetryEmail(ctx context.Context, requestID, emailID, staffID int64, at time.Time, retrier DeliveryRetrier) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var state, kind string
		err := tx.QueryRow(ctx, `SELECT state, kind FROM emails WHERE id = $1 AND request_id = $2 FOR UPDATE`,
			emailID, requestID).Scan(&state, &kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("find email to retry: %w", err)
		}
		if state != EmailFailed {
			return ErrEmailNotFailed
		}
		if _, err := tx.Exec(ctx, `UPDATE emails SET state = 'queued' WHERE id = $1`, emailID); err != nil {
			return fmt.Errorf("queue email again: %w", err)
		}
		if err := retrier.RetryDelivery(s.pool.scope(ctx), tx, emailID); err != nil {
			// The whole retry rolls back: the email stays failed, nothing is logged.
			return fmt.Errorf("retry delivery of email %d: %w", emailID, err)
		}
		_, err = insertEvent(ctx, tx, event{
			RequestID: requestID, Kind: "email_retried", Actor: request.ActorStaff, ActorID: staffID,
			Data: map[string]any{"email_id": emailID, "kind": kind}, At: at,
		})
		return err
	})
}
