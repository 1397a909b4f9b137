-- PostgreSQL twin of migrations/0009_dashboard_sessions.sql.
CREATE TABLE dashboard_sessions (
    token_hash text COLLATE "C" PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES dashboard_accounts (id) ON DELETE CASCADE,
    created_at text COLLATE "C" NOT NULL,
    expires_at text COLLATE "C" NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_account ON dashboard_sessions (account_id);
