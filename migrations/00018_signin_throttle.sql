-- +goose Up
-- Sign-in throttling, one row per bucket (a hash of the email typed, of a
-- device cookie, or of the client's address or IPv6 /64). An attempt is
-- counted here before its password is checked, in a transaction that locks
-- the row, so parallel guesses are counted one after the other: the old
-- table counted failures before the check and added them after it, and N
-- guesses sent at once were all checked. The rules (free failures, locks
-- that double, when a bucket is forgotten) are internal/auth/throttle.go's.
CREATE TABLE signin_throttle (
    bucket       text        PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    lockouts     integer     NOT NULL DEFAULT 0,
    last_failure timestamptz,
    locked_until timestamptz
);
CREATE INDEX signin_throttle_last_failure_idx ON signin_throttle (last_failure);

-- The failures counted so far are forgotten: at worst a guesser starts
-- with a fresh allowance once, at the upgrade.
DROP TABLE signin_failures;

-- +goose Down
CREATE TABLE signin_failures (
    bucket    text        NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX signin_failures_bucket_idx ON signin_failures (bucket, failed_at);
DROP TABLE signin_throttle;
