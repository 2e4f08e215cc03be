package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
)

// Retention: what a closed request keeps, and for how long.
//
// After FILE_RETENTION its files lose their content (PurgeFiles); after
// RETENTION_PERIOD everything that could identify the requester is blanked
// or deleted (PurgePersonalData). What the dashboard and the export count
// stays as it was: type, status, locale, the dates, the rule, the outcome
// reason, the assignee, extensions, and the shape of the request (on
// behalf, relationship, access scope), which are categories, not people.
// Both run in batches, each one transaction that locks its requests with
// SKIP LOCKED, so two sweeps (a leader change, an operator's manual run)
// never wait on each other nor do the same work twice, and a request staff
// are changing at that moment is simply left for the next run.

// Event kinds the retention sweeps log, each with counts only.
const (
	EventFilesDeleted       = "files_deleted"
	EventPersonalDataPurged = "personal_data_purged"
)

// lockRequest takes a request row ("r") to change it. NO KEY UPDATE is the
// lock an UPDATE takes anyway: it conflicts with another change of the row
// but not with the key-share lock that inserting an event of the request
// takes. With FOR UPDATE, the "email_sent" event the delivery worker
// records made a sweep's SKIP LOCKED pass the request over.
const lockRequest = ` FOR NO KEY UPDATE OF r`

// retentionLock takes the requests of a batch, skipping one being worked.
const retentionLock = lockRequest + ` SKIP LOCKED`

// FilesBatch is what one PurgeFiles batch did.
type FilesBatch struct {
	Requests int // requests whose files were deleted
	Files    int
}

// PurgeFiles deletes the content of the files of at most limit requests
// closed before cutoff (their names and sizes stay for the record until
// the personal data goes), and their download links, and logs a
// files_deleted event per request. A batch smaller than limit is the last.
// Requests that closed unverified (expired, or withdrawn before their
// address was confirmed, as the event log says) lose their files however
// recently they closed: the change that closed them deleted them already
// (request.Change.DeleteFiles), and this catches any left behind.
func (s *Store) PurgeFiles(ctx context.Context, cutoff, now time.Time, limit int) (FilesBatch, error) {
	var b FilesBatch
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		ids, err := lockRequests(ctx, tx, `
			SELECT r.id FROM requests r
			WHERE (r.id IN (SELECT request_id FROM files WHERE content IS NOT NULL)
				OR r.id IN (SELECT request_id FROM letters WHERE raw IS NOT NULL AND request_id IS NOT NULL))
			  AND `+closedStatuses+` AND (r.closed_at < $1 OR r.status = 'expired'
				OR r.status = 'withdrawn' AND EXISTS (SELECT FROM events e
					WHERE e.request_id = r.id AND e.kind = 'withdrawn' AND e.from_status = 'unverified'))
			ORDER BY r.id LIMIT $2`+retentionLock, cutoff, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		files, err := deleteFiles(ctx, tx, ids, now)
		if err != nil {
			return err
		}
		for _, id := range ids {
			b.Files += files[id]
		}
		b.Requests = len(ids)
		return nil
	})
	if err != nil {
		return FilesBatch{}, err
	}
	return b, nil
}

