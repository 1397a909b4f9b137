-- The staff dashboard without reading every event's JSON or every message (bot/stats/metrics.py).
--
-- 1. The figures the dashboard reads from an event's data, as columns. VIRTUAL: computed from
--    `data` when read, so nothing that writes events changes and no row is rewritten; the partial
--    indexes below keep them, for the one type of event each is about, so a metric reads an index
--    in order and never the JSON. No type: a column holds exactly what json_extract returns.
ALTER TABLE events ADD COLUMN correct GENERATED ALWAYS AS (json_extract(data, '$.correct')) VIRTUAL;
ALTER TABLE events ADD COLUMN retry GENERATED ALWAYS AS (json_extract(data, '$.retry')) VIRTUAL;
ALTER TABLE events ADD COLUMN score GENERATED ALWAYS AS (json_extract(data, '$.score')) VIRTUAL;
ALTER TABLE events ADD COLUMN max_score GENERATED ALWAYS AS (json_extract(data, '$.max_score')) VIRTUAL;
ALTER TABLE events ADD COLUMN passed GENERATED ALWAYS AS (json_extract(data, '$.passed')) VIRTUAL;
ALTER TABLE events ADD COLUMN badge GENERATED ALWAYS AS (json_extract(data, '$.badge')) VIRTUAL;
-- Each carries the columns every filter reads (time, learner, channel, language), so that a filtered
-- dashboard (a club, a district, some dates) reads these indexes alone, as the unfiltered one does.
-- The hardest questions: first answers per question, and how many were right.
CREATE INDEX events_quiz_answer ON events (dialog_id, step_id, retry, correct, at, actor, channel, language)
    WHERE type = 'quiz_answer';
-- Quiz scores: per quiz, the completions that were marked (passed is not NULL) with their scores.
CREATE INDEX events_module_completed
    ON events (dialog_id, passed, max_score, score, at, actor, channel, language)
    WHERE type = 'module_completed';
-- Badges: learners per badge.
CREATE INDEX events_badge ON events (badge, actor, at, channel, language) WHERE type = 'badge';

-- 2. Who was active on which day: one row per (UTC day, learner, channel, language) with at least
--    one message that day, and the times of the first and the last (a million events make about
--    60,000 rows). Active learners per day, week and month count these rows instead of every
--    message; retention ("active again 7 to 14 days after signing up") looks up a learner's days,
--    and their first and last times on the two days at the edges, instead of their messages.
--    The same pseudonym as the events and nothing more: an erasure leaves these as it leaves the
--    events, and the club, district and age filters still go through users and memberships.
--    A NULL channel or language (not chosen yet) is ''.
CREATE TABLE daily_active (
    day      TEXT NOT NULL,   -- substr(events.at, 1, 10)
    actor    TEXT NOT NULL,
    channel  TEXT NOT NULL,
    language TEXT NOT NULL,
    first_at TEXT NOT NULL,   -- MIN(events.at) of these messages
    last_at  TEXT NOT NULL,   -- MAX(events.at)
    PRIMARY KEY (day, actor, channel, language)
) WITHOUT ROWID;
CREATE INDEX daily_active_actor ON daily_active (actor, day);

-- 3. Who was active in which ISO week and which month, kept from the days (one row per week or
--    month a learner wrote in), so each period's count reads its own rows in order. A day's first
--    message adds its week and month; a day that goes takes them along when it was their last.
--    The week is written as bot/stats/metrics.py's _ISO_WEEK writes it ("2026-W05").
CREATE TABLE weekly_active (
    week     TEXT NOT NULL,
    actor    TEXT NOT NULL,
    channel  TEXT NOT NULL,
    language TEXT NOT NULL,
    PRIMARY KEY (week, actor, channel, language)
) WITHOUT ROWID;
CREATE TABLE monthly_active (
    month    TEXT NOT NULL,   -- substr(day, 1, 7)
    actor    TEXT NOT NULL,
    channel  TEXT NOT NULL,
    language TEXT NOT NULL,
    PRIMARY KEY (month, actor, channel, language)
) WITHOUT ROWID;

CREATE TRIGGER daily_active_periods_insert AFTER INSERT ON daily_active BEGIN
    INSERT OR IGNORE INTO weekly_active (week, actor, channel, language)
    VALUES (
        -- The ISO week's year and number are those of its Thursday.
        strftime('%Y', date(NEW.day, '-3 days', 'weekday 4')) || '-W'
            || printf('%02d', (strftime('%j', date(NEW.day, '-3 days', 'weekday 4')) - 1) / 7 + 1),
        NEW.actor, NEW.channel, NEW.language
    );
    INSERT OR IGNORE INTO monthly_active (month, actor, channel, language)
    VALUES (substr(NEW.day, 1, 7), NEW.actor, NEW.channel, NEW.language);
END;

CREATE TRIGGER daily_active_periods_delete AFTER DELETE ON daily_active BEGIN
    DELETE FROM weekly_active
    WHERE week = strftime('%Y', date(OLD.day, '-3 days', 'weekday 4')) || '-W'
            || printf('%02d', (strftime('%j', date(OLD.day, '-3 days', 'weekday 4')) - 1) / 7 + 1)
        AND actor = OLD.actor AND channel = OLD.channel AND language = OLD.language
        AND NOT EXISTS (
            -- Another day of the same week: the same Thursday.
            SELECT 1 FROM daily_active d
            WHERE d.actor = OLD.actor
                AND d.day >= date(OLD.day, '-6 days') AND d.day <= date(OLD.day, '+6 days')
                AND date(d.day, '-3 days', 'weekday 4') = date(OLD.day, '-3 days', 'weekday 4')
                AND d.channel = OLD.channel AND d.language = OLD.language
        );
    DELETE FROM monthly_active
    WHERE month = substr(OLD.day, 1, 7) AND actor = OLD.actor
        AND channel = OLD.channel AND language = OLD.language
        AND NOT EXISTS (
            SELECT 1 FROM daily_active d
            WHERE d.actor = OLD.actor
                AND d.day >= substr(OLD.day, 1, 7) AND d.day < substr(OLD.day, 1, 7) || '~'
                AND d.channel = OLD.channel AND d.language = OLD.language
        );
