-- +goose Up
-- A submission sent twice (double click, back and resubmit, an API retry
-- with the same Idempotency-Key) creates one request. Keys are stored
-- hashed, with a hash of what was submitted, for a day.
CREATE TABLE idempotency_keys (
    key_hash    bytea       PRIMARY KEY,
    request_id  bigint      NOT NULL REFERENCES requests (id),
    body_hash   bytea       NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
