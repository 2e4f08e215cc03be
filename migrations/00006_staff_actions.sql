-- +goose Up
-- Extensions move due_at; the date first given stays for the record-keeper.
ALTER TABLE requests
    ADD COLUMN original_due_at timestamptz,
    ADD COLUMN extensions      integer NOT NULL DEFAULT 0,
    -- Why a request was rejected (a code from request.RejectionReasons).
    ADD COLUMN outcome_reason  text    NOT NULL DEFAULT '';

-- Status links: every email to the requester carries a link of its own, so
-- an email never invalidates the links of earlier ones; asking for a new
-- link revokes them all. Only hashes are kept.
CREATE TABLE status_links (
    token_hash  bytea       PRIMARY KEY,
    request_id  bigint      NOT NULL REFERENCES requests (id),
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX status_links_request_idx ON status_links (request_id);
INSERT INTO status_links (token_hash, request_id, created_at)
    SELECT status_token_hash, id, received_at FROM requests;
ALTER TABLE requests DROP COLUMN status_token_hash;

-- +goose Down
ALTER TABLE requests ADD COLUMN status_token_hash bytea;
UPDATE requests r SET status_token_hash = (SELECT token_hash FROM status_links l WHERE l.request_id = r.id ORDER BY created_at LIMIT 1);
DROP TABLE status_links;
ALTER TABLE requests DROP COLUMN outcome_reason, DROP COLUMN extensions, DROP COLUMN original_due_at;
