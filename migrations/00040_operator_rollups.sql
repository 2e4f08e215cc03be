-- +goose Up
-- The dashboard's rollups (00036) per operator (issue 15): each operator's
-- figures are its own requests', counted in its own time zone, behind the
-- same row-level security as the requests. Every rollup row there is
-- already the default operator's, the only one the database has had.
ALTER TABLE dashboard_zone DROP COLUMN only_row,
    ADD COLUMN operator_id bigint NOT NULL DEFAULT 1 REFERENCES operators (id);
ALTER TABLE dashboard_zone ADD PRIMARY KEY (operator_id),
    ALTER COLUMN operator_id SET DEFAULT rightsdesk_operator();
ALTER TABLE dashboard_received DROP CONSTRAINT dashboard_received_pkey,
    ADD COLUMN operator_id bigint NOT NULL DEFAULT 1 REFERENCES operators (id);
ALTER TABLE dashboard_received ADD PRIMARY KEY (operator_id, month, type, slot),
    ALTER COLUMN operator_id SET DEFAULT rightsdesk_operator();
ALTER TABLE dashboard_closed DROP CONSTRAINT dashboard_closed_pkey,
    ADD COLUMN operator_id bigint NOT NULL DEFAULT 1 REFERENCES operators (id);
ALTER TABLE dashboard_closed ADD PRIMARY KEY (operator_id, month, type, status, days),
    ALTER COLUMN operator_id SET DEFAULT rightsdesk_operator();

-- +goose StatementBegin
DO $$
DECLARE
    t     text;
    scope text := $s$coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1))$s$;
BEGIN
    FOREACH t IN ARRAY ARRAY['dashboard_zone', 'dashboard_received', 'dashboard_closed']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY operator_scope ON %I USING (operator_id = %s) WITH CHECK (operator_id = %s)', t, scope, scope);
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- dashboard_count as in 00036, each row counted under its operator and in
-- that operator's zone. An operator whose zone is not recorded yet is
-- counted in the default zone; its first dashboard_rebuild counts it again.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION dashboard_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH c AS (SELECT 1 AS sign, operator_id, type, status, received_at, closed_at, due_at FROM new_rows
        ), r AS (SELECT c.*, coalesce(z.zone, 'Asia/Almaty') AS zone FROM c LEFT JOIN dashboard_zone z USING (operator_id)
        ), received AS (
            INSERT INTO dashboard_received AS t (operator_id, month, type, slot, n)
            SELECT r.operator_id, date_trunc('month', r.received_at AT TIME ZONE r.zone)::date, r.type, pg_backend_pid() % 32, sum(r.sign)
            FROM r GROUP BY 1, 2, 3 HAVING sum(r.sign) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (operator_id, month, type, slot) DO UPDATE SET n = t.n + excluded.n
        )
        INSERT INTO dashboard_closed AS t (operator_id, month, type, status, days, n, on_time)
        SELECT r.operator_id, date_trunc('month', r.closed_at AT TIME ZONE r.zone)::date, r.type, r.status,
            (r.closed_at AT TIME ZONE r.zone)::date - (r.received_at AT TIME ZONE r.zone)::date,
            sum(r.sign), coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0)
        FROM r WHERE r.closed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(r.sign) <> 0 OR coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (operator_id, month, type, status, days) DO UPDATE SET n = t.n + excluded.n, on_time = t.on_time + excluded.on_time;
    ELSIF TG_OP = 'DELETE' THEN
        WITH c AS (SELECT -1 AS sign, operator_id, type, status, received_at, closed_at, due_at FROM old_rows
        ), r AS (SELECT c.*, coalesce(z.zone, 'Asia/Almaty') AS zone FROM c LEFT JOIN dashboard_zone z USING (operator_id)
        ), received AS (
            INSERT INTO dashboard_received AS t (operator_id, month, type, slot, n)
            SELECT r.operator_id, date_trunc('month', r.received_at AT TIME ZONE r.zone)::date, r.type, pg_backend_pid() % 32, sum(r.sign)
            FROM r GROUP BY 1, 2, 3 HAVING sum(r.sign) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (operator_id, month, type, slot) DO UPDATE SET n = t.n + excluded.n
        )
        INSERT INTO dashboard_closed AS t (operator_id, month, type, status, days, n, on_time)
        SELECT r.operator_id, date_trunc('month', r.closed_at AT TIME ZONE r.zone)::date, r.type, r.status,
            (r.closed_at AT TIME ZONE r.zone)::date - (r.received_at AT TIME ZONE r.zone)::date,
            sum(r.sign), coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0)
        FROM r WHERE r.closed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(r.sign) <> 0 OR coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (operator_id, month, type, status, days) DO UPDATE SET n = t.n + excluded.n, on_time = t.on_time + excluded.on_time;
    ELSE
        WITH c AS (SELECT -1 AS sign, operator_id, type, status, received_at, closed_at, due_at FROM old_rows
            UNION ALL SELECT 1 AS sign, operator_id, type, status, received_at, closed_at, due_at FROM new_rows
        ), r AS (SELECT c.*, coalesce(z.zone, 'Asia/Almaty') AS zone FROM c LEFT JOIN dashboard_zone z USING (operator_id)
        ), received AS (
            INSERT INTO dashboard_received AS t (operator_id, month, type, slot, n)
            SELECT r.operator_id, date_trunc('month', r.received_at AT TIME ZONE r.zone)::date, r.type, pg_backend_pid() % 32, sum(r.sign)
            FROM r GROUP BY 1, 2, 3 HAVING sum(r.sign) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (operator_id, month, type, slot) DO UPDATE SET n = t.n + excluded.n
        )
        INSERT INTO dashboard_closed AS t (operator_id, month, type, status, days, n, on_time)
        SELECT r.operator_id, date_trunc('month', r.closed_at AT TIME ZONE r.zone)::date, r.type, r.status,
            (r.closed_at AT TIME ZONE r.zone)::date - (r.received_at AT TIME ZONE r.zone)::date,
            sum(r.sign), coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0)
        FROM r WHERE r.closed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(r.sign) <> 0 OR coalesce(sum(r.sign) FILTER (WHERE r.closed_at <= r.due_at), 0) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (operator_id, month, type, status, days) DO UPDATE SET n = t.n + excluded.n, on_time = t.on_time + excluded.on_time;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- dashboard_rebuild counts operator op's rollups again from its requests,
