-- +goose Up
-- The queue's indexes lead with the operator (issue 15), and two more serve
-- the filters whose capped counts walked a whole tab (issue 16). Every query
-- of the queue names its operator (the store's condition and the policy's,
-- 00038), so with many operators an index without it reads every operator's
-- entries of a tab and drops all but one's; led by it, a tab is one range.
-- A count stops at store.CountCap only when the index it walks holds the
-- filter's matches close together: by type (open requests) and by assignee
-- (closed requests) they were spread over the whole tab, and a filter that
-- matched few read all of it (docs/benchmarks.md, "The queue at a million").
-- The open and closed statuses are spelled as the queries spell them
-- (internal/store/statuses.go).

DROP INDEX requests_open_due_idx;
CREATE INDEX requests_open_due_idx ON requests (operator_id, due_at, id)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_open_assignee_due_idx;
CREATE INDEX requests_open_assignee_due_idx ON requests (operator_id, assignee_id, due_at, id) INCLUDE (status, type)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
-- The type filter on the open tabs (open, due soon, overdue, awaiting).
CREATE INDEX requests_open_type_due_idx ON requests (operator_id, type, due_at, id) INCLUDE (status, assignee_id)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_status_due_idx;
CREATE INDEX requests_status_due_idx ON requests (operator_id, status, due_at, id);
DROP INDEX requests_closed_due_idx;
CREATE INDEX requests_closed_due_idx ON requests (operator_id, due_at, id) INCLUDE (status, type, assignee_id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
-- The assignee filter (someone, or nobody) on the closed tab.
CREATE INDEX requests_closed_assignee_due_idx ON requests (operator_id, assignee_id, due_at, id) INCLUDE (status, type)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_closed_at_idx;
CREATE INDEX requests_closed_at_idx ON requests (operator_id, closed_at, id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');

-- +goose Down
DROP INDEX requests_closed_at_idx;
CREATE INDEX requests_closed_at_idx ON requests (closed_at, id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_closed_assignee_due_idx;
DROP INDEX requests_closed_due_idx;
CREATE INDEX requests_closed_due_idx ON requests (due_at, id) INCLUDE (status, type, assignee_id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_status_due_idx;
CREATE INDEX requests_status_due_idx ON requests (status, due_at, id);
DROP INDEX requests_open_type_due_idx;
DROP INDEX requests_open_assignee_due_idx;
CREATE INDEX requests_open_assignee_due_idx ON requests (assignee_id, due_at, id) INCLUDE (status, type)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_open_due_idx;
CREATE INDEX requests_open_due_idx ON requests (due_at, id)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
