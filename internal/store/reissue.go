package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequestsWithLinksBefore lists, by id above after and at most limit of
// them, the open, confirmed requests that still have a working status link
// made before before: the links rightsdesk links reissue replaces.
func (s *Store) RequestsWithLinksBefore(ctx context.Context, before time.Time, after int64, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id FROM requests r
		WHERE `+remindedStatuses+` AND r.id > $2
		  AND EXISTS (SELECT FROM status_links l
		              WHERE l.request_id = r.id AND l.revoked_at IS NULL AND l.created_at < $1)
		ORDER BY r.id LIMIT $3`, before, after, limit)
	if err != nil {
		return nil, fmt.Errorf("requests with links before %s: %w", before.Format(time.RFC3339), err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
