-- Early warning: citizen reporters file reports; a committee reviews, verifies and refers them.
-- A committee member only ever sees a reporter's code; the link from code to person is here,
-- and only an admin can follow it (every lookup is written to reporter_lookups).

CREATE TABLE reporters (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,                 -- R-7K2Q
    -- Erasing the user, or `forget`, removes the row: their reports stay, with no reporter.
    user_id    INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    trusted    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- Chat roles for early warning, beside a user's organisation role (learner, staff, admin).
CREATE TABLE report_roles (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('reporter', 'committee')),
    scope      TEXT NOT NULL DEFAULT '*',            -- committee: '*', 'BI', 'RW/Gasabo', comma-separated
    on_duty    INTEGER NOT NULL DEFAULT 0,           -- alerted at once about danger and critical reports
    granted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE reports (
    id             INTEGER PRIMARY KEY,
    ref            TEXT NOT NULL UNIQUE,             -- EW-2026-0042
    reporter_id    INTEGER REFERENCES reporters (id) ON DELETE SET NULL,
    type           TEXT NOT NULL,
    happened_on    TEXT NOT NULL,                    -- a date, never a time of day
    ongoing        INTEGER NOT NULL DEFAULT 0,       -- "happening now"
    country        TEXT NOT NULL,
    area1          TEXT NOT NULL,                    -- district / province
    area2          TEXT,                             -- sector / commune
    text           TEXT NOT NULL,                    -- as written: admins only
    text_masked    TEXT NOT NULL,                    -- phone numbers and e-mails masked: reviewers read this
    people         TEXT NOT NULL,
    reporter_safe  INTEGER NOT NULL DEFAULT 1,
    danger         INTEGER NOT NULL DEFAULT 0,       -- immediate danger, from the reporter's answer or words
    committee_only INTEGER NOT NULL DEFAULT 0,       -- the reporter asked: never shared beyond the committee
    language       TEXT,
    status         TEXT NOT NULL DEFAULT 'received' CHECK (
        status IN ('received', 'in_review', 'verified', 'unverifiable', 'referred', 'closed')
    ),
    urgency        TEXT CHECK (urgency IN ('low', 'medium', 'high', 'critical')),
    checklist      TEXT NOT NULL DEFAULT '[]',
    duplicate_of   INTEGER REFERENCES reports (id),
    claimed_by     TEXT,
    claimed_until  TEXT,
    conversation   TEXT,                             -- the chat's message range, for a quick exit
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    verified_at    TEXT
);
CREATE INDEX reports_created ON reports (created_at);
CREATE INDEX reports_status ON reports (status, created_at);
CREATE INDEX reports_area ON reports (country, area1, type, created_at);
CREATE INDEX reports_reporter ON reports (reporter_id);

-- Photos stay where the channel keeps them (a Telegram file_id, a Twilio media URL): shown to
-- reviewers through the dashboard, never forwarded.
CREATE TABLE report_photos (
    id        INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    channel   TEXT NOT NULL,
    ref       TEXT NOT NULL
);
CREATE INDEX report_photos_report ON report_photos (report_id);

-- The audit trail: every change to a report, by whom and when. It cannot be edited.
CREATE TABLE report_events (
    id        INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id),
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    type      TEXT NOT NULL,
    data      TEXT
);
CREATE INDEX report_events_report ON report_events (report_id, id);
CREATE TRIGGER report_events_no_update BEFORE UPDATE ON report_events
BEGIN SELECT RAISE(ABORT, 'the report audit trail cannot be edited'); END;
CREATE TRIGGER report_events_no_delete BEFORE DELETE ON report_events
BEGIN SELECT RAISE(ABORT, 'the report audit trail cannot be edited'); END;

-- Every time an admin resolved a reporter code to a person.
CREATE TABLE reporter_lookups (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    admin  TEXT NOT NULL,
    code   TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TRIGGER reporter_lookups_no_update BEFORE UPDATE ON reporter_lookups
BEGIN SELECT RAISE(ABORT, 'the lookup log cannot be edited'); END;
CREATE TRIGGER reporter_lookups_no_delete BEFORE DELETE ON reporter_lookups
BEGIN SELECT RAISE(ABORT, 'the lookup log cannot be edited'); END;

-- Dashboard logins for the committee: a role and the areas it covers.
ALTER TABLE dashboard_accounts ADD COLUMN reports_role TEXT CHECK (reports_role IN ('committee', 'admin'));
ALTER TABLE dashboard_accounts ADD COLUMN reports_scope TEXT NOT NULL DEFAULT '*';
