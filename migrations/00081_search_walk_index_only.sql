-- +goose Up
-- A search by a name many requests share (issue 16, "the queue page") walks
-- its tab in due order and keeps the requests whose terms overlap the
-- search's (store.where.fenced): a name two requests in a hundred have
-- reads about 2,500 of the open tab's requests for a page of 50, and each
-- was a read of its row in the heap (5.4 ms and 2,050 buffers a page at a
-- million requests). With the terms carried in the tab's index the walk
-- reads the index alone (an index-only scan: 96 buffers at 200,000
-- requests), and only the page's rows are read from the heap. The same
-- index keys as before, so every other query that walks them is as it was;
-- the intake writes the same entries, each with its request's terms.
-- docs/operations.md gives the time this takes at a million requests.
CREATE INDEX requests_open_due_search_idx ON requests (operator_id, due_at, id) INCLUDE (search_index)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_open_due_idx;
ALTER INDEX requests_open_due_search_idx RENAME TO requests_open_due_idx;
CREATE INDEX requests_closed_due_search_idx ON requests (operator_id, due_at, id) INCLUDE (status, type, assignee_id, search_index)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_closed_due_idx;
ALTER INDEX requests_closed_due_search_idx RENAME TO requests_closed_due_idx;

-- +goose Down
CREATE INDEX requests_closed_due_plain_idx ON requests (operator_id, due_at, id) INCLUDE (status, type, assignee_id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_closed_due_idx;
ALTER INDEX requests_closed_due_plain_idx RENAME TO requests_closed_due_idx;
CREATE INDEX requests_open_due_plain_idx ON requests (operator_id, due_at, id)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_open_due_idx;
ALTER INDEX requests_open_due_plain_idx RENAME TO requests_open_due_idx;
