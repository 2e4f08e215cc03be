package connector

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"rightsdesk/internal/datamap"
	"rightsdesk/internal/identifier"
)

// Change is what one step does to the person's rows of one collection:
// delete them, or set columns.
type Change struct {
	Collection *datamap.Collection
	Delete     bool
	Set        []Assignment
}

// Op is what an assignment does to a column.
type Op string

// The operations.
const (
	SetNull  Op = "null"  // NULL
	SetValue Op = "value" // a given value
	SetHash  Op = "hash"  // the keyed hash of the value it holds
)

// Assignment sets one column.
type Assignment struct {
	Column string
	Op     Op
	Value  any // for SetValue
}

// HashPrefix starts every keyed hash written by erasure: a value that has
// it was already hashed and is never hashed again, so a second erasure
// changes nothing.
const HashPrefix = "rdh1:"

// HashLen is the length of a keyed hash: the prefix and 22 characters of
// base64 (128 bits of HMAC-SHA256). A column must hold that many.
const HashLen = len(HashPrefix) + 22

// Hash is the keyed hash erasure writes for a value: the same value gives
// the same pseudonym under one key, so rows stay linked, and without the
// key the value cannot be recovered or confirmed by guessing.
func Hash(key []byte, value string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(value))
	return HashPrefix + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// HashKey reads the key of keyed-hash erasure from the variable the map
// names (hash_key_env). It must be at least 16 bytes.
func (s *Systems) HashKey() ([]byte, error) {
	if s.m.HashKeyEnv == "" {
		return nil, fmt.Errorf("%w: a field is erased by keyed hash and the map gives no hash_key_env", ErrNoHashKey)
	}
	v, err := datamap.Secret(s.env, s.m.HashKeyEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoHashKey, err)
	}
	if len(v) < 16 {
		return nil, fmt.Errorf("%w: %s is shorter than 16 characters", ErrNoHashKey, s.m.HashKeyEnv)
	}
	return []byte(v), nil
}

// ErrNoHashKey says keyed-hash erasure has no usable key.
var ErrNoHashKey = errors.New("the key of keyed-hash erasure")

