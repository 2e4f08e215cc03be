package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RecordOperators makes sure the operators table has a row for every slug
// (the operators file's, issue 15) and returns each slug's id. The
// default operator is row 1 from the start (migration 00037); an operator
// once recorded keeps its id, and its rows, when the file drops it.
func (s *Store) RecordOperators(ctx context.Context, slugs []string) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `
		WITH wanted AS (SELECT unnest($1::text[]) AS slug),
		added AS (
			INSERT INTO operators (slug) SELECT slug FROM wanted
			ON CONFLICT (slug) DO NOTHING RETURNING id, slug)
		SELECT id, slug FROM added
		UNION ALL
		SELECT o.id, o.slug FROM operators o JOIN wanted w ON w.slug = o.slug`, slugs)
	if err != nil {
		return nil, fmt.Errorf("record operators: %w", err)
	}
	defer rows.Close()
	ids := make(map[string]int64, len(slugs))
	for rows.Next() {
		var id int64
		var slug string
		if err := rows.Scan(&id, &slug); err != nil {
			return nil, fmt.Errorf("record operators: %w", err)
		}
		ids[slug] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record operators: %w", err)
	}
	return ids, nil
}

// OperatorIDs lists every operator the database has rows for, in id order.
func (s *Store) OperatorIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM operators ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return ids, nil
}

// Unserved lists the operators the database has requests of that are not
// among slugs (the operators file's): a deployment that had one operator
// and now has an operators file keeps that operator's requests under
// "default" until the file names it. Each operator is looked at in its own
// scope, as row-level security shows a connection of none nothing.
func (s *Store) Unserved(ctx context.Context, slugs []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, slug FROM operators WHERE slug <> ALL($1::text[]) ORDER BY id`, slugs)
	if err != nil {
		return nil, fmt.Errorf("unserved operators: %w", err)
	}
	type op struct {
		id   int64
		slug string
	}
	others, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (op, error) {
		var o op
		return o, r.Scan(&o.id, &o.slug)
	})
	if err != nil {
		return nil, fmt.Errorf("unserved operators: %w", err)
	}
	var unserved []string
	for _, o := range others {
		var has bool
		if err := s.For(o.id).pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM requests WHERE operator_id = $1)`, o.id).Scan(&has); err != nil {
			return nil, fmt.Errorf("unserved operators: %s: %w", o.slug, err)
		}
		if has {
			unserved = append(unserved, o.slug)
		}
	}
	return unserved, nil
}
