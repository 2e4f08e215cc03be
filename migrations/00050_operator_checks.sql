-- +goose Up
-- Every intake locked the operator's one row (issue 16). A foreign key on
-- operator_id (00037, 00039, 00040) is checked with SELECT … FOR KEY SHARE
-- of the operators row; every concurrent intake of one operator locks that
-- same row, and PostgreSQL records a share lock held by several
-- transactions as a new multixact: per intake a MultiXact CREATE_ID and a
-- Heap LOCK record in the WAL, and every intake waiting on the one page of
-- operators meanwhile. What those keys checked is kept in two other ways:
--
-- * a row is written only under an operator that exists: the policies'
--   WITH CHECK (00038, 00040) look the operator up, once per statement,
--   rather than take the connection's scope as it is, so a scope naming
--   no operator inserts nothing (the row fails the policy);
-- * an operator, once recorded, stays: the operators table refuses DELETE
--   and a change of id, so no row is ever left naming an operator that is
--   gone (the keys would have refused that delete as well).
--
-- request_search (00039) has no policy: its rows are written by its trigger
-- only, with the operator of the requests row the policy checked.
-- +goose StatementBegin
DO $$
DECLARE
    t     text;
    check_scope text := $s$(SELECT o.id FROM operators o WHERE o.id = coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1)))$s$;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'requests', 'confirmations', 'events', 'event_texts', 'emails', 'messages', 'files',
        'download_links', 'status_links', 'notes', 'response_drafts', 'reminders',
        'idempotency_keys', 'acknowledgement_counts', 'api_keys', 'webhook_endpoints',
        'webhook_deliveries', 'fulfilments', 'fulfilment_steps', 'letters', 'staff_operators',
        'dashboard_zone', 'dashboard_received', 'dashboard_closed']
    LOOP
        EXECUTE format('ALTER POLICY operator_scope ON %I WITH CHECK (operator_id = %s)', t, check_scope);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, t || '_operator_id_fkey');
    END LOOP;
END;
$$;
-- +goose StatementEnd
ALTER TABLE request_search DROP CONSTRAINT request_search_operator_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION operators_stay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an operator is never deleted or renumbered: its requests, staff and records name it'
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER operators_stay BEFORE DELETE OR UPDATE OF id ON operators
    FOR EACH ROW EXECUTE FUNCTION operators_stay();
CREATE TRIGGER operators_stay_truncate BEFORE TRUNCATE ON operators
    FOR EACH STATEMENT EXECUTE FUNCTION operators_stay();

-- +goose Down
DROP TRIGGER operators_stay_truncate ON operators;
DROP TRIGGER operators_stay ON operators;
DROP FUNCTION operators_stay();
ALTER TABLE request_search ADD CONSTRAINT request_search_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES operators (id);
-- +goose StatementBegin
DO $$
DECLARE
    t     text;
    scope text := $s$coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1))$s$;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'requests', 'confirmations', 'events', 'event_texts', 'emails', 'messages', 'files',
        'download_links', 'status_links', 'notes', 'response_drafts', 'reminders',
        'idempotency_keys', 'acknowledgement_counts', 'api_keys', 'webhook_endpoints',
        'webhook_deliveries', 'fulfilments', 'fulfilment_steps', 'letters', 'staff_operators',
        'dashboard_zone', 'dashboard_received', 'dashboard_closed']
    LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (operator_id) REFERENCES operators (id)', t, t || '_operator_id_fkey');
        EXECUTE format('ALTER POLICY operator_scope ON %I WITH CHECK (operator_id = %s)', t, scope);
    END LOOP;
END;
$$;
-- +goose StatementEnd
