-- +goose Up
-- Encryption at rest, step 3 of 3: every value is sealed now (00015), so
-- the clear columns go and the sealed ones take their names.
ALTER TABLE requests
    DROP COLUMN full_name, DROP COLUMN email, DROP COLUMN phone, DROP COLUMN account_id,
    DROP COLUMN details, DROP COLUMN subject_name, DROP COLUMN correction, DROP COLUMN processing;
-- NULL only once purged.
ALTER TABLE requests ADD CONSTRAINT requests_personal_held CHECK ((personal IS NULL) = (purged_at IS NOT NULL));

-- Search: a request matches when its index overlaps each word's terms.
CREATE INDEX requests_search_idx ON requests USING gin (search_index);
-- Possible duplicates: the same email (its term) and type among open requests.
CREATE INDEX requests_email_index_idx ON requests (email_index, type)
    WHERE status IN ('unverified', 'new', 'in_progress', 'awaiting_requester');

ALTER TABLE messages DROP COLUMN body;
ALTER TABLE messages RENAME COLUMN body_sealed TO body;
ALTER TABLE messages ALTER COLUMN body SET NOT NULL;

ALTER TABLE notes DROP COLUMN body;
ALTER TABLE notes RENAME COLUMN body_sealed TO body;
ALTER TABLE notes ALTER COLUMN body SET NOT NULL;

-- files_held_idx (content IS NOT NULL) goes with the clear content.
ALTER TABLE files DROP COLUMN name, DROP COLUMN content;
ALTER TABLE files RENAME COLUMN name_sealed TO name;
ALTER TABLE files RENAME COLUMN content_sealed TO content;
ALTER TABLE files ALTER COLUMN name SET NOT NULL;
CREATE INDEX files_held_idx ON files (request_id, id) WHERE content IS NOT NULL;

ALTER TABLE response_drafts DROP COLUMN name, DROP COLUMN content;
ALTER TABLE response_drafts RENAME COLUMN name_sealed TO name;
ALTER TABLE response_drafts RENAME COLUMN content_sealed TO content;
ALTER TABLE response_drafts ALTER COLUMN name SET NOT NULL, ALTER COLUMN content SET NOT NULL;

ALTER TABLE emails DROP COLUMN recipient, DROP COLUMN subject, DROP COLUMN body_text,
    DROP COLUMN body_html, DROP COLUMN secrets;
ALTER TABLE emails RENAME COLUMN secrets_sealed TO secrets;

ALTER TABLE staff DROP COLUMN totp_secret;
ALTER TABLE staff RENAME COLUMN totp_secret_sealed TO totp_secret;
ALTER TABLE staff ALTER COLUMN totp_secret SET DEFAULT ''::bytea;
UPDATE staff SET totp_secret = ''::bytea WHERE totp_secret IS NULL;
ALTER TABLE staff ALTER COLUMN totp_secret SET NOT NULL;

ALTER TABLE webhook_endpoints DROP COLUMN secret;
ALTER TABLE webhook_endpoints RENAME COLUMN secret_sealed TO secret;
ALTER TABLE webhook_endpoints ALTER COLUMN secret SET NOT NULL;

-- The event log is strictly append-only again: the reasons staff typed
-- moved to event_texts (00015), which the purge may delete.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$ BEGIN
    RAISE EXCEPTION 'encryption at rest is not undone by a migration: restore the backup taken before the upgrade';
END $$;
-- +goose StatementEnd
