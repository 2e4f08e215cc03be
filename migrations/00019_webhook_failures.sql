-- +goose Up
-- A failed webhook delivery used to record the transport's own text
-- ("dial tcp 10.0.0.5:5432: connect: connection refused"), shown to admins:
-- told apart, such texts map which internal ports answer. Deliveries now
-- record a failure code that the admin page puts into words; the texts
-- already stored become the code they amount to.
UPDATE webhook_deliveries SET last_error = CASE
    WHEN last_error LIKE 'answered %' THEN 'status'
    WHEN last_error LIKE 'bad endpoint URL%' THEN 'bad_url'
    WHEN last_error ILIKE '%timeout%' OR last_error ILIKE '%deadline exceeded%' THEN 'timeout'
    WHEN last_error ILIKE '%no such host%' OR last_error ILIKE '%lookup %' THEN 'dns'
    WHEN last_error ILIKE '%certificate%' OR last_error ILIKE '%tls%' THEN 'tls'
    ELSE 'connect'
END
WHERE last_error <> '';

-- +goose Down
-- The transport's texts are gone for good, on purpose; the codes stay.
SELECT 1;
