package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
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
// epoch is read in the statement that reads the matches, so in the same
// snapshot: a removal committed after it has moved the epoch past the
// record's, whichever commits first.
func (s *Store) probeMatches(ctx context.Context, text string, most int) ([]int64, bool, error) {
	w := where{keys: s.keys, shareSearch: true}
	w.search(text)
	if w.matches == "" {
		return nil, false, nil
	}
	key := searchKey(s.keys.QueryTerms(norm.NFC.String(strings.TrimSpace(text))), most)
	const operator = "(SELECT rightsdesk_operator())"
	// The matches are read only when no record says the search is broad:
	// an uncorrelated subquery in a CASE runs when its branch is taken.
	query := `SELECT e.epoch, k.known, CASE WHEN k.known THEN NULL ELSE ARRAY(` + w.matches + `
			LIMIT ` + strconv.Itoa(most+1) + `) END
		FROM (SELECT coalesce((SELECT epoch FROM search_epoch WHERE operator_id = ` + operator + `), 0) AS epoch) e
		CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM search_broad b
			WHERE b.operator_id = ` + operator + ` AND b.query = ` + w.arg(key) + ` AND b.epoch = e.epoch) AS known) k`
	var (
		epoch int64
		known bool
		ids   []int64
	)
	if err := s.pool.QueryRow(ctx, query, w.args...).Scan(&epoch, &known, &ids); err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	if known {
		return nil, true, nil
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
