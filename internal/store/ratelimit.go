package store

import (
	"context"
	"fmt"
	"time"
)

// CountHit counts one hit on bucket in the fixed window that contains now and
// returns the window's total, so every instance sees the same count.
func (s *Store) CountHit(ctx context.Context, bucket string, now time.Time, window time.Duration) (int, error) {
	start := now.Truncate(window)
	var hits int
	err := s.pool.QueryRow(ctx, `
		INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1)
		ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
		RETURNING hits`, bucket, start).Scan(&hits)
	if err != nil {
		return 0, fmt.Errorf("count rate-limit hit: %w", err)
	}
	return hits, nil
}

// PruneRateLimits drops windows that ended before cutoff.
func (s *Store) PruneRateLimits(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM rate_limits WHERE window_start < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("prune rate limits: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneAcknowledgementCounts drops the acknowledgement counts of days that
// ended before cutoff.
func (s *Store) PruneAcknowledgementCounts(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM acknowledgement_counts WHERE day < $1::date`, cutoff.Format(time.DateOnly))
	if err != nil {
		return 0, fmt.Errorf("prune acknowledgement counts: %w", err)
	}
	return tag.RowsAffected(), nil
}
