-- +goose Up
-- A status link gets an id of its own, so that the event of a reply can say
-- which link it came through (events hold ids, never secrets or their
-- hashes) and replies can be limited per link (request.MaxRepliesPerLink).
ALTER TABLE status_links ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE status_links ADD CONSTRAINT status_links_id_key UNIQUE (id);

-- +goose Down
ALTER TABLE status_links DROP COLUMN id;
