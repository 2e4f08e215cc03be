-- +goose Up
-- Indexes for the staff dashboard (store.Dashboard). Its figures are date
-- ranges: requests received in a month or a year, requests closed in one.
-- Each index carries every column the dashboard reads, so that a year of a
-- million-request table is an index-only range read instead of a pass over
-- the whole table or a heap visit per closed request (docs/benchmarks.md).

-- Requests received per month, and per type in a year.
CREATE INDEX requests_received_idx ON requests (received_at) INCLUDE (type);

-- Closings per month and per type: the outcome, and the dates that give the
-- on-time rate and the days taken. Partial on the closed statuses, spelled as
-- the queries spell them.
CREATE INDEX requests_closed_figures_idx ON requests (closed_at) INCLUDE (status, type, received_at, due_at)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired');

-- +goose Down
DROP INDEX requests_closed_figures_idx;
DROP INDEX requests_received_idx;
