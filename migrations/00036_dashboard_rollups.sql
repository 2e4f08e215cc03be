-- +goose Up
-- The staff dashboard's figures, kept as requests change (store.Dashboard).
-- Reading a year of a million requests took 0.7-0.9 s; these rollups hold
-- the same figures in a few thousand rows.
--
-- Statement-level triggers keep them, from the rows each statement changed
-- (transition tables): every statement that inserts, updates or deletes
-- requests is counted, whichever code sends it, in the transaction of the
-- change, so the figures are right the moment it commits, on every instance.
-- A batch (the expiry sweep, COPY) makes one upsert per bucket, not one per row;
-- buckets are taken in key order, so that two batches never deadlock.
--
-- Months and days are calendar months and days in one time zone, the
-- operator's: dashboard_zone holds the zone the rollups are counted in, and
-- store.Dashboard recounts them (dashboard_rebuild) when the operator's zone
-- is another.

CREATE TABLE dashboard_zone (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    zone     text    NOT NULL
);

-- Requests received per month and type. Every intake adds 1 to its month's
-- row: slot spreads that row over 32 (by the connection's backend), so that
-- concurrent intakes do not queue on one row lock until each other's commit.
CREATE TABLE dashboard_received (
    month date     NOT NULL,
    type  text     NOT NULL,
    slot  smallint NOT NULL,
    n     bigint   NOT NULL,
    PRIMARY KEY (month, type, slot)
) WITH (fillfactor = 50);

-- Requests closed per month, type, status and calendar days from receipt to
-- closing: a histogram, from which the medians are exact. on_time counts
-- those closed by the deadline in force. Closings are staff actions and
-- sweeps, not the intake's rate: no slots.
CREATE TABLE dashboard_closed (
    month   date    NOT NULL,
    type    text    NOT NULL,
    status  text    NOT NULL,
    days    integer NOT NULL,
    n       bigint  NOT NULL,
    on_time bigint  NOT NULL,
    PRIMARY KEY (month, type, status, days)
) WITH (fillfactor = 50);

-- dashboard_count adds to the rollups the rows a statement changed: +1 for
-- each row as it now is, -1 for each as it was, so a row whose figures did
-- not change cancels out and leaves no trace (an assignment, a note, a purge
-- of personal data). A closed row is one with closed_at set; which statuses
-- count as closings and answers is the store's to say when it reads them.
-- The counting statement is written out once per operation because each
-- reads the transition tables its operation has (an INSERT trigger has no
-- old_rows). One statement built with format() and EXECUTE would be planned
-- again on every intake: BenchmarkIntakeDashboardRollup measured on/off
-- 1.41-1.59 that way against 1.11-1.16 for these cached plans.
-- +goose StatementBegin
CREATE FUNCTION dashboard_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    z text := (SELECT zone FROM dashboard_zone);
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH r AS (SELECT 1 AS sign, type, status, received_at, closed_at, due_at FROM new_rows
        ), received AS (
            INSERT INTO dashboard_received AS t (month, type, slot, n)
            SELECT date_trunc('month', r.received_at AT TIME ZONE z)::date, r.type, pg_backend_pid() % 32, sum(r.sign)
            FROM r GROUP BY 1, 2 HAVING sum(r.sign) <> 0 ORDER BY 1, 2
            ON CONFLICT (month, type, slot) DO UPDATE SET n = t.n + excluded.n
        )
        INSERT INTO dashboard_closed AS t (month, type, status, days, n, on_time)
        SELECT date_trunc('month', r.closed_at AT TIME ZONE z)::date, r.type, r.status,
            (r.closed_at AT TIME ZONE z)::date - (r.received_at AT TIME ZONE z)::date,
            sum(r.sign), coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0)
        FROM r WHERE r.closed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4
        HAVING sum(r.sign) <> 0 OR coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (month, type, status, days) DO UPDATE SET n = t.n + excluded.n, on_time = t.on_time + excluded.on_time;
    ELSIF TG_OP = 'DELETE' THEN
        WITH r AS (SELECT -1 AS sign, type, status, received_at, closed_at, due_at FROM old_rows
        ), received AS (
            INSERT INTO dashboard_received AS t (month, type, slot, n)
            SELECT date_trunc('month', r.received_at AT TIME ZONE z)::date, r.type, pg_backend_pid() % 32, sum(r.sign)
            FROM r GROUP BY 1, 2 HAVING sum(r.sign) <> 0 ORDER BY 1, 2
            ON CONFLICT (month, type, slot) DO UPDATE SET n = t.n + excluded.n
        )
        INSERT INTO dashboard_closed AS t (month, type, status, days, n, on_time)
        SELECT date_trunc('month', r.closed_at AT TIME ZONE z)::date, r.type, r.status,
            (r.closed_at AT TIME ZONE z)::date - (r.received_at AT TIME ZONE z)::date,
            sum(r.sign), coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0)
        FROM r WHERE r.closed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4
        HAVING sum(r.sign) <> 0 OR coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (month, type, status, days) DO UPDATE SET n = t.n + excluded.n, on_time = t.on_time + excluded.on_time;
    ELSE
        WITH r AS (SELECT -1 AS sign, type, status, received_at, closed_at, due_at FROM old_rows
            UNION ALL SELECT 1 AS sign, type, status, received_at, closed_at, due_at FROM new_rows
        ), received AS (
            INSERT INTO dashboard_received AS t (month, type, slot, n)
            SELECT date_trunc('month', r.received_at AT TIME ZONE z)::date, r.type, pg_backend_pid() % 32, sum(r.sign)
            FROM r GROUP BY 1, 2 HAVING sum(r.sign) <> 0 ORDER BY 1, 2
            ON CONFLICT (month, type, slot) DO UPDATE SET n = t.n + excluded.n
        )
        INSERT INTO dashboard_closed AS t (month, type, status, days, n, on_time)
        SELECT date_trunc('month', r.closed_at AT TIME ZONE z)::date, r.type, r.status,
            (r.closed_at AT TIME ZONE z)::date - (r.received_at AT TIME ZONE z)::date,
            sum(r.sign), coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0)
        FROM r WHERE r.closed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4
        HAVING sum(r.sign) <> 0 OR coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (month, type, status, days) DO UPDATE SET n = t.n + excluded.n, on_time = t.on_time + excluded.on_time;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER requests_dashboard_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count();
