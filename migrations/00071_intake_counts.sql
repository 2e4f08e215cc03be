-- +goose Up
-- The intake counts its own request (issue 16). Every request the portal
-- takes in (store.CreateRequestSQL, the API, the forms and the letters
-- alike) is one row inserted by one statement, and that statement now
-- writes, beside the request, its blind-index terms (request_search, 00039),
-- its month in the dashboard's rollup (dashboard_received, 00036/00040) and
-- its bucket of the queue's tab counts (queue_tally, 00070), as data-changing
-- parts of the same statement, where the triggers did it row by row after
-- it (the row trigger of request_search with its own plan and upsert, the
-- statement triggers reading their transition tables through a plpgsql call
-- each). The row is marked counted_at_intake, and the triggers on INSERT skip
-- the rows so marked: they keep counting every other insert (seeding, a
-- script, any code but the intake), and the triggers on UPDATE and DELETE,
-- which do not look at the mark, count every change as before, so the
-- figures stay exact whoever writes. A row is marked only by the statement
-- that counts it; nothing else sets the column.
ALTER TABLE requests ADD COLUMN counted_at_intake boolean NOT NULL DEFAULT false;

DROP TRIGGER requests_search_sync ON requests;
CREATE TRIGGER requests_search_sync AFTER INSERT ON requests
    FOR EACH ROW WHEN (NOT NEW.counted_at_intake) EXECUTE FUNCTION request_search_sync();
CREATE TRIGGER requests_search_sync_update AFTER UPDATE OF search_index, operator_id ON requests
    FOR EACH ROW EXECUTE FUNCTION request_search_sync();

-- dashboard_count and queue_tally_count as in 00040 and 00070, their INSERT
-- branches reading only the rows the intake did not count, and returning at
-- once when there are none (the intake's statement): a look at the
-- transition table, not the planning and start of an upsert that writes
-- nothing.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION dashboard_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_rows WHERE NOT counted_at_intake) THEN
            RETURN NULL; -- the intake's request, counted by its statement
        END IF;
        WITH c AS (SELECT 1 AS sign, operator_id, type, status, received_at, closed_at, due_at FROM new_rows
            WHERE NOT counted_at_intake
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION queue_tally_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_rows WHERE NOT counted_at_intake) THEN
            RETURN NULL; -- the intake's request, counted by its statement
        END IF;
        INSERT INTO queue_tally AS t (operator_id, status, type, assignee, slot, n)
        SELECT c.operator_id, c.status, c.type, coalesce(c.assignee_id, 0),
            CASE WHEN c.assignee_id IS NULL THEN pg_backend_pid() % 16 ELSE 0 END, count(*)
        FROM new_rows c WHERE NOT c.counted_at_intake GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
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

-- +goose Down
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION queue_tally_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP TRIGGER requests_search_sync_update ON requests;
DROP TRIGGER requests_search_sync ON requests;
CREATE TRIGGER requests_search_sync AFTER INSERT OR UPDATE OF search_index, operator_id ON requests
    FOR EACH ROW EXECUTE FUNCTION request_search_sync();
ALTER TABLE requests DROP COLUMN counted_at_intake;
