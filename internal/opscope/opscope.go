// Package opscope carries the operator a piece of work is done for (issue
// 15) from a context to the database connection that does it. PostgreSQL's
// row-level security (migration 00038) lets a connection see and write only
// the rows of the operator its rightsdesk.operator setting names; Prepare,
// installed on a pool, sets that setting from the context every time a
// connection is taken from the pool.
package opscope

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Setting is the PostgreSQL setting the row-level security policies read.
const Setting = "rightsdesk.operator"

type scopeKey struct{}

// With returns ctx scoped to the operator id.
func With(ctx context.Context, operatorID int64) context.Context {
	return context.WithValue(ctx, scopeKey{}, operatorID)
}

// From returns the operator ctx is scoped to; ok is false for none.
func From(ctx context.Context) (operatorID int64, ok bool) {
	operatorID, ok = ctx.Value(scopeKey{}).(int64)
	return operatorID, ok
}

// Configure installs Prepare on a pool's configuration, before any hook
// already there.
func Configure(cfg *pgxpool.Config) {
	next := cfg.PrepareConn
	cfg.PrepareConn = func(ctx context.Context, conn *pgx.Conn) (bool, error) {
		if ok, err := Prepare(ctx, conn); !ok || err != nil {
			return ok, err
		}
		if next != nil {
			return next(ctx, conn)
		}
		return true, nil
	}
}

// NewPool opens a pool whose connections take the scope of the context
// they are acquired with.
func NewPool(ctx context.Context, connString string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	Configure(cfg)
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Prepare sets conn's scope to ctx's: the operator it names, or none. The
// setting is session-wide and survives on the connection, so the setting
// last made is remembered with the connection and a connection already
// scoped right (the usual case: one operator, or a pool busy for one) costs
// no round trip.
func Prepare(ctx context.Context, conn *pgx.Conn) (bool, error) {
	want := ""
	if id, ok := From(ctx); ok {
		want = strconv.FormatInt(id, 10)
	}
	data := conn.PgConn().CustomData()
	if have, _ := data[Setting].(string); have == want {
		return true, nil
	}
	if _, err := conn.Exec(ctx, "SELECT set_config($1, $2, false)", Setting, want); err != nil {
		// A connection whose scope is unknown must not serve anyone.
		return false, fmt.Errorf("scope connection to operator %q: %w", want, err)
	}
	data[Setting] = want
	return true, nil
}

// QueueLocal queues on b, which runs in a transaction, the scoping of the
// rest of that transaction to operatorID: the setting is local to the
// transaction and the connection's own scope returns at its end, so one
// snapshot can be read operator by operator (the metrics' scrape).
func QueueLocal(b *pgx.Batch, operatorID int64) {
	b.Queue("SELECT set_config($1, $2, true)", Setting, strconv.FormatInt(operatorID, 10))
}
