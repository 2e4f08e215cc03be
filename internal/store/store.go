// Package store keeps rightsdesk's data in PostgreSQL through pgx. Each
// method is one transaction: the change, the event that records it and the
// jobs that follow from it commit together or not at all.
//
// A file per thing kept: requests.go reads requests, intake.go writes new
// ones (one statement), changes.go applies the domain's decisions
// (ChangeRequest), confirmations.go the confirmation links and their expiry,
// messages.go the conversation and replies, events.go the append-only log,
// timeline.go the staff timeline, emails.go the outbox, notes.go, files.go,
// downloads.go, staff.go (accounts and sign-in), apikeys.go, webhooks.go;
// queue.go, export.go, dashboard.go, reminders.go and retention.go hold
// what those features read and sweep; statuses.go the status sets the
// queries share.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
)

// ErrNotFound is returned when the row asked for does not exist. It is the
// domain's own sentinel, so callers test one error whichever layer found out.
var ErrNotFound = request.ErrNotFound

// Outbox enqueues the delivery of a recorded email inside the transaction
// that recorded it, so that an email exists exactly when its job does.
type Outbox interface {
	EnqueueEmails(ctx context.Context, tx pgx.Tx, emailIDs []int64) error
	// DeliveryJob says how to write the delivery job of a submission's
	// emails in the intake's one statement.
	DeliveryJob() DeliveryJob
}

// DeliveryJob is how the intake writes the job that delivers its emails: a
// River job row, written in SQL as River's clients in other languages write
// theirs.
type DeliveryJob struct {
	Kind, Queue string
	MaxAttempts int
	IDsField    string // the field of the job's arguments that lists the email ids
	// Notify is the payload to wake the workers with on River's insert
	// channel; "" when they were woken a moment ago.
	Notify string
}

// Store is the database.
type Store struct {
	pool   scopedPool
	outbox Outbox
	keys   *keyring.Keyring // seals personal data on its way in, opens it on its way out
	// deployment is the keyring New was given, whose keys seal what is the
	// deployment's rather than one operator's (staff accounts) and from
	// which each operator's are derived (keys, in For).
	deployment *keyring.Keyring
	// intake commits concurrent submissions together (intakebatch.go);
	// shared by the stores For returns.
	intake *intakeBatcher
	// searchCap and searchFence are SearchCap and searchFence (queue.go),
	// the most matches a search is read by id with and how far a broader
	// one walks its tab, unless a test sets them lower to reach both paths
	// with a few requests; 0 is the default.
	searchCap, searchFence int
}

// New returns a store on pool that enqueues email delivery through outbox
// and keeps personal data sealed with keys.
func New(pool *pgxpool.Pool, outbox Outbox, keys *keyring.Keyring) *Store {
	return &Store{pool: scopedPool{p: pool}, outbox: outbox, keys: keys, deployment: keys, intake: newIntakeBatcher()}
}

// Ping checks that the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// isUniqueViolation reports whether err broke the unique constraint named.
func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// Times a row may not have yet (confirmed_at, closed_at, sent_at…) are NULL
// in the database and the zero time.Time in Go. orZero and orNull are the
// one place that maps one onto the other, so that no query needs a sentinel
// time.

// orZero is a scan destination for a nullable timestamptz: NULL sets *t to
// the zero time.
func orZero(t *time.Time) pgtype.TimestamptzScanner { return zeroOrTime{t} }

type zeroOrTime struct{ t *time.Time }

func (z zeroOrTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	*z.t = time.Time{}
	if v.Valid {
		*z.t = v.Time
	}
	return nil
}

// orNull is t as a query argument: NULL for the zero time.
func orNull(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
