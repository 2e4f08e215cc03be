-- +goose Up
-- The staff search by blind-index terms under row-level security (issue
-- 15). PostgreSQL lets a condition of the query run inside an index scan
-- before a policy's condition only when it is leakproof; the array overlap
-- (&&) the search matches terms with is not, so on requests, behind its
-- policy, the search could no longer use its GIN index and read every one
-- of the operator's requests instead (144 ms at 100,000 rows, seconds at a
-- million). The terms are kept beside the requests in request_search,
-- which has no policy: it holds ids and keyed hashes (internal/keyring),
-- nothing readable, and the queue names the operator in its WHERE and
-- joins back to requests, whose policy still applies. A trigger keeps it
-- in step with requests.search_index, so every writer (intake, key
-- rotation, the purge) is as it was.
CREATE TABLE request_search (
    request_id   bigint   PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    operator_id  bigint   NOT NULL REFERENCES operators (id),
    search_index bytea[]  NOT NULL
);

-- The owner may read past the policy while FORCE is off, inside this
-- migration only: every operator's terms are copied.
ALTER TABLE requests NO FORCE ROW LEVEL SECURITY;
INSERT INTO request_search (request_id, operator_id, search_index)
    SELECT id, operator_id, search_index FROM requests;
ALTER TABLE requests FORCE ROW LEVEL SECURITY;

DROP INDEX requests_search_idx;
CREATE INDEX requests_search_idx ON request_search USING gin (search_index);
-- No index on operator_id: the terms narrow to a handful of rows, which the
-- operator then filters; an operator's index would only be ANDed in whole.

-- +goose StatementBegin
CREATE FUNCTION request_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO request_search (request_id, operator_id, search_index)
    VALUES (NEW.id, NEW.operator_id, NEW.search_index)
    ON CONFLICT (request_id) DO UPDATE SET operator_id = EXCLUDED.operator_id, search_index = EXCLUDED.search_index;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER requests_search_sync AFTER INSERT OR UPDATE OF search_index, operator_id ON requests
    FOR EACH ROW EXECUTE FUNCTION request_search_sync();

-- +goose Down
DROP TRIGGER requests_search_sync ON requests;
DROP FUNCTION request_search_sync();
DROP TABLE request_search;
CREATE INDEX requests_search_idx ON requests USING gin (search_index);
