-- +goose Up
-- Requests: one row per request a person filed. Personal fields live here and
-- nowhere else, so that the retention purge has one place to clear.
CREATE TABLE requests (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference          text        NOT NULL UNIQUE,
    status_token_hash  bytea       NOT NULL UNIQUE,
    type               text        NOT NULL CHECK (type IN ('access', 'rectification', 'erasure', 'restriction', 'objection', 'consent_withdrawal', 'portability')),
    status             text        NOT NULL CHECK (status IN ('unverified', 'new', 'in_progress', 'awaiting_requester', 'completed', 'rejected', 'withdrawn', 'expired')),
    locale             text        NOT NULL CHECK (locale IN ('ru', 'kk', 'en')),
    received_at        timestamptz NOT NULL,
    confirmed_at       timestamptz,
    closed_at          timestamptz,
    due_at             timestamptz NOT NULL,
    -- The rule that set due_at, kept with the request so that a later policy
    -- change never silently moves the date of a request already received.
    deadline_rule      text        NOT NULL,
    deadline_legal_ref text        NOT NULL DEFAULT '',
    deadline_basis     text        NOT NULL DEFAULT '',
    full_name          text        NOT NULL,
    email              text        NOT NULL,
    phone              text        NOT NULL DEFAULT '',
    account_id         text        NOT NULL DEFAULT '',
    details            text        NOT NULL DEFAULT '',
    on_behalf          boolean     NOT NULL DEFAULT false,
    subject_name       text        NOT NULL DEFAULT '',
    relationship       text        NOT NULL DEFAULT '' CHECK (relationship IN ('', 'parent', 'guardian', 'representative')),
    access_scope       text        NOT NULL DEFAULT '' CHECK (access_scope IN ('', 'information', 'copy')),
    correction         text        NOT NULL DEFAULT '',
    processing         text        NOT NULL DEFAULT '',
    -- A second open request from the same person for the same right points at
    -- the first one; staff decide whether it really is a duplicate.
    duplicate_of       bigint      REFERENCES requests (id),
    updated_at         timestamptz NOT NULL
);

-- The queue reads open requests by due date; closed ones are the minority it shows.
CREATE INDEX requests_open_due_idx ON requests (due_at, id)
    WHERE status IN ('unverified', 'new', 'in_progress', 'awaiting_requester');
CREATE INDEX requests_email_type_idx ON requests (lower(email), type);

-- Confirmation links: single use, expiring; only the hash of the token is kept.
CREATE TABLE confirmations (
    request_id  bigint      PRIMARY KEY REFERENCES requests (id),
    token_hash  bytea       NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- The append-only log of everything that happens to a request. Rows carry no
-- personal data (that stays on the request), so the log outlives the purge.
CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  bigint      REFERENCES requests (id),
    kind        text        NOT NULL,
    actor       text        NOT NULL CHECK (actor IN ('requester', 'staff', 'system')),
    actor_id    bigint,
    from_status text,
    to_status   text,
    data        jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL
);
CREATE INDEX events_request_idx ON events (request_id, id);

-- +goose StatementBegin
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- The outbox: every email is recorded in the transaction of the change that
-- causes it and delivered by a job. (event_id, kind) is unique so that one
-- event can never produce the same email twice.
CREATE TABLE emails (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id      bigint      REFERENCES requests (id),
    event_id        bigint      NOT NULL REFERENCES events (id),
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    locale          text        NOT NULL,
    message_id      text        NOT NULL UNIQUE,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text        NOT NULL,
    -- Secret links (status, confirmation) are kept apart from the bodies and
    -- wiped once the message is accepted, so the database holds them only
    -- while they still have to be sent.
    secrets         jsonb,
    state           text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    last_attempt_at timestamptz,
    sent_at         timestamptz,
    UNIQUE (event_id, kind)
);
CREATE INDEX emails_request_idx ON emails (request_id, id);
CREATE INDEX emails_unsent_idx ON emails (state) WHERE state <> 'sent';

-- Rate-limit windows shared by every instance. Unlogged: losing counters in a
-- crash only forgives a minute of submissions.
CREATE UNLOGGED TABLE rate_limits (
    bucket       text        NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer     NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- +goose Down
DROP TABLE rate_limits;
DROP TABLE emails;
DROP TRIGGER events_no_truncate ON events;
DROP TRIGGER events_no_update_delete ON events;
DROP TABLE events;
DROP FUNCTION events_append_only();
DROP TABLE confirmations;
DROP TABLE requests;
