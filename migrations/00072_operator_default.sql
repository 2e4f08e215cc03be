-- +goose Up
-- rightsdesk_operator() (00037), the default of every operator_id column, in
-- PL/pgSQL (issue 16). As a SQL function with a subquery it cannot be
-- inlined, and PostgreSQL then parses and plans its body again in every
-- statement that calls it: the intake statement, whose rows take the
-- default in six tables, spent about a quarter of its time in PostgreSQL
-- there (perf of a backend repeating the prepared intake statement:
-- fmgr_sql 24%, its parsing and planning included). A PL/pgSQL function
-- keeps its plan for the session. Same answer: the connection's operator
-- when it names one, else the only operator, else NULL.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rightsdesk_operator() RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    scope text := nullif(current_setting('rightsdesk.operator', true), '');
BEGIN
    IF scope IS NOT NULL THEN
        RETURN scope::bigint;
    END IF;
    RETURN (SELECT min(id) FROM operators HAVING count(*) = 1);
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION rightsdesk_operator() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('rightsdesk.operator', true), '')::bigint,
                    (SELECT min(id) FROM operators HAVING count(*) = 1))
$$;
-- +goose StatementEnd
