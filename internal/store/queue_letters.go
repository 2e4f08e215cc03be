package store

import (
	"context"
	"fmt"

	"rightsdesk/internal/request"
)

// The queue's tabs for letters (issue 14): the letters staff have to
// triage, and the open requests whose emails to the requester bounce.
const (
	TabTriage  Tab = "triage"  // letters whose type staff have yet to confirm
	TabBounced Tab = "bounced" // open, an email to the requester came back undelivered
)

// bouncedRequests is the condition "an email of r to its requester bounced",
// read from the few emails that did (emails_bounced_request_idx).
func (w *where) bouncedRequests() string {
	return "r.id IN (SELECT e.request_id FROM emails e WHERE e.bounced_at IS NOT NULL AND e.kind = ANY(" +
		w.arg(request.RequesterKinds()) + "))"
}

// letterTab adds the conditions of a letters tab; false for another tab.
func (w *where) letterTab(t Tab) bool {
	switch t {
	case TabTriage:
		w.add(openStatuses)
		w.add("r.status = '" + string(request.Triage) + "'")
	case TabBounced:
		w.add(openStatuses)
		w.add(w.bouncedRequests())
	default:
		return false
	}
	return true
}

// letterCounts counts the letters tabs under f's other conditions into
// counts, in one query.
func (s *Store) letterCounts(ctx context.Context, f QueueFilter, counts map[Tab]int) error {
	f.Tab, f.Sort = TabAll, ""
	w := where{keys: s.keys}
	if err := w.filter(f); err != nil {
		return err
	}
	cond := w.clause()
	and := " AND "
	if cond == "" {
		and = " WHERE "
	}
	query := `SELECT
		(SELECT count(*) FROM requests r` + cond + and + openStatuses + ` AND r.status = '` + string(request.Triage) + `'),
		(SELECT count(*) FROM requests r` + cond + and + openStatuses + ` AND ` + w.bouncedRequests() + `)`
	var triage, bounced int
	if err := s.pool.QueryRow(ctx, query, w.args...).Scan(&triage, &bounced); err != nil {
		return fmt.Errorf("queue counts of letters: %w", err)
	}
	counts[TabTriage], counts[TabBounced] = triage, bounced
	return nil
}
