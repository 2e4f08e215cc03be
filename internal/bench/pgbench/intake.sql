-- pgbench script of scripts/bench: the intake transaction issued directly,
-- without any application in between (the database's limit). The same rows
-- as the portal and internal/bench/bare: the request, its status link and
-- confirmation, its "received" event, two emails and the River job that
-- delivers both, in one transaction.
--
-- Variables given with -D (scripts/bench copies them, as hex, from the newest
-- portal rows: sealed values are bytes the database only stores): ack_sealed,
-- ack_secrets, notice_sealed, personal, email_index, and search_index (a
-- bytea[] literal). Run with -M prepared, as pgx prepares its statements.
\set type_n random(0, 6)
BEGIN;
INSERT INTO requests (reference, type, status, locale, received_at,
    due_at, deadline_rule, deadline_legal_ref, deadline_basis, personal, search_index, email_index,
    on_behalf, relationship, access_scope, duplicate_of, updated_at, confirmed_at)
VALUES ('PB-' || substr(md5(gen_random_uuid()::text), 1, 14),
    (ARRAY['access','rectification','erasure','restriction','objection','consent_withdrawal','portability'])[:type_n + 1],
    'unverified', 'ru', now(), now() + interval '30 days', 'default.access', '', 'received',
    decode(:personal, 'hex'), :search_index::bytea[], decode(:email_index, 'hex'),
    false, '', 'copy', NULL, now(), NULL)
RETURNING id AS rid \gset
INSERT INTO status_links (token_hash, request_id, created_at)
VALUES (sha256(gen_random_uuid()::text::bytea), :rid, now());
INSERT INTO confirmations (request_id, token_hash, expires_at)
VALUES (:rid, sha256(gen_random_uuid()::text::bytea), now() + interval '7 days');
INSERT INTO events (request_id, kind, actor, actor_id, from_status, to_status, data, created_at)
VALUES (:rid, 'received', 'requester', NULL, NULL, 'unverified',
    jsonb_build_object('type', 'access', 'rule', 'default.access', 'due_at', now() + interval '30 days', 'proof_files', 0), now())
RETURNING id AS eid \gset
INSERT INTO emails (request_id, event_id, kind, locale, message_id, sealed, secrets, created_at)
VALUES (:rid, :eid, 'acknowledgement', 'ru', gen_random_uuid()::text || '@127.0.0.1',
    decode(:ack_sealed, 'hex'), decode(:ack_secrets, 'hex'), now())
RETURNING id AS ack_id \gset
INSERT INTO emails (request_id, event_id, kind, locale, message_id, sealed, secrets, created_at)
VALUES (:rid, :eid, 'staff_new', 'ru', gen_random_uuid()::text || '@127.0.0.1',
    decode(:notice_sealed, 'hex'), NULL, now())
RETURNING id AS notice_id \gset
INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags)
VALUES (jsonb_build_object('email_ids', jsonb_build_array(:ack_id::bigint, :notice_id::bigint)), now(), 'deliver_email', 500, '{}', 1, 'email', now(), 'available', '{}');
COMMIT;
