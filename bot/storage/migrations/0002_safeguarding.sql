-- Consent (Law Nº 058/2021): when it was given or withdrawn. `users.consent` is one of
-- NULL (not asked yet), given, declined, guardian_pending, guardian_given.
ALTER TABLE users ADD COLUMN consent_at TEXT;

-- A person must follow up. `excerpt` is the message that raised it, for the
-- safeguarding officer only; it is erased with the learner's data.
CREATE TABLE escalations (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    excerpt    TEXT,
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at TEXT NOT NULL,
    closed_at  TEXT,
    note       TEXT
);
CREATE INDEX escalations_status ON escalations (status, created_at);
