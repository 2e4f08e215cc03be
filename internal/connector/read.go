package connector

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"rightsdesk/internal/datamap"
	"rightsdesk/internal/identifier"
)

// Reading is one consistent read of a person's rows: each system is read
// in one read-only REPEATABLE READ transaction, begun when the reading
// first touches it, so every pass over a collection sees the same rows.
// Not for concurrent use; Close ends the transactions.
type Reading struct {
	s   *Systems
	id  identifier.Identity
	txs map[string]*sql.Tx
}

// Read starts a reading of the rows that belong to id.
func (s *Systems) Read(id identifier.Identity) *Reading {
	return &Reading{s: s, id: id.Normalized(), txs: map[string]*sql.Tx{}}
}

// Identity is the identity being read, normalized.
func (r *Reading) Identity() identifier.Identity { return r.id }

// Close ends the reading's transactions (nothing was changed in them).
func (r *Reading) Close() error {
	var errs []error
	for name, tx := range r.txs {
		if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
			errs = append(errs, err)
		}
		delete(r.txs, name)
	}
	return errors.Join(errs...)
}

func (r *Reading) tx(ctx context.Context, system string) (*sql.Tx, error) {
	if tx, ok := r.txs[system]; ok {
		return tx, nil
	}
	db, err := r.s.db(system, false)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, r.s.fail(system, "connect", err)
	}
	r.txs[system] = tx
	return tx, nil
}

// Row is one row's fields, in the order of the collection's Fields, as
// JSON-ready values: nil, bool, int64, float64 or string (times in RFC 3339,
// binary data in base64, decimals as their digits).
type Row []any

// Rows streams the person's rows of c to fn, one at a time, and returns how
// many there were. An error from fn stops the stream and is returned as is.
func (r *Reading) Rows(ctx context.Context, c *datamap.Collection, fn func(Row) error) (int64, error) {
	q := &query{d: dialect(c.System.Kind)}
	cond := q.owner(c, r.id)
	if cond == "" {
		return 0, nil
	}
	tx, err := r.tx(ctx, c.System.Name)
	if err != nil {
		return 0, err
	}
	stmt := "SELECT " + q.columns(c) + " FROM " + q.d.table(c) + " WHERE " + cond + q.order(c) // #nosec G202 -- names are quoted by the dialect (query.d.ident), values are placeholders
	rows, err := tx.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return 0, r.s.fail(c.System.Name, "read", fmt.Errorf("%s: %w", c.Name, err))
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return 0, r.s.fail(c.System.Name, "read", err)
	}
	dbTypes := make([]string, len(types))
	for i, t := range types {
		dbTypes[i] = strings.ToUpper(t.DatabaseTypeName())
	}
	vals := make([]any, len(c.Fields))
	ptrs := make([]any, len(c.Fields))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, r.s.fail(c.System.Name, "read", fmt.Errorf("%s: %w", c.Name, err))
		}
		row := make(Row, len(vals))
		for i, v := range vals {
			row[i] = plain(v, dbTypes[i])
		}
		n++
		if err := fn(row); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, r.s.fail(c.System.Name, "read", fmt.Errorf("%s: %w", c.Name, err))
	}
	return n, nil
}

// Count returns how many rows of c belong to the person.
func (r *Reading) Count(ctx context.Context, c *datamap.Collection) (int64, error) {
	return r.count(ctx, c, nil)
}

// count counts the person's rows of c, or with ch those a change would
// change.
func (r *Reading) count(ctx context.Context, c *datamap.Collection, ch *Change) (int64, error) {
	q := &query{d: dialect(c.System.Kind)}
	cond := q.owner(c, r.id)
	if cond == "" {
		return 0, nil
	}
	if ch != nil && !ch.Delete {
		needs := q.needs(ch)
		if needs == "" {
			return 0, nil
		}
		cond += " AND " + needs
	}
	tx, err := r.tx(ctx, c.System.Name)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q.d.table(c)+" WHERE "+cond, q.args...).Scan(&n); err != nil {
		return 0, r.s.fail(c.System.Name, "read", fmt.Errorf("%s: %w", c.Name, err))
	}
	return n, nil
}

// CountChange returns how many of the person's rows ch would change.
func (r *Reading) CountChange(ctx context.Context, ch Change) (int64, error) {
	return r.count(ctx, ch.Collection, &ch)
}

// plain turns what a driver scanned from a column of dbType (upper case)
// into a JSON-ready value.
func plain(v any, dbType string) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return x
	case []byte:
		switch dbType {
		case "BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "BIT", "GEOMETRY":
			return base64.StdEncoding.EncodeToString(x)
		}
		if !utf8.Valid(x) {
			return base64.StdEncoding.EncodeToString(x)
		}
		return string(x)
	case time.Time:
		if dbType == "DATE" {
			return x.Format(time.DateOnly)
		}
		if dbType == "TIMESTAMP" || dbType == "DATETIME" {
			// No zone in the column: the wall-clock time as stored.
			return x.Format("2006-01-02T15:04:05.999999999")
		}
		return x.Format(time.RFC3339Nano)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return fmt.Sprint(v)
}
