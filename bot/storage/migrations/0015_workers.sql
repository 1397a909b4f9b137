-- Several workers on one database (#18). An inbox row is claimed by the worker that handles it,
-- for a lease: another worker skips the user while the lease runs, so one user's messages are
-- handled by one worker at a time and in order; a dead worker's lease runs out and the rows
-- are taken over. SQLite has one process, which claims nothing, but keeps the same columns.
ALTER TABLE inbox ADD COLUMN claimed_by TEXT;     -- the worker's id (host:pid:token)
ALTER TABLE inbox ADD COLUMN claimed_until TEXT;  -- UTC ISO: the lease ends
CREATE INDEX inbox_user ON inbox (channel, address, id);
