-- +goose Up
-- The queue's tab counts, kept as requests change (issue 16). The tab bar
-- counted every tab live, each up to store.CountCap: a filter by type or
-- assignee walked a tab's index until CountCap+1 matches, and a filter few
-- requests match walked the whole tab (65-180 ms at a million requests,
-- docs/benchmarks.md). queue_tally holds how many requests each
-- (operator, status, type, assignee) has, so the tabs and filters that are
-- only these columns (open, mine, unassigned, awaiting, triage, closed,
-- all; by status, type and assignee) are a sum over a few hundred rows.
-- The tabs that depend on the time (due soon, overdue), the due-date
-- range, a search and the bounced and failed-step conditions stay live,
-- capped counts (store.countsQuery).
--
-- As the dashboard's rollups (00036, 00040): statement-level triggers count
-- every statement that inserts, updates or deletes requests, whichever code
-- sends it, in the transaction of the change, so the counts are right the
-- moment it commits, on every instance; +1 for each row as it now is, -1 for
-- each as it was, so an update that changes none of the four columns
-- cancels out and writes nothing. Buckets are taken in key order, so that
-- two batches never deadlock. Intake adds to one bucket per type (new or
-- unverified, nobody's): slot spreads those over 16 rows (by the
-- connection's backend), so concurrent intakes do not queue on one row
-- lock until each other's commit; an assigned bucket changes at the pace of
-- staff and keeps slot 0. assignee is 0 for nobody (a key column cannot be
-- null); the store reads it back as NULL.
CREATE TABLE queue_tally (
    operator_id bigint   NOT NULL DEFAULT rightsdesk_operator() REFERENCES operators (id),
    status      text     NOT NULL,
    type        text     NOT NULL,
    assignee    bigint   NOT NULL,
    slot        smallint NOT NULL,
    n           bigint   NOT NULL,
    PRIMARY KEY (operator_id, status, type, assignee, slot)
) WITH (fillfactor = 50);

-- The owner reads past the requests' policy while FORCE is off, inside this
-- migration only: every operator's requests are counted.
ALTER TABLE requests NO FORCE ROW LEVEL SECURITY;
INSERT INTO queue_tally (operator_id, status, type, assignee, slot, n)
    SELECT operator_id, status, type, coalesce(assignee_id, 0), 0, count(*)
    FROM requests GROUP BY 1, 2, 3, 4;
ALTER TABLE requests FORCE ROW LEVEL SECURITY;

ALTER TABLE queue_tally ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue_tally FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_scope ON queue_tally
    USING (operator_id = coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1)))
    WITH CHECK (operator_id = coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1)));

-- The counting statement is written out once per operation, each reading the
-- transition tables its operation has, so that each keeps a cached plan
-- (00036 measured format() and EXECUTE at 1.41-1.59 of the intake's time).
-- +goose StatementBegin
CREATE FUNCTION queue_tally_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO queue_tally AS t (operator_id, status, type, assignee, slot, n)
        SELECT c.operator_id, c.status, c.type, coalesce(c.assignee_id, 0),
            CASE WHEN c.assignee_id IS NULL THEN pg_backend_pid() % 16 ELSE 0 END, count(*)
        FROM new_rows c GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (operator_id, status, type, assignee, slot) DO UPDATE SET n = t.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO queue_tally AS t (operator_id, status, type, assignee, slot, n)
        SELECT c.operator_id, c.status, c.type, coalesce(c.assignee_id, 0),
            CASE WHEN c.assignee_id IS NULL THEN pg_backend_pid() % 16 ELSE 0 END, -count(*)
        FROM old_rows c GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (operator_id, status, type, assignee, slot) DO UPDATE SET n = t.n + excluded.n;
    ELSE
        WITH c AS (SELECT -1 AS sign, operator_id, status, type, assignee_id FROM old_rows
            UNION ALL SELECT 1 AS sign, operator_id, status, type, assignee_id FROM new_rows)
        INSERT INTO queue_tally AS t (operator_id, status, type, assignee, slot, n)
        SELECT c.operator_id, c.status, c.type, coalesce(c.assignee_id, 0),
            CASE WHEN c.assignee_id IS NULL THEN pg_backend_pid() % 16 ELSE 0 END, sum(c.sign)
        FROM c GROUP BY 1, 2, 3, 4, 5 HAVING sum(c.sign) <> 0 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (operator_id, status, type, assignee, slot) DO UPDATE SET n = t.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER requests_queue_tally_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_tally_count();
CREATE TRIGGER requests_queue_tally_update AFTER UPDATE ON requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_tally_count();
CREATE TRIGGER requests_queue_tally_delete AFTER DELETE ON requests
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_tally_count();

-- +goose Down
DROP TRIGGER requests_queue_tally_delete ON requests;
DROP TRIGGER requests_queue_tally_update ON requests;
DROP TRIGGER requests_queue_tally_insert ON requests;
DROP FUNCTION queue_tally_count();
DROP TABLE queue_tally;
