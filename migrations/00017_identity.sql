-- +goose Up
-- The check of who the requester is, made before an answer hands their
-- data out (IDENTITY_CHECK decides which answers need one). A member of
-- staff records how they established it, or the operator's own system
-- vouched for the requester when it filed the request with its API key
-- (its sign-in proved them). The note staff type goes beside the event in
-- event_texts, sealed; these columns hold no personal data.
ALTER TABLE requests
    ADD COLUMN identity_checked_at timestamptz,
    ADD COLUMN identity_method     text CHECK (identity_method IN ('identity_document', 'operator_account',
        'video_call', 'in_person', 'representative_authority', 'other')),
    ADD COLUMN identity_checked_by bigint REFERENCES staff (id),
    ADD COLUMN identity_api_key_id bigint REFERENCES api_keys (id),
    -- A check has a time, a method and exactly one of a member of staff
    -- or an API key behind it; no check has none of them.
    ADD CONSTRAINT requests_identity_check CHECK (
        (identity_checked_at IS NULL AND identity_method IS NULL AND identity_checked_by IS NULL AND identity_api_key_id IS NULL)
        OR (identity_checked_at IS NOT NULL AND identity_method IS NOT NULL
            AND (identity_checked_by IS NULL) <> (identity_api_key_id IS NULL)));

-- +goose Down
ALTER TABLE requests
    DROP CONSTRAINT requests_identity_check,
    DROP COLUMN identity_api_key_id,
    DROP COLUMN identity_checked_by,
    DROP COLUMN identity_method,
    DROP COLUMN identity_checked_at;
