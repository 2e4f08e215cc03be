-- +goose Up
-- Staff sessions, as scs's pgxstore expects them. The token column holds the
-- SHA-256 of the cookie's token (scs HashTokenInStore), so reading this table
-- does not give anyone a live session.
CREATE TABLE sessions (
    token  text        PRIMARY KEY,
    data   bytea       NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- session_epoch is copied into each session at sign-in and compared on every
-- request: bumping it ends every session of the account at once.
ALTER TABLE staff
    ADD COLUMN session_epoch   bigint      NOT NULL DEFAULT 1,
    ADD COLUMN totp_secret     text        NOT NULL DEFAULT '',
    ADD COLUMN totp_enabled_at timestamptz,
    -- The last 30-second step whose code was accepted: no code works twice.
    ADD COLUMN totp_last_step  bigint      NOT NULL DEFAULT 0;

-- One-time links to set a password (invitations). Only the hash is kept.
CREATE TABLE staff_password_tokens (
    token_hash bytea       PRIMARY KEY,
    staff_id   bigint      NOT NULL REFERENCES staff (id),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX staff_password_tokens_staff_idx ON staff_password_tokens (staff_id);

-- Failed sign-ins, per throttle bucket (a hash of the email typed, or of the
-- client address), counted over a sliding window by every instance.
CREATE TABLE signin_failures (
    bucket    text        NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX signin_failures_bucket_idx ON signin_failures (bucket, failed_at);

-- +goose Down
DROP TABLE signin_failures;
DROP TABLE staff_password_tokens;
ALTER TABLE staff
    DROP COLUMN totp_last_step,
    DROP COLUMN totp_enabled_at,
    DROP COLUMN totp_secret,
    DROP COLUMN session_epoch;
DROP TABLE sessions;
