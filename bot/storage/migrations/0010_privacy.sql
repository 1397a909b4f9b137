-- Telegram's file_id for a certificate it has received: the picture (which carries the learner's
-- name) is then deleted from our disk, and sent again by this id if it ever must be.
ALTER TABLE certificates ADD COLUMN file_id TEXT;
