-- Several workers on one database (#18). An inbox row is claimed by the worker that handles it,
-- for a lease: another worker skips the user while the lease runs, so one user's messages are
-- handled by one worker at a time and in order; a dead worker's lease runs out and the rows
-- are taken over. SQLite has one process, which claims nothing, but keeps the same columns.
ALTER TABLE inbox ADD COLUMN claimed_by TEXT;     -- the worker's id (host:pid:token)
ALTER TABLE inbox ADD COLUMN claimed_until TEXT;  -- UTC ISO: the lease ends
CREATE INDEX inbox_user ON inbox (channel, address, id);

-- Failed dashboard logins per client address, in the database so that the limit holds across
-- workers and restarts. Times are wall-clock seconds (UNIX time).
CREATE TABLE login_throttle (
    client       TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0,
    last_at      REAL NOT NULL,   -- the latest failure (or, with no failure yet, the attempt)
    until        REAL,            -- refused before this
    trying_until REAL             -- an attempt in progress: one at a time per client
) WITHOUT ROWID;  -- a plain key, as PostgreSQL's
CREATE INDEX login_throttle_last ON login_throttle (last_at);

-- Secrets the workers share when the operator set none: the key that signs dashboard
-- sessions (DASHBOARD_SECRET), so that a login holds on every worker and across restarts.
CREATE TABLE shared_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
