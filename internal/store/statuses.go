package store

import (
	"slices"
	"strings"

	"rightsdesk/internal/request"
)

// The sets of statuses the queries select by, spelled from the domain's
// lists (request.OpenStatuses and the others) here and nowhere else.
//
// They are literals, not parameters: PostgreSQL uses a partial index only
// when it can prove from the query's text that the query's condition implies
// the index's, and a parameter's value is not known when a generic plan is
// made. The partial indexes of the requests table name the same sets
// (TestPartialIndexesHoldTheDomainsStatuses compares them), so each query
// below is matched to its index.
var (
	// openStatuses are the requests that still wait for an answer.
	openStatuses = StatusIn("r.status", request.OpenStatuses())
	// closedStatuses are the requests that ended.
	closedStatuses = StatusIn("r.status", request.ClosedStatuses())
	// answeredStatuses are the closings that are answers.
	answeredStatuses = StatusIn("r.status", request.AnsweredStatuses())
	// remindedStatuses are the requests a deadline reminder is for.
	remindedStatuses = StatusIn("r.status", reminded())
)

// reminded lists the open statuses but unverified, which the reminders pass
// over: the requester has not confirmed the request yet.
func reminded() []request.Status {
	return slices.DeleteFunc(request.OpenStatuses(), func(s request.Status) bool { return s == request.Unverified })
}

// StatusIn is the SQL condition "column holds one of statuses", with the
// statuses as literals, as the partial indexes spell them (see above): for
// the queries of other packages (metrics) and of tests that read what the
// store's indexes hold.
func StatusIn(column string, statuses []request.Status) string {
	quoted := make([]string, len(statuses))
	for i, s := range statuses {
		// The statuses are the domain's constants, words of [a-z_]: quoting
		// them needs no escaping.
		quoted[i] = "'" + string(s) + "'"
	}
	return column + " IN (" + strings.Join(quoted, ", ") + ")"
}