// deleteFiles deletes the content of the files of requests ids and their
// download links, and logs a files_deleted event (with the count) for each
// request that had any; it returns the counts.
func deleteFiles(ctx context.Context, tx pgx.Tx, ids []int64, now time.Time) (map[int64]int, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM download_links WHERE file_id IN
		(SELECT id FROM files WHERE request_id = ANY($1))`, ids); err != nil {
		return nil, fmt.Errorf("delete download links: %w", err)
	}
	// What the data map gathered for them goes with the files.
	if err := purgeFulfilments(ctx, tx, ids, false); err != nil {
		return nil, err
	}
	files, err := countByRequest(ctx, tx, `
		UPDATE files SET content = NULL, deleted_at = $2
		WHERE request_id = ANY($1) AND content IS NOT NULL RETURNING request_id`, ids, now)
	if err != nil {
		return nil, fmt.Errorf("delete file contents: %w", err)
	}
	// An original letter holds its attachments: it goes with them, and
	// counts as one file more.
	letters, err := countByRequest(ctx, tx, `
		UPDATE letters SET raw = NULL, raw_deleted_at = $2
		WHERE request_id = ANY($1) AND raw IS NOT NULL RETURNING request_id`, ids, now)
	if err != nil {
		return nil, fmt.Errorf("delete original letters: %w", err)
	}
	for id, n := range letters {
		files[id] += n
	}
	for _, id := range ids {
		if files[id] == 0 {
			continue
		}
		if _, err := insertEvent(ctx, tx, event{
			RequestID: id, Kind: EventFilesDeleted, Actor: request.ActorSystem,
			Data: map[string]any{"files": files[id]}, At: now,
		}); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// PurgeBatch is what one PurgePersonalData batch did.
type PurgeBatch struct {
	Requests int // requests purged
	Messages int
	Files    int
	Emails   int
	Notes    int
	Events   int // events whose free text was blanked
}

// PurgePersonalData blanks the personal data of at most limit requests
// closed before cutoff and not purged yet, and logs a personal_data_purged
// event per request with what was cleared (counts only). A batch smaller
// than limit is the last.
//
// Cleared: the requester's fields on the request (name, email, phone,
// account, details, the person acted for, the correction and processing
// texts) and its possible-duplicate link (the same person's other request);
// message bodies; every file's content, name and checksum; the emails'
// recipients, subjects, bodies and secrets (and SMTP errors, which quote
// addresses); staff notes; the text staff typed for events (extension and
// recompute reasons, kept beside the log); the original letters and what
// staff were shown of them. A purged file is named by its
// purpose and id (the name people give a file, "passport_Ivanova.pdf",
// may itself name them). Deleted: status and confirmation links (a link in
// an old email now leads nowhere, like any unknown link), download links,
// idempotency keys and unsent response drafts.
func (s *Store) PurgePersonalData(ctx context.Context, cutoff, now time.Time, limit int) (PurgeBatch, error) {
	var b PurgeBatch
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		ids, err := lockRequests(ctx, tx, `
			SELECT r.id FROM requests r
			WHERE r.purged_at IS NULL AND `+closedStatuses+` AND r.closed_at < $1
			ORDER BY r.closed_at, r.id LIMIT $2`+retentionLock, cutoff, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE requests SET personal = NULL, search_index = '{}', email_index = NULL,
				duplicate_of = NULL, purged_at = $2
			WHERE id = ANY($1)`, ids, now); err != nil {
			return fmt.Errorf("retention: purge requests: %w", err)
		}
		for _, stmt := range []string{
			`DELETE FROM download_links WHERE file_id IN (SELECT id FROM files WHERE request_id = ANY($1))`,
			`DELETE FROM status_links WHERE request_id = ANY($1)`,
			`DELETE FROM confirmations WHERE request_id = ANY($1)`,
			`DELETE FROM idempotency_keys WHERE request_id = ANY($1)`,
			`DELETE FROM response_drafts WHERE request_id = ANY($1)`,
		} {
			if _, err := tx.Exec(ctx, stmt, ids); err != nil {
				return fmt.Errorf("retention: %s: %w", stmt, err)
			}
		}
		if err := purgeFulfilments(ctx, tx, ids, true); err != nil {
			return err
		}
		counts := map[string]map[int64]int{}
		for _, c := range []struct {
			name, sql string
			args      []any
		}{
			{"messages", `UPDATE messages SET body = ''::bytea WHERE request_id = ANY($1) AND body <> ''::bytea RETURNING request_id`, []any{ids}},
			{"files", `UPDATE files f SET content = NULL, deleted_at = coalesce(deleted_at, $2),
				name = ''::bytea, sha256 = ''::bytea
				WHERE request_id = ANY($1) RETURNING request_id`, []any{ids, now}},
			// State and attempts stay: they are the delivery record.
			{"emails", `UPDATE emails SET sealed = NULL, secrets = NULL,
				last_error = '' WHERE request_id = ANY($1) RETURNING request_id`, []any{ids}},
			{"notes", `UPDATE notes SET body = ''::bytea WHERE request_id = ANY($1) AND body <> ''::bytea RETURNING request_id`, []any{ids}},
			// Letters keep what identifies them (so a copy that comes again
			// is known) and nothing they said.
			{"letters", `UPDATE letters SET raw = NULL, raw_deleted_at = coalesce(raw_deleted_at, $2), view = NULL
				WHERE request_id = ANY($1) AND (raw IS NOT NULL OR view IS NOT NULL) RETURNING request_id`, []any{ids, now}},
			// What staff typed for an event lives beside the append-only
			// log (migration 00014), so the log itself is never touched.
			{"events", `DELETE FROM event_texts t USING events e
				WHERE t.event_id = e.id AND e.request_id = ANY($1) RETURNING e.request_id`, []any{ids}},
		} {
			n, err := countByRequest(ctx, tx, c.sql, c.args...)
			if err != nil {
				return fmt.Errorf("retention: purge %s: %w", c.name, err)
			}
			counts[c.name] = n
		}
		for _, id := range ids {
			data := map[string]any{}
			for name, n := range counts {
				data[name] = n[id]
			}
			if _, err := insertEvent(ctx, tx, event{
				RequestID: id, Kind: EventPersonalDataPurged, Actor: request.ActorSystem, Data: data, At: now,
			}); err != nil {
				return err
			}
			b.Messages += counts["messages"][id]
			b.Files += counts["files"][id]
			b.Emails += counts["emails"][id]
			b.Notes += counts["notes"][id]
			b.Events += counts["events"][id]
		}
		b.Requests = len(ids)
		return nil
	})
	if err != nil {
		return PurgeBatch{}, err
	}
	return b, nil
}

// PurgedAt says when a request's personal data was purged (zero: not).
func (s *Store) PurgedAt(ctx context.Context, requestID int64) (time.Time, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT purged_at FROM requests WHERE id = $1`, requestID).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("read purged_at: %w", err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}

func lockRequests(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("retention: select requests: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("retention: select requests: %w", err)
	}
	return ids, nil
}

// countByRequest runs an UPDATE ... RETURNING request_id and counts the
// rows per request.
func countByRequest(ctx context.Context, tx pgx.Tx, query string, args ...any) (map[int64]int, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	out := map[int64]int{}
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		out[id]++
		return nil
	})
	return out, err
}
