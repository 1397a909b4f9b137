-- Outbox rows are pruned after OUTBOX_KEEP_DAYS (bot.maintenance); an invitation keeps the
-- delivery status of its message, so session figures read the same before and after.
ALTER TABLE invitations ADD COLUMN delivery TEXT;
CREATE INDEX invitations_outbox ON invitations (outbox_id) WHERE outbox_id IS NOT NULL;
-- Whatever deletes an outbox row (pruning, retention, an erasure) rolls its status up first,
-- and unlinks it: ids of deleted rows can be given out again.
CREATE TRIGGER outbox_delivery_rollup BEFORE DELETE ON outbox BEGIN
    UPDATE invitations SET delivery = OLD.status, outbox_id = NULL WHERE outbox_id = OLD.id;
END;
-- No query reads events by time alone: (type, at, actor) and (actor, type, at) serve them all,
-- and the export scans in id order. One index less to write for every event.
DROP INDEX IF EXISTS events_at;