// needs is the condition that a row still needs the change: a second run,
// finding every row already changed, changes nothing.
func (q *query) needs(ch *Change) string {
	var parts []string
	for _, a := range ch.Set {
		col := q.d.ident(a.Column)
		switch a.Op {
		case SetNull:
			parts = append(parts, col+" IS NOT NULL")
		case SetValue:
			parts = append(parts, q.d.distinct(col, q.arg(a.Value)))
		case SetHash:
			parts = append(parts, "("+col+" IS NOT NULL AND "+col+" <> '' AND "+col+" NOT LIKE "+q.arg(HashPrefix+"%")+")")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// hashBatch is how many rows a keyed-hash change reads before it writes
// them: bounded memory, whatever the number of rows.
const hashBatch = 500

// Apply makes the changes to one system in one transaction, with the
// change credentials, in the map's change order, and returns the rows
// changed per collection (by name). Nothing is changed when it fails.
// hashKey is needed only when a change hashes.
func (s *Systems) Apply(ctx context.Context, system string, id identifier.Identity, changes []Change, hashKey []byte) (map[string]int64, error) {
	id = id.Normalized()
	sys := s.m.System(system)
	if sys == nil || !sys.Kind.SQL() {
		return nil, fmt.Errorf("connector: %q is no database system of the map", system)
	}
	byCollection := map[*datamap.Collection]Change{}
	for _, ch := range changes {
		if ch.Collection.System != sys {
			return nil, fmt.Errorf("connector: collection %s is not in system %s", ch.Collection.Name, system)
		}
		for _, a := range ch.Set {
			if a.Op == SetHash && len(hashKey) == 0 {
				key, err := s.HashKey()
				if err != nil {
					return nil, &SystemError{System: system, Op: "change", Err: err}
				}
				hashKey = key
			}
		}
		byCollection[ch.Collection] = ch
	}
	db, err := s.db(system, true)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail(system, "connect", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	out := map[string]int64{}
	for _, c := range sys.ChangeOrder() {
		ch, ok := byCollection[c]
		if !ok {
			continue
		}
		n, err := s.apply(ctx, tx, ch, id, hashKey)
		if err != nil {
			return nil, s.fail(system, "change", fmt.Errorf("%s: %w", c.Name, err))
		}
		out[c.Name] = n
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail(system, "change", err)
	}
	return out, nil
}

func (s *Systems) apply(ctx context.Context, tx *sql.Tx, ch Change, id identifier.Identity, hashKey []byte) (int64, error) {
	c := ch.Collection
	q := &query{d: dialect(c.System.Kind)}
	cond := q.owner(c, id)
	if cond == "" {
		return 0, nil
	}
	if ch.Delete {
		res, err := tx.ExecContext(ctx, "DELETE FROM "+q.d.table(c)+" WHERE "+cond, q.args...) // #nosec G202 -- names are quoted by the dialect (query.d.ident), values are placeholders
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	hashes := false
	for _, a := range ch.Set {
		hashes = hashes || a.Op == SetHash
	}
	if hashes {
		return s.applyByRow(ctx, tx, ch, id, hashKey)
	}
	// Placeholders are numbered in order of appearance: the SET's first.
	q = &query{d: q.d}
	setSQL := make([]string, len(ch.Set))
	for i, a := range ch.Set {
		if a.Op == SetNull {
			setSQL[i] = q.d.ident(a.Column) + " = NULL"
		} else {
			setSQL[i] = q.d.ident(a.Column) + " = " + q.arg(a.Value)
		}
	}
	cond = q.owner(c, id)
	needs := q.needs(&ch)
	res, err := tx.ExecContext(ctx, "UPDATE "+q.d.table(c)+" SET "+strings.Join(setSQL, ", ")+" WHERE "+cond+" AND "+needs, q.args...) // #nosec G202 -- names are quoted by the dialect (query.d.ident), values are placeholders
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// applyByRow changes the rows one by one, in batches read by key: a keyed
// hash is computed from each row's own value.
func (s *Systems) applyByRow(ctx context.Context, tx *sql.Tx, ch Change, id identifier.Identity, hashKey []byte) (int64, error) {
	c := ch.Collection
	d := dialect(c.System.Kind)
	var hashCols []Assignment
	for _, a := range ch.Set {
		if a.Op == SetHash {
			hashCols = append(hashCols, a)
		}
	}
	var total int64
	var last any
	for {
		q := &query{d: d}
		sel := make([]string, 0, 1+len(hashCols))
		sel = append(sel, d.ident(c.Key))
		for _, a := range hashCols {
			sel = append(sel, d.text(d.ident(a.Column)))
		}
		stmt := "SELECT " + strings.Join(sel, ", ") + " FROM " + d.table(c) + " WHERE " + q.owner(c, id) + " AND " + q.needs(&ch)
		if last != nil {
			stmt += " AND " + d.ident(c.Key) + " > " + q.arg(last)
		}
		stmt += " ORDER BY " + d.ident(c.Key) + " LIMIT " + fmt.Sprint(hashBatch)
		batch, err := readBatch(ctx, tx, stmt, q.args, 1+len(hashCols))
		if err != nil {
			return total, err
		}
		for _, row := range batch {
			u := &query{d: d}
			sets := make([]string, len(ch.Set))
			h := 0
			for i, a := range ch.Set {
				col := d.ident(a.Column)
				switch a.Op {
				case SetNull:
					sets[i] = col + " = NULL"
				case SetValue:
					sets[i] = col + " = " + u.arg(a.Value)
				case SetHash:
					h++
					v, _ := row[h].(*sql.NullString)
					switch {
					case !v.Valid || v.String == "" || strings.HasPrefix(v.String, HashPrefix):
						sets[i] = col + " = " + col
					default:
						sets[i] = col + " = " + u.arg(Hash(hashKey, hashInput(c, a.Column, v.String)))
					}
				}
			}
			res, err := tx.ExecContext(ctx, "UPDATE "+d.table(c)+" SET "+strings.Join(sets, ", ")+" WHERE "+d.ident(c.Key)+" = "+u.arg(row[0]), u.args...) // #nosec G202 -- names are quoted by the dialect (query.d.ident), values are placeholders
			if err != nil {
				return total, err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, err
			}
			total += n
		}
		if len(batch) < hashBatch {
			return total, nil
		}
		last = batch[len(batch)-1][0]
	}
}

// hashInput is the value hashed for a column: an identity column's value in
// its matching form, so that one person's address gives one pseudonym
// wherever it is written and however it was typed.
func hashInput(c *datamap.Collection, column, v string) string {
	for _, ic := range c.Identity {
		if ic.Column != column {
			continue
		}
		switch ic.Kind {
		case identifier.KindEmail:
			return identifier.Email(v)
		case identifier.KindPhone:
			if p := identifier.Phone(v); p != "" {
				return p
			}
		case identifier.KindAccountID:
			return identifier.AccountID(v)
		}
	}
	return v
}

// readBatch reads a bounded result: the key as scanned, then text columns.
func readBatch(ctx context.Context, tx *sql.Tx, stmt string, args []any, width int) ([][]any, error) {
	rows, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		row := make([]any, width)
		ptrs := make([]any, width)
		var key any
		ptrs[0] = &key
		for i := 1; i < width; i++ {
			row[i] = &sql.NullString{}
			ptrs[i] = row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if b, ok := key.([]byte); ok {
			key = string(b)
		}
		row[0] = key
		out = append(out, row)
	}
	return out, rows.Err()
}
