-- PostgreSQL twin of migrations/0008_retention.sql.
ALTER TABLE invitations ADD COLUMN delivery text COLLATE "C";
CREATE INDEX invitations_outbox ON invitations (outbox_id) WHERE outbox_id IS NOT NULL;

-- Whatever deletes an outbox row (pruning, retention, an erasure, a cascade from users) rolls its
-- status up into the invitation first, and unlinks it.
CREATE FUNCTION outbox_delivery_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE invitations SET delivery = OLD.status, outbox_id = NULL WHERE outbox_id = OLD.id;
    RETURN OLD;  -- a BEFORE DELETE trigger that returns NULL would cancel the delete
END;
$$;
CREATE TRIGGER outbox_delivery_rollup BEFORE DELETE ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_delivery_rollup();

DROP INDEX IF EXISTS events_at;