END;

-- The days, weeks and months of the events already there.
INSERT INTO daily_active (day, actor, channel, language, first_at, last_at)
SELECT substr(at, 1, 10), actor, IFNULL(channel, ''), IFNULL(language, ''), MIN(at), MAX(at)
FROM events WHERE type = 'message_in' AND actor IS NOT NULL
GROUP BY 1, 2, 3, 4;

-- Kept by the database itself, whatever writes the events (the engine, the demo data, a test).
-- A message adds its day, or moves that day's first or last time.
CREATE TRIGGER daily_active_insert AFTER INSERT ON events
WHEN NEW.type = 'message_in' AND NEW.actor IS NOT NULL BEGIN
    INSERT INTO daily_active (day, actor, channel, language, first_at, last_at)
    VALUES (
        substr(NEW.at, 1, 10), NEW.actor, IFNULL(NEW.channel, ''), IFNULL(NEW.language, ''), NEW.at, NEW.at
    )
    ON CONFLICT DO UPDATE SET
        first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at);
END;

-- A deleted message (`demo-data --clear`) takes its day along when it was the last of it, and
-- otherwise gives the day the first and last times of the messages left. (The messages of a day:
-- at >= day AND at < day || '~', a range of the (actor, type, at) index.)
CREATE TRIGGER daily_active_delete AFTER DELETE ON events
WHEN OLD.type = 'message_in' AND OLD.actor IS NOT NULL BEGIN
    DELETE FROM daily_active
    WHERE day = substr(OLD.at, 1, 10) AND actor = OLD.actor
        AND channel = IFNULL(OLD.channel, '') AND language = IFNULL(OLD.language, '')
        AND NOT EXISTS (
            SELECT 1 FROM events x
            WHERE x.actor = OLD.actor AND x.type = 'message_in'
                AND x.at >= substr(OLD.at, 1, 10) AND x.at < substr(OLD.at, 1, 10) || '~'
                AND substr(x.at, 1, 10) = substr(OLD.at, 1, 10)
                AND IFNULL(x.channel, '') = IFNULL(OLD.channel, '')
                AND IFNULL(x.language, '') = IFNULL(OLD.language, '')
        );
    UPDATE daily_active SET (first_at, last_at) = (
            SELECT MIN(x.at), MAX(x.at) FROM events x
            WHERE x.actor = OLD.actor AND x.type = 'message_in'
                AND x.at >= substr(OLD.at, 1, 10) AND x.at < substr(OLD.at, 1, 10) || '~'
                AND substr(x.at, 1, 10) = substr(OLD.at, 1, 10)
                AND IFNULL(x.channel, '') = IFNULL(OLD.channel, '')
                AND IFNULL(x.language, '') = IFNULL(OLD.language, '')
        )
    WHERE day = substr(OLD.at, 1, 10) AND actor = OLD.actor
        AND channel = IFNULL(OLD.channel, '') AND language = IFNULL(OLD.language, '')
        AND OLD.at IN (first_at, last_at);
END;

-- Events are not edited; should one ever be, the old message is taken out as a delete would, and
-- the new one put in as an insert would.
CREATE TRIGGER daily_active_update AFTER UPDATE OF at, actor, type, channel, language ON events BEGIN
    DELETE FROM daily_active
    WHERE OLD.type = 'message_in' AND day = substr(OLD.at, 1, 10) AND actor = OLD.actor
        AND channel = IFNULL(OLD.channel, '') AND language = IFNULL(OLD.language, '')
        AND NOT EXISTS (
            SELECT 1 FROM events x
            WHERE x.actor = OLD.actor AND x.type = 'message_in'
                AND x.at >= substr(OLD.at, 1, 10) AND x.at < substr(OLD.at, 1, 10) || '~'
                AND substr(x.at, 1, 10) = substr(OLD.at, 1, 10)
                AND IFNULL(x.channel, '') = IFNULL(OLD.channel, '')
                AND IFNULL(x.language, '') = IFNULL(OLD.language, '')
        );
    UPDATE daily_active SET (first_at, last_at) = (
            SELECT MIN(x.at), MAX(x.at) FROM events x
            WHERE x.actor = OLD.actor AND x.type = 'message_in'
                AND x.at >= substr(OLD.at, 1, 10) AND x.at < substr(OLD.at, 1, 10) || '~'
                AND substr(x.at, 1, 10) = substr(OLD.at, 1, 10)
                AND IFNULL(x.channel, '') = IFNULL(OLD.channel, '')
                AND IFNULL(x.language, '') = IFNULL(OLD.language, '')
        )
    WHERE OLD.type = 'message_in' AND day = substr(OLD.at, 1, 10) AND actor = OLD.actor
        AND channel = IFNULL(OLD.channel, '') AND language = IFNULL(OLD.language, '')
        AND OLD.at IN (first_at, last_at);
    INSERT INTO daily_active (day, actor, channel, language, first_at, last_at)
    SELECT substr(NEW.at, 1, 10), NEW.actor, IFNULL(NEW.channel, ''), IFNULL(NEW.language, ''), NEW.at, NEW.at
    WHERE NEW.type = 'message_in' AND NEW.actor IS NOT NULL
    ON CONFLICT DO UPDATE SET
        first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at);
END;
