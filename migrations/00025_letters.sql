-- +goose Up
-- Letters to the privacy mailbox become requests (issue 14). A letter's
-- request starts in triage, where staff confirm the right it asks for, and a
-- letter that followed up a request without threading onto it can be merged
-- into that request (its own then closes as merged).
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN ('triage', 'unverified', 'new',
    'in_progress', 'awaiting_requester', 'completed', 'rejected', 'withdrawn', 'expired', 'merged'));
ALTER TABLE requests ADD COLUMN merged_into bigint REFERENCES requests (id);

-- The partial indexes name the open and closed statuses as the queries spell
-- them (internal/store/statuses.go): triage is open, merged closed.
DROP INDEX requests_open_due_idx;
CREATE INDEX requests_open_due_idx ON requests (due_at, id)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_open_assignee_due_idx;
CREATE INDEX requests_open_assignee_due_idx ON requests (assignee_id, due_at, id) INCLUDE (status, type)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_email_index_idx;
CREATE INDEX requests_email_index_idx ON requests (email_index, type)
    WHERE status IN ('triage', 'unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_remind_due_idx;
CREATE INDEX requests_remind_due_idx ON requests (due_at, id) INCLUDE (reference, type, assignee_id)
    WHERE status IN ('triage', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_closed_due_idx;
CREATE INDEX requests_closed_due_idx ON requests (due_at, id) INCLUDE (status, type, assignee_id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_closed_at_idx;
CREATE INDEX requests_closed_at_idx ON requests (closed_at, id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_closed_figures_idx;
CREATE INDEX requests_closed_figures_idx ON requests (closed_at) INCLUDE (status, type, received_at, due_at)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');
DROP INDEX requests_unpurged_closed_idx;
CREATE INDEX requests_unpurged_closed_idx ON requests (closed_at, id)
    WHERE purged_at IS NULL AND status IN ('completed', 'rejected', 'withdrawn', 'expired', 'merged');

-- A bounce of one of rightsdesk's emails marks it: when, and the status code
-- the report gave. The queue finds the requests whose emails bounce through
-- the few that did.
ALTER TABLE emails ADD COLUMN bounced_at timestamptz, ADD COLUMN bounce_status text NOT NULL DEFAULT '';
CREATE INDEX emails_bounced_request_idx ON emails (request_id) WHERE bounced_at IS NOT NULL;

-- Every letter the ways in handed over, stored once: the content hash (the
-- same for the copy polled from a mailbox and the copy the listener
-- received) and a keyed term of the sender and the Message-ID (a list's copy
-- with a footer added is the same letter) are unique. A person's letter keeps
-- the original (raw) and what staff are shown of it (view), both sealed; a
-- machine's letter (an auto-reply, list mail, a bounce) keeps neither, only
-- what identifies it and what it was.
CREATE TABLE letters (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash                    text        NOT NULL UNIQUE,
    sender_key              bytea       UNIQUE,
    message_id              text        NOT NULL DEFAULT '',
    kind                    text        NOT NULL CHECK (kind IN ('new', 'reply', 'auto_reply', 'bounce', 'list')),
    reason                  text        NOT NULL DEFAULT '',
    source                  text        NOT NULL CHECK (source IN ('imap', 'smtp')),
    received_at             timestamptz NOT NULL,
    stored_at               timestamptz NOT NULL,
    -- What it became: a request of its own, a reply on one, a mark on a
    -- bounced email, or nothing.
    outcome                 text        NOT NULL CHECK (outcome IN ('request', 'reply', 'bounce', 'ignored')),
    request_id              bigint      REFERENCES requests (id),
    conversation_message_id bigint      REFERENCES messages (id),
    email_id                bigint      REFERENCES emails (id),
    thread_by               text        NOT NULL DEFAULT '' CHECK (thread_by IN ('', 'message_id', 'plus_address', 'subject')),
    -- The request a letter named but could not join, and why.
    named_request_id        bigint      REFERENCES requests (id),
    named_why               text        NOT NULL DEFAULT '' CHECK (named_why IN ('', 'other_sender', 'closed', 'unconfirmed')),
    suggested_type          text        NOT NULL DEFAULT '',
    suggestion_confidence   real        NOT NULL DEFAULT 0,
    suggestion_cues         text[]      NOT NULL DEFAULT '{}',
    -- The letter's References (oldest first): an answer in its thread names them.
    refs                    text[]      NOT NULL DEFAULT '{}',
    raw                     bytea,
    view                    bytea,
    raw_deleted_at          timestamptz
);
CREATE INDEX letters_request_idx ON letters (request_id, id) WHERE request_id IS NOT NULL;
CREATE INDEX letters_message_id_idx ON letters (message_id) WHERE message_id <> '';
CREATE INDEX letters_named_idx ON letters (named_request_id) WHERE named_request_id IS NOT NULL;
CREATE INDEX letters_unlinked_idx ON letters (stored_at) WHERE request_id IS NULL;

-- +goose Down
DROP TABLE letters;
DROP INDEX emails_bounced_request_idx;
ALTER TABLE emails DROP COLUMN bounced_at, DROP COLUMN bounce_status;
DROP INDEX requests_open_due_idx;
CREATE INDEX requests_open_due_idx ON requests (due_at, id)
    WHERE status IN ('unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_open_assignee_due_idx;
CREATE INDEX requests_open_assignee_due_idx ON requests (assignee_id, due_at, id) INCLUDE (status, type)
    WHERE status IN ('unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_email_index_idx;
CREATE INDEX requests_email_index_idx ON requests (email_index, type)
    WHERE status IN ('unverified', 'new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_remind_due_idx;
CREATE INDEX requests_remind_due_idx ON requests (due_at, id) INCLUDE (reference, type, assignee_id)
    WHERE status IN ('new', 'in_progress', 'awaiting_requester');
DROP INDEX requests_closed_due_idx;
CREATE INDEX requests_closed_due_idx ON requests (due_at, id) INCLUDE (status, type, assignee_id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired');
DROP INDEX requests_closed_at_idx;
CREATE INDEX requests_closed_at_idx ON requests (closed_at, id)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired');
DROP INDEX requests_closed_figures_idx;
CREATE INDEX requests_closed_figures_idx ON requests (closed_at) INCLUDE (status, type, received_at, due_at)
    WHERE status IN ('completed', 'rejected', 'withdrawn', 'expired');
DROP INDEX requests_unpurged_closed_idx;
CREATE INDEX requests_unpurged_closed_idx ON requests (closed_at, id)
    WHERE purged_at IS NULL AND status IN ('completed', 'rejected', 'withdrawn', 'expired');
ALTER TABLE requests DROP COLUMN merged_into;
ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN ('unverified', 'new',
    'in_progress', 'awaiting_requester', 'completed', 'rejected', 'withdrawn', 'expired'));
