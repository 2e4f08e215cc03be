package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/sealed"
)

// RotateResult counts the values a rotation rewrote, per sealed column.
type RotateResult map[string]int

// rotateBatch is how many rows one rotation transaction rewrites; columns
// that hold files take fewer, as each may be megabytes.
const rotateBatch = 500

// Rotate rewrites every sealed value that is not sealed with the current
// key (the first of ENCRYPTION_KEY) so that it is, and recomputes the search
// terms of the requests it rewrites, in batches of one transaction each.
// It can be stopped and run again at any time: what is done stays done,
// and rows that serve writes meanwhile are sealed with the current key
// already. SKIP LOCKED leaves rows being changed to a later batch.
func (s *Store) Rotate(ctx context.Context, progress func(column string, n int)) (RotateResult, error) {
	res := RotateResult{}
	// A store of no operator (the command line's) rotates what is the
	// deployment's, under the deployment's keys, then every operator's
	// values, each under its own scope and with its own keys, for row-level
	// security would show it none of them once there are two (issue 15).
	if s.pool.operator == 0 {
		if err := s.rotateColumns(ctx, true, res, progress); err != nil {
			return res, err
		}
		ids, err := s.OperatorIDs(ctx)
		if err != nil {
			return res, err
		}
		for _, id := range ids {
			part, err := s.For(id).Rotate(ctx, func(column string, n int) {
				if progress != nil {
					progress(column, res[column]+n)
				}
			})
			for name, n := range part {
				res[name] += n
			}
			if err != nil {
				return res, err
			}
		}
		return res, nil
	}
	return res, s.rotateColumns(ctx, false, res, progress)
}

// rotateColumns rewrites the values of the deployment's sealed columns, or
// of the operator's, that the store's keys did not seal with their current
// key.
func (s *Store) rotateColumns(ctx context.Context, deployment bool, res RotateResult, progress func(column string, n int)) error {
	for _, c := range sealed.All() {
		if c.Deployment != deployment {
			continue
		}
		limit := rotateBatch
		if c.Name == sealed.FileContent || c.Name == sealed.DraftContent || c.Name == sealed.FulfilmentPackage || c.Name == sealed.StepRows || c.Name == sealed.LetterRaw {
			limit = 8
		}
		for {
			n, err := s.rotateBatch(ctx, c, limit)
			if err != nil {
				return err
			}
			res[c.Name] += n
			if progress != nil && n > 0 {
				progress(c.Name, res[c.Name])
			}
			if n < limit {
				break
			}
		}
	}
	return nil
}

// sealedWithAnotherKey is the condition of c's values not sealed with the
// key whose id ($1) is given in hex: the id is bytes 2-5 of a sealed value
// (internal/keyring).
func sealedWithAnotherKey(c sealed.Column) string {
	return `length(` + c.Col + `) > 0 AND encode(substring(` + c.Col + ` FROM 2 FOR 4), 'hex') <> $1`
}

func (s *Store) rotateBatch(ctx context.Context, c sealed.Column, limit int) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+c.Key+`, `+c.Col+` FROM `+c.Table+` WHERE `+sealedWithAnotherKey(c)+`
			ORDER BY `+c.Key+` LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED`, s.keys.CurrentID(), limit) // #nosec G202 -- names from sealed.All, not input
		if err != nil {
			return fmt.Errorf("rotate %s: %w", c.Name, err)
		}
		type row struct {
			key   int64
			value []byte
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.key, &x.value)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("rotate %s: %w", c.Name, err)
		}
		for _, x := range all {
			plain, err := s.keys.Open(c.Name, x.value)
			if err != nil {
				return fmt.Errorf("rotate %s %d: %w", c.Name, x.key, err)
			}
			if c.Name == sealed.RequestPersonal {
				err = s.resealPersonal(ctx, tx, x.key, x.value)
			} else {
				_, err = tx.Exec(ctx, `UPDATE `+c.Table+` SET `+c.Col+` = $2 WHERE `+c.Key+` = $1`, x.key, s.keys.Seal(c.Name, plain)) // #nosec G202 -- as above
			}
			if err != nil {
				return fmt.Errorf("rotate %s %d: %w", c.Name, x.key, err)
			}
		}
		n = len(all)
		return nil
	})
	return n, err
}

// resealPersonal seals a request's fields again with the current key, with
// its search terms, which are keyed too.
func (s *Store) resealPersonal(ctx context.Context, tx pgx.Tx, id int64, doc []byte) error {
	p, err := sealed.OpenPersonal(s.keys, doc)
	if err != nil {
		return err
	}
	doc, index, emailIndex, err := sealed.SealPersonal(s.keys, p)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE requests SET personal = $2, search_index = $3, email_index = $4 WHERE id = $1`,
		id, doc, index, emailIndex)
	return err
}

// Unrotated counts the sealed values not sealed with the current key: zero
// once a rotation is complete and the old key can go.
func (s *Store) Unrotated(ctx context.Context) (int, error) {
	if s.pool.operator == 0 {
		total, err := s.unrotated(ctx, true)
		if err != nil {
			return 0, err
		}
		ids, err := s.OperatorIDs(ctx)
		if err != nil {
			return 0, err
		}
		for _, id := range ids {
			n, err := s.For(id).Unrotated(ctx)
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}
	return s.unrotated(ctx, false)
}

// unrotated counts the values of the deployment's sealed columns, or of
// the operator's, not sealed with the store's current key.
func (s *Store) unrotated(ctx context.Context, deployment bool) (int, error) {
	total := 0
	for _, c := range sealed.All() {
		if c.Deployment != deployment {
			continue
		}
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+c.Table+` WHERE `+sealedWithAnotherKey(c),
			s.keys.CurrentID()).Scan(&n); err != nil { // #nosec G202 -- names from sealed.All, not input
			return 0, fmt.Errorf("count %s: %w", c.Name, err)
		}
		total += n
	}
	return total, nil
}
