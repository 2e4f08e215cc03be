-- +goose Up
-- Retention (store.PurgeFiles, store.PurgePersonalData, run daily by
-- jobs.RetentionSweep): a closed request's files lose their content after
-- FILE_RETENTION, and its personal data is blanked after RETENTION_PERIOD.
-- What the dashboard and the export count (type, status, dates, rule,
-- outcome, assignee) stays, so the statistics outlive the purge.

-- When the request's personal data was purged; NULL while it is held.
ALTER TABLE requests ADD COLUMN purged_at timestamptz;

-- The purge's selection: closed requests not purged yet, oldest closing
-- first. A purged request leaves the index, so it holds only the closed
-- requests of the retention period, not the whole history.
CREATE INDEX requests_unpurged_closed_idx ON requests (closed_at, id)
    WHERE purged_at IS NULL AND status IN ('completed', 'rejected', 'withdrawn', 'expired');

-- The file sweep's selection: files whose content is still held. A deleted
-- content leaves the index, so it holds the files of open and recently
-- closed requests only.
CREATE INDEX files_held_idx ON files (request_id, id) WHERE content IS NOT NULL;

-- The event log stays append-only, with one narrow exception: the purge
-- blanks the reason staff typed for an extension or a recomputed deadline,
-- which may name the person. Such an update may only turn data->'reason' of
-- those two kinds of event into the empty string: no other column or key
-- changes. Every other UPDATE, and every DELETE and TRUNCATE, is refused.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.id, NEW.request_id, NEW.kind, NEW.actor, NEW.actor_id, NEW.from_status, NEW.to_status, NEW.created_at)
           IS NOT DISTINCT FROM (OLD.id, OLD.request_id, OLD.kind, OLD.actor, OLD.actor_id, OLD.from_status, OLD.to_status, OLD.created_at)
       AND OLD.kind IN ('extended', 'deadline_recomputed')
       AND jsonb_typeof(OLD.data) = 'object'
       AND NEW.data = jsonb_set(OLD.data, '{reason}', '""'::jsonb, false) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
DROP INDEX files_held_idx;
DROP INDEX requests_unpurged_closed_idx;
ALTER TABLE requests DROP COLUMN purged_at;
