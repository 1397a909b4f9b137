-- Spaced recall (#14): a question a learner missed in a quiz comes back 2 and 7 days later, once
-- they said yes to it at the end of the quiz. One row per question and interval; the recall
-- sender fires the due ones (never between 21:00 and 07:00 Kigali time), one at a time per learner.
CREATE TABLE recall_items (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    dialog_id   TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    days        INTEGER NOT NULL,                  -- 2 | 7: days after the quiz
    due_at      TEXT NOT NULL,                     -- UTC ISO, already moved out of quiet hours
    status      TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | answered | expired | skipped | cancelled
    shown       TEXT,                              -- question | template (WhatsApp outside 24 h)
    sent_at     TEXT,
    answered_at TEXT,
    correct     INTEGER,                           -- 1 | 0 once answered
    created_at  TEXT NOT NULL
);
CREATE INDEX recall_items_due ON recall_items (status, due_at);
CREATE INDEX recall_items_user ON recall_items (user_id, status);
-- A learner who said "stop recall" (enabled 0) is not asked again; "start recall" sets 1.
CREATE TABLE recall_prefs (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    enabled    INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;  -- a plain key, not a rowid alias: the same table as PostgreSQL's
