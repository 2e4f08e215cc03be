-- +goose Up
-- Acknowledgements sent per recipient address and calendar day (in the
-- operator's time zone), for ACKNOWLEDGEMENTS_PER_DAY: whoever files
-- requests in someone else's name must not fill that person's mailbox. The
-- intake's one statement (store.CreateRequestSQL) counts here and stores
-- nothing past the limit, so every instance sees the same count. Addresses
-- appear only as their blind index (requests.email_index, an HMAC under
-- ENCRYPTION_KEY), and rows go two days after their day (prune_rate_limits).
CREATE TABLE acknowledgement_counts (
    email_index bytea   NOT NULL,
    day         date    NOT NULL,
    sent        integer NOT NULL,
    PRIMARY KEY (email_index, day)
);
CREATE INDEX acknowledgement_counts_day_idx ON acknowledgement_counts (day);

-- +goose Down
DROP TABLE acknowledgement_counts;
