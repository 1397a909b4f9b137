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
    verified_at    TEXT,
    -- The queue's order, kept by the triggers below so that the first page of the queue is an
    -- index walk however many reports there are: danger, then urgency, then trusted reporters.
    rank           INTEGER NOT NULL DEFAULT 0,
    trusted        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reports_queue ON reports (rank DESC, trusted DESC, created_at DESC);
CREATE INDEX reports_created ON reports (created_at);
CREATE INDEX reports_area ON reports (country, area1, type, created_at);
CREATE INDEX reports_reporter ON reports (reporter_id);

CREATE TRIGGER reports_rank_insert AFTER INSERT ON reports
BEGIN
    UPDATE reports SET
        rank = NEW.danger * 8 + CASE NEW.urgency WHEN 'critical' THEN 4 WHEN 'high' THEN 3
            WHEN 'medium' THEN 2 WHEN 'low' THEN 0 ELSE 1 END,
        trusted = COALESCE((SELECT trusted FROM reporters WHERE id = NEW.reporter_id), 0)
    WHERE id = NEW.id;
END;
CREATE TRIGGER reports_rank_update AFTER UPDATE OF danger, urgency ON reports
BEGIN
    UPDATE reports SET rank = NEW.danger * 8 + CASE NEW.urgency WHEN 'critical' THEN 4 WHEN 'high' THEN 3
        WHEN 'medium' THEN 2 WHEN 'low' THEN 0 ELSE 1 END
    WHERE id = NEW.id;
END;
CREATE TRIGGER reporters_trusted AFTER UPDATE OF trusted ON reporters
BEGIN
    UPDATE reports SET trusted = NEW.trusted WHERE reporter_id = NEW.id;
END;

-- Running totals for the overview and the queue's counts, kept by triggers: the overview reads
-- a few thousand rows at most, not every report. Types and areas never change after filing.
CREATE TABLE report_status_counts (
    country TEXT NOT NULL,
    area1   TEXT NOT NULL,
    status  TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (country, area1, status)
) WITHOUT ROWID;
-- Per week (its Monday), area and type: reports, verified, and how long verification took, in
-- buckets (h0: under 1 hour, h1: 1-3, h2: 3-6, h3: 6-12, h4: 12-24, h5: 24-48, h6: 48-96,
-- h7: 4-7 days, h8: 7-14 days, h9: longer).
CREATE TABLE report_weekly (
    week     TEXT NOT NULL,
    country  TEXT NOT NULL,
    area1    TEXT NOT NULL,
    type     TEXT NOT NULL,
    n        INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    h0 INTEGER NOT NULL DEFAULT 0, h1 INTEGER NOT NULL DEFAULT 0, h2 INTEGER NOT NULL DEFAULT 0,
    h3 INTEGER NOT NULL DEFAULT 0, h4 INTEGER NOT NULL DEFAULT 0, h5 INTEGER NOT NULL DEFAULT 0,
    h6 INTEGER NOT NULL DEFAULT 0, h7 INTEGER NOT NULL DEFAULT 0, h8 INTEGER NOT NULL DEFAULT 0,
    h9 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (week, country, area1, type)
) WITHOUT ROWID;

CREATE TRIGGER reports_count_insert AFTER INSERT ON reports
BEGIN
    INSERT INTO report_status_counts (country, area1, status, n) VALUES (NEW.country, NEW.area1, NEW.status, 1)
        ON CONFLICT (country, area1, status) DO UPDATE SET n = n + 1;
    INSERT INTO report_weekly (week, country, area1, type, n)
        VALUES (date(NEW.created_at, '-6 days', 'weekday 1'), NEW.country, NEW.area1, NEW.type, 1)
        ON CONFLICT (week, country, area1, type) DO UPDATE SET n = n + 1;
    -- A report copied in already verified (`db copy`, a bench) counts as verified at once.
    UPDATE report_weekly SET verified = verified + 1,
        h0 = h0 + (b.h < 1), h1 = h1 + (b.h >= 1 AND b.h < 3), h2 = h2 + (b.h >= 3 AND b.h < 6),
        h3 = h3 + (b.h >= 6 AND b.h < 12), h4 = h4 + (b.h >= 12 AND b.h < 24),
        h5 = h5 + (b.h >= 24 AND b.h < 48), h6 = h6 + (b.h >= 48 AND b.h < 96),
        h7 = h7 + (b.h >= 96 AND b.h < 168), h8 = h8 + (b.h >= 168 AND b.h < 336), h9 = h9 + (b.h >= 336)
    FROM (SELECT (julianday(NEW.verified_at) - julianday(NEW.created_at)) * 24 AS h) AS b
    WHERE NEW.verified_at IS NOT NULL AND week = date(NEW.created_at, '-6 days', 'weekday 1')
        AND country = NEW.country AND area1 = NEW.area1 AND type = NEW.type;
END;
CREATE TRIGGER reports_count_status AFTER UPDATE OF status ON reports WHEN NEW.status != OLD.status
BEGIN
    UPDATE report_status_counts SET n = n - 1
        WHERE country = OLD.country AND area1 = OLD.area1 AND status = OLD.status;
    INSERT INTO report_status_counts (country, area1, status, n) VALUES (NEW.country, NEW.area1, NEW.status, 1)
        ON CONFLICT (country, area1, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER reports_count_verified
AFTER UPDATE OF verified_at ON reports WHEN OLD.verified_at IS NULL AND NEW.verified_at IS NOT NULL
BEGIN
    UPDATE report_weekly SET verified = verified + 1,
        h0 = h0 + (b.h < 1), h1 = h1 + (b.h >= 1 AND b.h < 3), h2 = h2 + (b.h >= 3 AND b.h < 6),
        h3 = h3 + (b.h >= 6 AND b.h < 12), h4 = h4 + (b.h >= 12 AND b.h < 24),
        h5 = h5 + (b.h >= 24 AND b.h < 48), h6 = h6 + (b.h >= 48 AND b.h < 96),
        h7 = h7 + (b.h >= 96 AND b.h < 168), h8 = h8 + (b.h >= 168 AND b.h < 336), h9 = h9 + (b.h >= 336)
    FROM (SELECT (julianday(NEW.verified_at) - julianday(NEW.created_at)) * 24 AS h) AS b
    WHERE week = date(NEW.created_at, '-6 days', 'weekday 1') AND country = NEW.country
        AND area1 = NEW.area1 AND type = NEW.type;
END;

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
