-- PostgreSQL twin of migrations/0015_workers.sql.
ALTER TABLE inbox ADD COLUMN claimed_by text COLLATE "C";
ALTER TABLE inbox ADD COLUMN claimed_until text COLLATE "C";
CREATE INDEX inbox_user ON inbox (channel, address, id);

CREATE TABLE login_throttle (
    client       text COLLATE "C" PRIMARY KEY,
    failures     bigint NOT NULL DEFAULT 0,
    last_at      double precision NOT NULL,
    until        double precision,
    trying_until double precision
);
CREATE INDEX login_throttle_last ON login_throttle (last_at);

CREATE TABLE shared_secrets (
    name  text COLLATE "C" PRIMARY KEY,
    value text COLLATE "C" NOT NULL
);

-- PostgreSQL only: a message queued by any worker (a turn's replies, a broadcast from the
-- command line, a retry) wakes the worker that holds that channel's sender role at once, by
-- NOTIFY (delivered at COMMIT; repeats in one transaction are sent once). SQLite has one
-- process, whose sender is woken in memory.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'queued' THEN
        PERFORM pg_notify('clubspeak_outbox', NEW.channel);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify_insert AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_notify();
CREATE TRIGGER outbox_notify_update AFTER UPDATE OF status ON outbox FOR EACH ROW
    EXECUTE FUNCTION outbox_notify();
