-- +goose Up
-- The second wall (issue 15): row-level security on the operator column.
-- A connection sees and writes only the rows of the operator it is scoped
-- to (rightsdesk_operator(), 00037), so a query that forgot its operator
-- returns nothing of another operator's rather than everything. FORCE makes
-- the policies bind the tables' owner too, which is what the application
-- connects as. Referential checks are PostgreSQL's own and see every row, as
-- they must. River's tables, the sessions, staff accounts and the sign-in
-- throttle belong to the deployment and have no policy.
--
-- The policy spells rightsdesk_operator() out rather than calling it: a
-- function with a subquery is not inlined and would be called for every row
-- a scan filters, while the expression's subquery is planned once per
-- statement, and only read when the connection has no scope.
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
        'webhook_deliveries', 'fulfilments', 'fulfilment_steps', 'letters', 'staff_operators']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY operator_scope ON %I USING (operator_id = %s) WITH CHECK (operator_id = %s)', t, scope, scope);
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'requests', 'confirmations', 'events', 'event_texts', 'emails', 'messages', 'files',
        'download_links', 'status_links', 'notes', 'response_drafts', 'reminders',
        'idempotency_keys', 'acknowledgement_counts', 'api_keys', 'webhook_endpoints',
        'webhook_deliveries', 'fulfilments', 'fulfilment_steps', 'letters', 'staff_operators']
    LOOP
        EXECUTE format('DROP POLICY operator_scope ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END;
$$;
-- +goose StatementEnd