-- in zone z, unless they are counted in z already. As in 00036, it holds
-- off every change to the requests while it counts, so that no change is
-- counted twice or lost; it runs when an operator's time zone is first
-- seen or changed (at start, store.DashboardZone).
DROP FUNCTION dashboard_rebuild(text);
-- +goose StatementBegin
CREATE FUNCTION dashboard_rebuild(op bigint, z text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE requests IN SHARE ROW EXCLUSIVE MODE;
    IF (SELECT zone FROM dashboard_zone WHERE operator_id = op) IS NOT DISTINCT FROM z THEN
        RETURN;
    END IF;
    PERFORM now() AT TIME ZONE z; -- an unknown zone stops here
    DELETE FROM dashboard_zone WHERE operator_id = op;
    INSERT INTO dashboard_zone (operator_id, zone) VALUES (op, z);
    DELETE FROM dashboard_received WHERE operator_id = op;
    DELETE FROM dashboard_closed WHERE operator_id = op;
    INSERT INTO dashboard_received (operator_id, month, type, slot, n)
    SELECT op, date_trunc('month', received_at AT TIME ZONE z)::date, type, 0, count(*)
    FROM requests WHERE operator_id = op GROUP BY 2, 3;
    INSERT INTO dashboard_closed (operator_id, month, type, status, days, n, on_time)
    SELECT op, date_trunc('month', closed_at AT TIME ZONE z)::date, type, status,
        (closed_at AT TIME ZONE z)::date - (received_at AT TIME ZONE z)::date,
        count(*), count(*) FILTER (WHERE closed_at <= due_at)
    FROM requests WHERE operator_id = op AND closed_at IS NOT NULL GROUP BY 2, 3, 4, 5;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION dashboard_rebuild(bigint, text);
DELETE FROM dashboard_zone WHERE operator_id <> 1;
DELETE FROM dashboard_received WHERE operator_id <> 1;
DELETE FROM dashboard_closed WHERE operator_id <> 1;
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dashboard_zone', 'dashboard_received', 'dashboard_closed']
    LOOP
        EXECUTE format('DROP POLICY operator_scope ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END;
$$;
-- +goose StatementEnd
ALTER TABLE dashboard_closed DROP COLUMN operator_id, ADD PRIMARY KEY (month, type, status, days);
ALTER TABLE dashboard_received DROP COLUMN operator_id, ADD PRIMARY KEY (month, type, slot);
ALTER TABLE dashboard_zone DROP COLUMN operator_id,
    ADD COLUMN only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION dashboard_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
