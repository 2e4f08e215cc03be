-- +goose Up
-- The reminder ledger: one row for every (request, threshold) ever reminded.
-- A sweep inserts its rows with ON CONFLICT DO NOTHING RETURNING in the same
-- transaction as the digest email, its delivery job and the events, and puts
-- in the digest only the rows its own insert returned. The primary key makes
-- a second sweep (the same instant, another instance, a retry after a crash)
-- wait for the first one's transaction and then find the row taken, so a
-- threshold is sent at most once. Thresholds are '7d', '3d', '1d' ...;
-- overdue reminders carry the operator's local day ('overdue:2026-03-05'),
-- which repeats them daily but never twice a day.
CREATE TABLE reminders (
    request_id  bigint      NOT NULL REFERENCES requests (id),
    threshold   text        NOT NULL,
    reminded_at timestamptz NOT NULL,
    PRIMARY KEY (request_id, threshold)
);

-- The sweep's selection (store.ReminderCandidates): confirmed open requests
-- due before the horizon (the end of the day the largest threshold reaches),
-- which includes every overdue one. Without this index PostgreSQL reads the
-- open requests of all four states through requests_open_due_idx and visits
-- the table for each to drop the unverified ones and fetch reference, type
-- and assignee. The predicate leaves unverified requests out (they are never
-- reminded), the key is the order the sweep lists them in, and INCLUDE
-- carries the other columns it reads, so the selection is one range of one
-- small index, read index-only once the visibility map is set: its cost
-- follows the ~1% of requests in a threshold, not the million in the table.
-- The ledger probe per candidate is a range of the primary key above.
CREATE INDEX requests_remind_due_idx ON requests (due_at, id) INCLUDE (reference, type, assignee_id)
    WHERE status IN ('new', 'in_progress', 'awaiting_requester');

-- +goose Down
DROP INDEX requests_remind_due_idx;
DROP TABLE reminders;
