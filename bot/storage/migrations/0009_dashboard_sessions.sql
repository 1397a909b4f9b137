-- Dashboard sessions live on the server, so logging out ends one for good (even across a
-- restart) and resetting a password ends that login's sessions.
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,            -- sha256 of the cookie's token: a copy of the database opens no session
    account_id INTEGER NOT NULL REFERENCES dashboard_accounts (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL                -- expired rows are pruned at each login
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_account ON dashboard_sessions (account_id);
