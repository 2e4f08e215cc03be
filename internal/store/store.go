// Package store keeps rightsdesk's data in PostgreSQL through pgx. Each
// method is one transaction: the change, the event that records it and the
// jobs that follow from it commit together or not at all.
package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
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
	pool   *pgxpool.Pool
	outbox Outbox
	keys   *keyring.Keyring // seals personal data on its way in, opens it on its way out
}

// New returns a store on pool that enqueues email delivery through outbox
// and keeps personal data sealed with keys.
func New(pool *pgxpool.Pool, outbox Outbox, keys *keyring.Keyring) *Store {
	return &Store{pool: pool, outbox: outbox, keys: keys}
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
