-- +goose Up
-- The staff switcher and the platform role (issue 15).
--
-- The platform role is the deployment's, not an operator's: a flag on the
-- account (staff has no operator column and no policy), set and cleared on
-- the command line only. It shows counts across operators, never a row.
ALTER TABLE staff ADD COLUMN platform_since timestamptz;

-- Handoffs take a member of several operators from one operator's
-- workspace to another's, on that operator's own address, signed in. Only
-- the SHA-256 of the token is kept; a handoff is bound to the account, the
-- operator it was made on and the one it is for, lives a minute and is
-- spent by its first use. The table belongs to the deployment, as the
-- sessions do (it names two operators): its statements name the operator
-- they act for themselves.
CREATE TABLE staff_handoffs (
    token_hash       bytea       PRIMARY KEY,
    staff_id         bigint      NOT NULL REFERENCES staff (id),
    from_operator_id bigint      NOT NULL REFERENCES operators (id),
    to_operator_id   bigint      NOT NULL REFERENCES operators (id),
    -- When the account signed in on the operator it comes from: the new
    -- session ends when that one would have, so switching never lengthens
    -- a working day.
    signed_in_at     timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz,
    created_at       timestamptz NOT NULL
);
CREATE INDEX staff_handoffs_expires_idx ON staff_handoffs (expires_at);

-- An account's own memberships, of every operator, are readable by a
-- statement that names the account (rightsdesk.staff, set for one
-- transaction by store.Memberships): the switcher lists them in one query
-- rather than one per operator. Reading only: the operator_scope policy
-- alone still decides what may be written, and every other table keeps to
-- the connection's operator.
CREATE POLICY own_memberships ON staff_operators FOR SELECT
    USING (staff_id = nullif(current_setting('rightsdesk.staff', true), '')::bigint);

-- +goose Down
DROP POLICY own_memberships ON staff_operators;
DROP TABLE staff_handoffs;
ALTER TABLE staff DROP COLUMN platform_since;
