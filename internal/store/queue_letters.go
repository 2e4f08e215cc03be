package store

import "rightsdesk/internal/request"

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
