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