CREATE TRIGGER requests_dashboard_update AFTER UPDATE ON requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count();
CREATE TRIGGER requests_dashboard_delete AFTER DELETE ON requests
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count();

-- dashboard_rebuild counts the rollups again from the requests, in zone z,
-- unless they are counted in z already. It holds off every change to the
-- requests while it counts (and a second rebuild: the lock conflicts with
-- itself), so that no change is counted twice or lost; it runs once, when
-- the operator's time zone is set or changed.
-- +goose StatementBegin
CREATE FUNCTION dashboard_rebuild(z text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE requests IN SHARE ROW EXCLUSIVE MODE;
    IF (SELECT zone FROM dashboard_zone) IS NOT DISTINCT FROM z THEN
        RETURN;
    END IF;
    PERFORM now() AT TIME ZONE z; -- an unknown zone stops here
    DELETE FROM dashboard_zone;
    INSERT INTO dashboard_zone (zone) VALUES (z);
    DELETE FROM dashboard_received;
    DELETE FROM dashboard_closed;
    INSERT INTO dashboard_received (month, type, slot, n)
    SELECT date_trunc('month', received_at AT TIME ZONE z)::date, type, 0, count(*)
    FROM requests GROUP BY 1, 2;
    INSERT INTO dashboard_closed (month, type, status, days, n, on_time)
    SELECT date_trunc('month', closed_at AT TIME ZONE z)::date, type, status,
        (closed_at AT TIME ZONE z)::date - (received_at AT TIME ZONE z)::date,
        count(*), count(*) FILTER (WHERE closed_at <= due_at)
    FROM requests WHERE closed_at IS NOT NULL GROUP BY 1, 2, 3, 4;
END $$;
-- +goose StatementEnd

-- The default zone (config: TIMEZONE); store.Dashboard recounts in another.
SELECT dashboard_rebuild('Asia/Almaty');

-- +goose Down
DROP TRIGGER requests_dashboard_delete ON requests;
DROP TRIGGER requests_dashboard_update ON requests;
DROP TRIGGER requests_dashboard_insert ON requests;
DROP FUNCTION dashboard_rebuild(text);
DROP FUNCTION dashboard_count();
DROP TABLE dashboard_closed;
DROP TABLE dashboard_received;
DROP TABLE dashboard_zone;
