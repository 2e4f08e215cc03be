-- +goose Up
-- Indexes for the staff queue (store.Queue, store.QueueCounts) and its CSV
-- export. Each one serves a tab or a filter that must stay fast with a
-- million requests; the plans they give are summarised in docs/benchmarks.md.
-- Open and closed are spelled out as literal status lists, the same lists the
-- queries use, so that the planner can match the partial indexes.

-- pg_trgm is a trusted extension: since PostgreSQL 13 the database owner the
-- application runs as may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- "Mine", "unassigned" and the assignee filter: one assignee's (or nobody's,
-- assignee_id IS NULL) open requests, already in due-date order, so that a
-- page is the first rows of one index range. status and type are included
-- so that the tab counts of open requests (also filtered by type) are read
-- from this index alone, without visiting the table.
CREATE INDEX requests_open_assignee_due_idx ON requests (assignee_id, due_at, id) INCLUDE (status, type)
    WHERE status IN ('unverified', 'new', 'in_progress', 'awaiting_requester');

-- "Awaiting requester" and a filter on one status (open or closed): the
-- requests in that status in due-date order.
CREATE INDEX requests_status_due_idx ON requests (status, due_at, id);

-- "Closed" in due-date order (the queue's default sort). Closed requests are
-- most of the table, so a scan of all requests by due date would wade through
-- open ones; this keeps the tab a range read. Its count is an index-only
-- scan of this index, also under the type, status and assignee filters.
CREATE INDEX requests_closed_due_idx ON requests (due_at, id) INCLUDE (status, type, assignee_id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired');

-- "Closed", most recently closed first (read backwards), and date ranges on
-- closed_at for the dashboard's yearly figures.
CREATE INDEX requests_closed_at_idx ON requests (closed_at, id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired');

-- Search by email prefix. requests_email_type_idx already serves equality,
-- but under the cluster's C.UTF-8 collation a default b-tree cannot serve
-- LIKE 'prefix%'; text_pattern_ops compares bytes, which it can.
CREATE INDEX requests_email_prefix_idx ON requests (lower(email) text_pattern_ops);

-- Search by any part of a name, in any case and script (Cyrillic, Kazakh,
-- Latin): a trigram index serves full_name ILIKE '%part%'. Parts shorter than
-- three letters give no trigram and fall back to a scan.
CREATE INDEX requests_full_name_trgm_idx ON requests USING gin (full_name gin_trgm_ops);

-- The queue flags requests with a failed email. Failed emails are few, so this
-- index is tiny and the per-row EXISTS probe never touches the emails heap.
CREATE INDEX emails_failed_request_idx ON emails (request_id) WHERE state = 'failed';

-- +goose Down
DROP INDEX emails_failed_request_idx;
DROP INDEX requests_full_name_trgm_idx;
DROP INDEX requests_email_prefix_idx;
DROP INDEX requests_closed_at_idx;
DROP INDEX requests_closed_due_idx;
DROP INDEX requests_status_due_idx;
DROP INDEX requests_open_assignee_due_idx;
-- pg_trgm stays: something else in the database may have come to rely on it.
