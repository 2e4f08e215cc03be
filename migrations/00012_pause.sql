-- +goose Up
-- When the policy stops the clock while staff wait for the requester, the
-- moment it stopped; the due date moves by the paused days on resuming.
ALTER TABLE requests ADD COLUMN paused_at timestamptz;

-- +goose Down
ALTER TABLE requests DROP COLUMN paused_at;
