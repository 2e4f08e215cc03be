package store

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/opscope"
)

// scopedPool is the pool as one operator's store uses it: every use names
// the operator in its context, so that a pool configured with
// opscope.Configure scopes the connection to that operator before the
// statement runs, and row-level security keeps every statement within that
// operator's rows (the second wall, behind the store's own WHERE clauses).
// operator 0 leaves the context's scope, if any, as it is.
type scopedPool struct {
	p        *pgxpool.Pool
	operator int64
}

func (sp scopedPool) scope(ctx context.Context) context.Context {
	if sp.operator == 0 {
		return ctx
	}
	return opscope.With(ctx, sp.operator)
}

func (sp scopedPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return sp.p.Query(sp.scope(ctx), sql, args...)
}

func (sp scopedPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return sp.p.QueryRow(sp.scope(ctx), sql, args...)
}

func (sp scopedPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return sp.p.Exec(sp.scope(ctx), sql, args...)
}

func (sp scopedPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return sp.p.SendBatch(sp.scope(ctx), b)
}

func (sp scopedPool) Begin(ctx context.Context) (pgx.Tx, error) {
	return sp.p.Begin(sp.scope(ctx))
}

func (sp scopedPool) Config() *pgxpool.Config { return sp.p.Config() }

// For returns the store of one operator: every statement it runs is scoped
// to operatorID, and it seals, opens and indexes that operator's values
// with that operator's keys (keyring.ForOperator: the deployment's own for
// the default operator). The store New returns is scoped by its callers'
// contexts (opscope.With), or, with none, to the deployment's only
// operator, and uses the deployment's keys.
func (s *Store) For(operatorID int64) *Store {
	c := *s
	c.pool = scopedPool{p: s.pool.p, operator: operatorID}
	if s.deployment != nil {
		c.keys = s.deployment.ForOperator(operatorID)
	}
	return &c
}

// Operator is the operator the store is scoped to; 0 for the store New
// returns.
func (s *Store) Operator() int64 { return s.pool.operator }

// ownedBy is the condition that keeps a statement to the store's operator,
// for a query whose other arguments are args: " AND <column> = $n" with the
// operator appended to args. A store New returned adds nothing (row-level
// security scopes it by its context).
func (s *Store) ownedBy(column string, args []any) (string, []any) {
	if s.pool.operator == 0 {
		return "", args
	}
	return " AND " + column + " = $" + strconv.Itoa(len(args)+1), append(args, s.pool.operator)
}
