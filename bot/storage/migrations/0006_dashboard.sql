-- Logins for the web dashboard (staff see everything; a facilitator login sees its clubs).
CREATE TABLE dashboard_accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,             -- scrypt$n$r$p$salt$hash
    club_ids      TEXT,                      -- JSON list for a facilitator login; NULL for staff
    created_at    TEXT NOT NULL
);
