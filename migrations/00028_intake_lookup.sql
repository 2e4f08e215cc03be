-- +goose Up
-- The intake's possible-duplicate lookup (store.CreateRequestSQL) takes the
-- oldest open request of the same email term and type. Keyed on
-- (email_index, type) only, it read every open request of that address and
-- type to find the smallest id: a flood from one address made each later
-- submission from it slower. With id in the key, the oldest is the first
-- entry of its range: one index probe however many there are.
DROP INDEX requests_email_index_idx;
CREATE INDEX requests_email_index_idx ON requests (email_index, type, id)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');

-- An email row is mostly its sealed body (an acknowledgement about 2.8 kB,
-- the notice 1.9 kB): ciphertext, which compression cannot shrink. Past
-- 2 kB a row was "toasted": PostgreSQL tried to compress the body, then moved
-- it, and every small text column with it, out of line into the TOAST table,
-- three to four more heap rows and index entries, and their WAL, per
-- submission. Toasting now starts only when a row no longer fits a page.
ALTER TABLE emails SET (toast_tuple_target = 8160);

-- +goose Down
ALTER TABLE emails RESET (toast_tuple_target);
DROP INDEX requests_email_index_idx;
CREATE INDEX requests_email_index_idx ON requests (email_index, type)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
