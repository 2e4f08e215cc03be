-- +goose Up
-- Staff accounts: the privacy officer, agents, admins and auditors.
CREATE TABLE staff (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'agent', 'auditor')),
    locale        text        NOT NULL DEFAULT 'ru' CHECK (locale IN ('ru', 'kk', 'en')),
    password_hash text        NOT NULL DEFAULT '',
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX staff_email_idx ON staff (lower(email));

-- Who works a request; NULL is "nobody yet".
ALTER TABLE requests ADD COLUMN assignee_id bigint REFERENCES staff (id);

-- +goose Down
ALTER TABLE requests DROP COLUMN assignee_id;
DROP TABLE staff;
