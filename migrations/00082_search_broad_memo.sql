-- +goose Up
-- Which searches match more than store.SearchCap requests, remembered
-- (issue 16, "the queue page"). To know whether a name is that common, the
-- search read the name's requests from request_search up to the cap, and
-- its GIN index yields a term's whole posting list before LIMIT applies:
-- 5.3 ms a page for a name 20,900 of a million requests have, however few
-- rows were wanted. A search found broad is recorded here, and the next
-- page with the same search reads one row instead.
--
-- Requests are only added by the intake, and a search's matches only grow
-- then, so a search once broad stays broad and the intake writes nothing
-- here. Matches can fall only when request_search loses rows or terms (a
-- deletion, the purge, a correction of a name, a key rotation re-sealing
-- terms): each such transaction moves its operator's epoch on, and a
-- record is believed only while its epoch is the operator's current one.
-- The search reads the epoch in the same statement (so the same snapshot)
-- as the matches it counts, and records that epoch: a change committed
-- after that snapshot has moved the epoch past it, whatever the order of
-- the two commits. The epoch moves at commit (a deferred trigger), once per
-- operator and transaction, so the lock on its row is taken last and held
-- only while committing: no transaction waits on it while holding it.
CREATE TABLE search_epoch (
    operator_id bigint PRIMARY KEY DEFAULT rightsdesk_operator() REFERENCES operators (id),
    epoch       bigint NOT NULL
);
CREATE TABLE search_broad (
    operator_id bigint NOT NULL DEFAULT rightsdesk_operator() REFERENCES operators (id),
    query       bytea  NOT NULL, -- store.searchKey: a digest of the search's blind terms
    epoch       bigint NOT NULL,
    PRIMARY KEY (operator_id, query)
);

ALTER TABLE search_epoch ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_epoch FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_scope ON search_epoch
    USING (operator_id = coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1)))
    WITH CHECK (operator_id = coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1)));
ALTER TABLE search_broad ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_broad FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_scope ON search_broad
    USING (operator_id = coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1)))
    WITH CHECK (operator_id = coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint, (SELECT min(id) FROM operators HAVING count(*) = 1)));

-- +goose StatementBegin
CREATE FUNCTION search_epoch_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved text := coalesce(current_setting('rightsdesk.search_epoch_moved', true), '');
BEGIN
    IF position(',' || OLD.operator_id || ',' IN moved) = 0 THEN
        INSERT INTO search_epoch AS e (operator_id, epoch) VALUES (OLD.operator_id, 1)
        ON CONFLICT (operator_id) DO UPDATE SET epoch = e.epoch + 1;
        PERFORM set_config('rightsdesk.search_epoch_moved', coalesce(nullif(moved, ''), ',') || OLD.operator_id || ',', true);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER request_search_epoch_delete AFTER DELETE ON request_search
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_epoch_move();
CREATE CONSTRAINT TRIGGER request_search_epoch_update AFTER UPDATE ON request_search
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.search_index IS DISTINCT FROM NEW.search_index OR OLD.operator_id IS DISTINCT FROM NEW.operator_id)
    EXECUTE FUNCTION search_epoch_move();

-- +goose StatementBegin
-- TRUNCATE takes the table from every reader at once: the records go with it.
CREATE FUNCTION search_broad_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE search_broad;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER request_search_broad_truncate AFTER TRUNCATE ON request_search
    FOR EACH STATEMENT EXECUTE FUNCTION search_broad_truncate();

-- +goose Down
DROP TRIGGER request_search_broad_truncate ON request_search;
DROP FUNCTION search_broad_truncate();
DROP TRIGGER request_search_epoch_update ON request_search;
DROP TRIGGER request_search_epoch_delete ON request_search;
DROP FUNCTION search_epoch_move();
DROP TABLE search_broad;
DROP TABLE search_epoch;
