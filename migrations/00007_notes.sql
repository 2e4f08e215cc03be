-- +goose Up
-- Internal notes: what staff write to each other about a request. They are
-- shown on the staff timeline only and never leave rightsdesk (no email, no
-- status page, no API answer to the requester). The text may hold personal
-- data, so it lives here, with the request, and not in the event log, which
-- only records that a note was added and by whom.
CREATE TABLE notes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  bigint      NOT NULL REFERENCES requests (id),
    staff_id    bigint      NOT NULL REFERENCES staff (id),
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX notes_request_idx ON notes (request_id, id);

-- A response file held between "Preview" and "Send": a browser cannot carry
-- a chosen file from one page to the next, so the file waits here for the
-- member of staff who previewed it. One per person and request (a new
-- preview replaces it); it is deleted when the request is completed, and
-- left-overs older than a day go when anyone saves a new one.
CREATE TABLE response_drafts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id   bigint      NOT NULL REFERENCES requests (id),
    staff_id     bigint      NOT NULL REFERENCES staff (id),
    name         text        NOT NULL,
    content_type text        NOT NULL,
    size         bigint      NOT NULL,
    sha256       bytea       NOT NULL,
    content      bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    UNIQUE (request_id, staff_id)
);
CREATE INDEX response_drafts_created_idx ON response_drafts (created_at);

-- The request page lists the later requests that point at one as possible
-- duplicates; few requests have one, so the index holds only those.
CREATE INDEX requests_duplicate_of_idx ON requests (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- +goose Down
DROP INDEX requests_duplicate_of_idx;
DROP TABLE response_drafts;
DROP TABLE notes;
