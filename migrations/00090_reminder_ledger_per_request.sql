-- +goose Up
-- The reminder ledger keeps one row per request instead of one per key
-- (issue 16, the reminder sweep). A sweep wrote, for each reminder, its key
-- and every less urgent threshold it passed ("1d" with "3d" and "7d", an
-- overdue day with all three): 2.4 rows a reminder, each with its
-- foreign-key check, most of a sweep's writes. The row now holds the
-- request's most urgent key sent, and its urgency (reminder.Urgency: a
-- threshold of n days is -n, the overdue key of a day counts that day's days
-- since 1970-01-01). A sweep claims a key with INSERT … ON CONFLICT
-- (request_id) DO UPDATE … WHERE the row's urgency is below the key's
-- (store.RecordReminders): the primary key makes a second sweep wait for
-- the first and then see its row, and urgency never falls, so a key is
-- claimed at most once and a passed threshold never later, as before.
--
-- Each request keeps the row of its most urgent key; reminded_at is when
-- that key was sent. The times of the others stay in the request's
-- "reminded" events, which are not touched.
-- The rows kept are copied aside, the table emptied and refilled, and the
-- foreign key checked once for all of them, rather than each row of the old
-- ledger updated and most of them deleted (45 s for 2.4 million rows, against
-- 4.1 s with this, for 200,000 requests; docs/operations.md).
ALTER TABLE reminders NO FORCE ROW LEVEL SECURITY;
CREATE TEMPORARY TABLE reminders_kept ON COMMIT DROP AS
    SELECT DISTINCT ON (request_id) request_id, threshold, urgency, reminded_at, operator_id
    FROM (SELECT l.*, CASE
            WHEN threshold LIKE 'overdue:%' THEN substr(threshold, 9)::date - date '1970-01-01'
            ELSE -rtrim(threshold, 'd')::integer END AS urgency
          FROM reminders l) l
    ORDER BY request_id, urgency DESC;
TRUNCATE reminders;
ALTER TABLE reminders DROP CONSTRAINT reminders_pkey, DROP CONSTRAINT reminders_request_id_fkey,
    ADD COLUMN urgency integer NOT NULL;
INSERT INTO reminders (request_id, threshold, urgency, reminded_at, operator_id)
    SELECT request_id, threshold, urgency, reminded_at, operator_id FROM reminders_kept;
ALTER TABLE reminders ADD PRIMARY KEY (request_id),
    ADD CONSTRAINT reminders_request_id_fkey FOREIGN KEY (request_id) REFERENCES requests (id);
ALTER TABLE reminders FORCE ROW LEVEL SECURITY;

-- +goose Down
-- Back to a row per key: each request's key, and the thresholds it passed,
-- which are the thresholds this deployment has reminded of (in the ledger
-- or in "reminded" events) of more days than the key's, or all of them for
-- an overdue key. Passed rows take the key's time.
ALTER TABLE reminders NO FORCE ROW LEVEL SECURITY;
ALTER TABLE events NO FORCE ROW LEVEL SECURITY;
ALTER TABLE reminders DROP CONSTRAINT reminders_pkey;
INSERT INTO reminders (request_id, threshold, reminded_at, operator_id, urgency)
    SELECT l.request_id, t.days || 'd', l.reminded_at, l.operator_id, -t.days
    FROM reminders l
    JOIN (SELECT DISTINCT rtrim(k, 'd')::integer AS days FROM (
            SELECT threshold AS k FROM reminders
            UNION SELECT data->>'threshold' FROM events WHERE kind = 'reminded') keys
          WHERE k ~ '^[0-9]+d$') t ON -t.days < l.urgency;
ALTER TABLE reminders ADD PRIMARY KEY (request_id, threshold);
ALTER TABLE reminders DROP COLUMN urgency;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
ALTER TABLE reminders FORCE ROW LEVEL SECURITY;
