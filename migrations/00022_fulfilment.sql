-- +goose Up
-- Answering a request from the data map (DATA_MAP_FILE, docs/fulfillment.md).
--
-- A fulfilment is one run of the engine for a request: a gathering (access,
-- portability: every row of the person, then the access package) or the
-- execution of an approved plan (erasure, rectification, restriction,
-- consent withdrawal). A new one replaces the request's earlier one
-- (superseded_at), whose gathered rows and package are deleted then.
-- Everything that can name the person is sealed (internal/sealed): the plan
-- (it holds the identifiers rows are matched by), the rows gathered, the
-- package and its preview, what an operator's system answered.
CREATE TABLE fulfilments (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id           bigint      NOT NULL REFERENCES requests (id),
    kind                 text        NOT NULL CHECK (kind IN ('gather', 'execute')),
    -- The plan as plan.Plan's JSON, sealed; NULL once purged.
    plan                 bytea,
    plan_digest          text        NOT NULL,
    map_digest           text        NOT NULL,
    -- Who started it: a member of staff, an API key, or nobody (the
    -- automatic gathering, AUTO_GATHER).
    started_by           bigint      REFERENCES staff (id),
    started_api_key_id   bigint      REFERENCES api_keys (id),
    -- The approval of an execution: who, when, and the plan_digest above is
    -- the plan they were shown. Nothing destructive runs without one.
    approved_at          timestamptz,
    approved_by          bigint      REFERENCES staff (id),
    approved_api_key_id  bigint      REFERENCES api_keys (id),
    -- The access package (a ZIP), held as a draft until it is sent with the
    -- answer, and the summary staff review (counts and first rows), sealed.
    package              bytea,
    package_sha256       bytea,
    package_size         bigint,
    package_at           timestamptz,
    summary              bytea,
    created_at           timestamptz NOT NULL,
    superseded_at        timestamptz,
    CONSTRAINT fulfilments_approval CHECK (
        kind = 'gather' AND approved_at IS NULL AND approved_by IS NULL AND approved_api_key_id IS NULL
        OR kind = 'execute' AND approved_at IS NOT NULL
            AND (approved_by IS NULL) <> (approved_api_key_id IS NULL))
);
-- A request's current fulfilment: the one not replaced.
CREATE UNIQUE INDEX fulfilments_current_idx ON fulfilments (request_id) WHERE superseded_at IS NULL;
CREATE INDEX fulfilments_request_idx ON fulfilments (request_id, id);

-- One durable step per system of the map: its state, attempts, last
-- failure (a code shown in words, never a driver's text) and result (rows
-- per collection: counts only). A gathering step keeps the rows it read,
-- sealed, so a retry or a crash never reads a finished system again.
CREATE TABLE fulfilment_steps (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fulfilment_id  bigint      NOT NULL REFERENCES fulfilments (id),
    request_id     bigint      NOT NULL REFERENCES requests (id),
    system         text        NOT NULL,
    state          text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'done', 'failed', 'waiting')),
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text        NOT NULL DEFAULT '',
    last_error_at  timestamptz,
    -- What the operator's own system said (the HTTP connector's detail), sealed.
    detail         bytea,
    result         jsonb       NOT NULL DEFAULT '{}',
    rows           bytea,
    -- An HTTP step waiting for its outcome: where to ask (sealed), how
    -- often asked.
    poll_url       bytea,
    polls          integer     NOT NULL DEFAULT 0,
    -- The job working the step and until when its claim holds: a job
    -- whose instance died is known by its lease running out.
    job_id         bigint,
    lease_until    timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    done_at        timestamptz,
    UNIQUE (fulfilment_id, system)
);
CREATE INDEX fulfilment_steps_request_idx ON fulfilment_steps (request_id);
-- The queue's "gathering failed" filter and the reminders look for these.
CREATE INDEX fulfilment_steps_stuck_idx ON fulfilment_steps (request_id) WHERE state IN ('failed', 'waiting');

-- +goose Down
DROP TABLE fulfilment_steps;
DROP TABLE fulfilments;
