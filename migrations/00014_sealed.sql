-- +goose Up
-- Encryption at rest, step 1 of 3: room for the sealed values next to the
-- clear ones. Step 2 (seal.go, a Go migration: it needs ENCRYPTION_KEY)
-- seals what is already stored; step 3 (00016) drops the clear columns.
-- Every sealed value is AES-256-GCM under the first key of ENCRYPTION_KEY,
-- bound to its column (internal/keyring).

-- The requester's fields, sealed together as one JSON document: one
-- decryption per request read, one value for the purge to clear.
ALTER TABLE requests
    ADD COLUMN personal     bytea,
    -- Blind index terms (keyed hashes) of the name words and their
    -- beginnings, the email, the account id and the phone: what the queue's
    -- search box matches, without the database ever seeing the words.
    ADD COLUMN search_index bytea[] NOT NULL DEFAULT '{}',
    -- The blind index term of the email alone, for finding the same
    -- person's open request of the same type (possible duplicates).
    ADD COLUMN email_index  bytea;

ALTER TABLE messages        ADD COLUMN body_sealed bytea;
ALTER TABLE notes           ADD COLUMN body_sealed bytea;
ALTER TABLE files           ADD COLUMN name_sealed bytea, ADD COLUMN content_sealed bytea;
ALTER TABLE response_drafts ADD COLUMN name_sealed bytea, ADD COLUMN content_sealed bytea;
-- An email's recipient, subject and bodies, sealed together.
ALTER TABLE emails          ADD COLUMN sealed bytea, ADD COLUMN secrets_sealed bytea;
ALTER TABLE staff           ADD COLUMN totp_secret_sealed bytea;
ALTER TABLE webhook_endpoints ADD COLUMN secret_sealed bytea;

-- Free text staff type for an event (the reason for an extension or a
-- recomputed deadline) lives here, sealed, and not in the event itself: the
-- event log stays strictly append-only, and the purge deletes these rows.
CREATE TABLE event_texts (
    event_id bigint PRIMARY KEY REFERENCES events (id),
    body     bytea  NOT NULL
);

-- +goose Down
DROP TABLE event_texts;
ALTER TABLE webhook_endpoints DROP COLUMN secret_sealed;
ALTER TABLE staff DROP COLUMN totp_secret_sealed;
ALTER TABLE emails DROP COLUMN sealed, DROP COLUMN secrets_sealed;
ALTER TABLE response_drafts DROP COLUMN name_sealed, DROP COLUMN content_sealed;
ALTER TABLE files DROP COLUMN name_sealed, DROP COLUMN content_sealed;
ALTER TABLE notes DROP COLUMN body_sealed;
ALTER TABLE messages DROP COLUMN body_sealed;
ALTER TABLE requests DROP COLUMN personal, DROP COLUMN search_index, DROP COLUMN email_index;
