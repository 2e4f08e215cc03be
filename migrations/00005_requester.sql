-- +goose Up
-- Messages between the requester and staff, shown on the status page.
CREATE TABLE messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  bigint      NOT NULL REFERENCES requests (id),
    author      text        NOT NULL CHECK (author IN ('requester', 'staff')),
    staff_id    bigint      REFERENCES staff (id),
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX messages_request_idx ON messages (request_id, id);

-- Files attached to a request: proof of authority, documents the requester
-- sends, the response staff send back. Kept in PostgreSQL so every instance
-- sees them without shared storage; content is cleared (content = NULL,
-- deleted_at set) when the retention period ends, the row stays for the log.
CREATE TABLE files (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id   bigint      NOT NULL REFERENCES requests (id),
    message_id   bigint      REFERENCES messages (id),
    purpose      text        NOT NULL CHECK (purpose IN ('proof', 'requester', 'response')),
    name         text        NOT NULL,
    content_type text        NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png', 'application/json', 'text/csv', 'application/zip')),
    size         bigint      NOT NULL,
    sha256       bytea       NOT NULL,
    content      bytea,
    created_at   timestamptz NOT NULL,
    deleted_at   timestamptz
);
CREATE INDEX files_request_idx ON files (request_id, id);

-- Response downloads go through links that expire; only hashes are kept.
CREATE TABLE download_links (
    token_hash  bytea       PRIMARY KEY,
    file_id     bigint      NOT NULL REFERENCES files (id),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Unconfirmed requests are expired by a sweep that looks for due links.
CREATE INDEX confirmations_pending_idx ON confirmations (expires_at) WHERE used_at IS NULL;

-- +goose Down
DROP INDEX confirmations_pending_idx;
DROP TABLE download_links;
DROP TABLE files;
DROP TABLE messages;
