-- PostgreSQL twin of migrations/0015_workers.sql.
ALTER TABLE inbox ADD COLUMN claimed_by text COLLATE "C";
ALTER TABLE inbox ADD COLUMN claimed_until text COLLATE "C";
CREATE INDEX inbox_user ON inbox (channel, address, id);
