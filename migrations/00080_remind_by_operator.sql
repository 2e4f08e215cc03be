-- +goose Up
-- The reminder sweep's selection (store.ReminderCandidates) led by the
-- operator, as the queue's indexes are since 00055. Since row-level security
-- (00038) every read of requests carries the policy's operator_id condition;
-- requests_remind_due_idx did not hold operator_id, so it could no longer be
-- read alone: each entry cost a visit to the table, and since the planner
-- cannot see that due_at and status go together (every closed request is
-- "due" before the horizon), it expected tens of thousands of visits and
-- read the whole table instead, in parallel and JIT-compiled: 1.4-3.6 s at
-- 200,000 requests for ~2,000 candidates (docs/benchmarks.md, issue 16). Led
-- by the operator and holding every column the selection reads, it is one
-- range of one small index again, read index-only.
DROP INDEX requests_remind_due_idx;
CREATE INDEX requests_remind_due_idx ON requests (operator_id, due_at, id) INCLUDE (reference, type, assignee_id)
    WHERE status IN ('triage', 'new', 'in_progress', 'awaiting_requester');

-- +goose Down
DROP INDEX requests_remind_due_idx;
CREATE INDEX requests_remind_due_idx ON requests (due_at, id) INCLUDE (reference, type, assignee_id)
    WHERE status IN ('triage', 'new', 'in_progress', 'awaiting_requester');
