package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/unicode/norm"
)

// probeMatches reads the requests text matches, up to most of them: ids
// and not broad when they are all (an empty slice for none; nil when text
// needs no match: a reference, or nothing), broad when more match.
//
// Learning that a name is common cost the most of its page: request_search's
// GIN index yields the name's whole posting list before LIMIT applies (5.3 ms
// for a name 20,900 of a million requests have). A search found broad is
// therefore recorded (search_broad, migration 00082) and the next page with
// it reads that record instead. Only the intake adds matches, and it adds,
// so a broad search stays broad until request_search loses rows or terms;
// each transaction that removes any moves its operator's epoch on (a
// trigger), and a record counts only under the epoch it was made in. The
// epoch is read before the matches, in a statement of its own: a removal
// committed after that read has moved the epoch past the record's, and one
// committed before it is in the matches too. (One statement that read the
// record and, failing it, the matches was planned anew on every call: 0.3-1
// ms more for a search of a few matches, against 0.05 for the record's.)
func (s *Store) probeMatches(ctx context.Context, text string, most int) ([]int64, bool, error) {
	query, args, ok := matchesQuery(s.keys, text, most+1)
	if !ok {
		return nil, false, nil
	}
	key := searchKey(s.keys.QueryTerms(norm.NFC.String(strings.TrimSpace(text))), most)
	var (
		epoch    int64
		recorded *int64
	)
	if err := s.pool.QueryRow(ctx, `SELECT
			coalesce((SELECT epoch FROM search_epoch WHERE operator_id = (SELECT rightsdesk_operator())), 0),
			(SELECT epoch FROM search_broad WHERE operator_id = (SELECT rightsdesk_operator()) AND query = $1)`,
		key).Scan(&epoch, &recorded); err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	if recorded != nil && *recorded == epoch {
		return nil, true, nil
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	if len(ids) <= most {
		if ids == nil {
			ids = []int64{}
		}
		return ids, false, nil
	}
	if err := s.rememberBroad(ctx, key, epoch); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// rememberBroad records that the search key stands for matches more than
// its cap, as of epoch. The record is a hint the next page may trust: were
// it lost in a crash, that page would read the matches again, so its
// commit does not wait for the disk.
func (s *Store) rememberBroad(ctx context.Context, key []byte, epoch int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO search_broad AS b (operator_id, query, epoch)
			VALUES ((SELECT rightsdesk_operator()), $1, $2)
			ON CONFLICT (operator_id, query) DO UPDATE SET epoch = greatest(b.epoch, excluded.epoch)`, key, epoch); err != nil {
			return err
		}
		// Records of epochs gone by are never believed again: the table
		// keeps the operator's common names of the current epoch only.
		_, err := tx.Exec(ctx, `DELETE FROM search_broad
			WHERE operator_id = (SELECT rightsdesk_operator()) AND epoch < $1`, epoch)
		return err
	})
	if err != nil {
		return fmt.Errorf("search: remember a broad search: %w", err)
	}
	return nil
}

// searchKey names a search in search_broad: a digest of its groups of
// blind terms (keyring.QueryTerms, every key's: a search typed during a key
// rotation is another search) and of the cap it was found broad against.
// Terms are keyed per operator, and the record is the operator's.
func searchKey(groups [][][]byte, most int) []byte {
	h := sha256.New()
	var n [8]byte
	put := func(v int) {
		binary.BigEndian.PutUint64(n[:], uint64(v)) // #nosec G115 -- lengths and a cap, never negative
		h.Write(n[:])
	}
	put(most)
	put(len(groups))
	for _, g := range groups {
		put(len(g))
		for _, t := range g {
			put(len(t))
			h.Write(t)
		}
	}
	return h.Sum(nil)[:16]
}
