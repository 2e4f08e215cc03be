-- +goose Up
-- API keys: how the operator's own systems reach the staff API. A key acts
-- with a role (the same permission table as staff accounts). Only the
-- SHA-256 of the key is kept: the key is 256 random bits, so a hash with no
-- salt or stretching is as strong as the key itself, and a lookup by hash is
-- one index probe. prefix is the key's first characters, shown in the list so
-- that people can tell their keys apart.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL CHECK (name <> '' AND length(name) <= 100),
    role         text        NOT NULL CHECK (role IN ('admin', 'agent', 'auditor')),
    prefix       text        NOT NULL,
    key_hash     bytea       NOT NULL UNIQUE,
    created_by   bigint      REFERENCES staff (id), -- NULL: the command line
    created_at   timestamptz NOT NULL,
    -- Refreshed on use, at most once a minute per key, so that a busy
    -- integration does not write a row version per call.
    last_used_at timestamptz,
    revoked_at   timestamptz,
    revoked_by   bigint      REFERENCES staff (id)
);

-- A note written through the API has a key for its author instead of a
-- member of staff: exactly one of the two.
ALTER TABLE notes
    ALTER COLUMN staff_id DROP NOT NULL,
    ADD COLUMN api_key_id bigint REFERENCES api_keys (id),
    ADD CONSTRAINT notes_one_author CHECK ((staff_id IS NULL) <> (api_key_id IS NULL));

-- Webhook endpoints: where state changes are announced. The secret signs
-- each delivery (HMAC-SHA256), so it is kept as is: signing needs it.
CREATE TABLE webhook_endpoints (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url         text        NOT NULL CHECK (url ~ '^https?://'),
    secret      text        NOT NULL,
    created_by  bigint      REFERENCES staff (id),
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz
);

-- One delivery per endpoint and state change, recorded with the change (the
-- outbox) and sent by a job. The body is fixed when recorded, so retries
-- send the same bytes; it holds no personal data.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint      NOT NULL REFERENCES webhook_endpoints (id),
    event_id        bigint      NOT NULL REFERENCES events (id),
    body            bytea       NOT NULL,
    state           text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_status     integer     NOT NULL DEFAULT 0, -- the receiver's HTTP status; 0 when none came
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
ALTER TABLE notes
    DROP CONSTRAINT notes_one_author,
    DROP COLUMN api_key_id,
    ALTER COLUMN staff_id SET NOT NULL;
DROP TABLE api_keys;
