-- PostgreSQL twin of migrations/0012_stats_rollups.sql.
--
-- 1. The figures the dashboard reads from an event's data, as columns. SQLite computes its
--    VIRTUAL columns when read; PostgreSQL 15 has STORED generated columns only, computed once
--    when the event is written (events are not edited, so that is once). A column needs a type
--    here: json_extract gives 1/0 for true/false and the number for a number, so the flags are
--    bigint (SUM(correct) counts the right answers on both) and the scores numeric (exact for
--    any JSON number). `data` is cast to jsonb in the expression: an event whose data is not
--    JSON is refused here, where SQLite would fail only when the column is read.
-- PL/pgSQL: it keeps its prepared expressions for the session, where a SQL function, or the same
-- CASE written in the column, is prepared again for every INSERT (measured: +3 us an event, against
-- +26 us inline and +70 us as a SQL function).
CREATE FUNCTION json_flag(doc jsonb, key text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN CASE jsonb_typeof(doc -> key)
        WHEN 'boolean' THEN (doc ->> key)::boolean::int
        WHEN 'number' THEN (doc ->> key)::numeric::bigint
    END;
END;
$$;
CREATE FUNCTION json_number(doc jsonb, key text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN CASE jsonb_typeof(doc -> key)
        WHEN 'number' THEN (doc ->> key)::numeric
        WHEN 'boolean' THEN (doc ->> key)::boolean::int
    END;
END;
$$;
CREATE FUNCTION json_text(doc jsonb, key text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN doc ->> key;
END;
$$;
ALTER TABLE events
    ADD COLUMN correct bigint GENERATED ALWAYS AS (json_flag(data::jsonb, 'correct')) STORED,
    ADD COLUMN retry bigint GENERATED ALWAYS AS (json_flag(data::jsonb, 'retry')) STORED,
    ADD COLUMN score numeric GENERATED ALWAYS AS (json_number(data::jsonb, 'score')) STORED,
    ADD COLUMN max_score numeric GENERATED ALWAYS AS (json_number(data::jsonb, 'max_score')) STORED,
    ADD COLUMN passed bigint GENERATED ALWAYS AS (json_flag(data::jsonb, 'passed')) STORED,
    ADD COLUMN badge text COLLATE "C" GENERATED ALWAYS AS (json_text(data::jsonb, 'badge')) STORED;
CREATE INDEX events_quiz_answer ON events (dialog_id, step_id, retry, correct, at, actor, channel, language)
    WHERE type = 'quiz_answer';
CREATE INDEX events_module_completed
    ON events (dialog_id, passed, max_score, score, at, actor, channel, language)
    WHERE type = 'module_completed';
CREATE INDEX events_badge ON events (badge, actor, at, channel, language) WHERE type = 'badge';

-- 2. Who was active on which day (see the SQLite migration for the whole story).
CREATE TABLE daily_active (
    day      text COLLATE "C" NOT NULL,
    actor    text COLLATE "C" NOT NULL,
    channel  text COLLATE "C" NOT NULL,
    language text COLLATE "C" NOT NULL,
    first_at text COLLATE "C" NOT NULL,
    last_at  text COLLATE "C" NOT NULL,
    PRIMARY KEY (day, actor, channel, language)
);
CREATE INDEX daily_active_actor ON daily_active (actor, day);

-- 3. Who was active in which ISO week ("2026-W05") and which month.
CREATE TABLE weekly_active (
    week     text COLLATE "C" NOT NULL,
    actor    text COLLATE "C" NOT NULL,
    channel  text COLLATE "C" NOT NULL,
    language text COLLATE "C" NOT NULL,
    PRIMARY KEY (week, actor, channel, language)
);
CREATE TABLE monthly_active (
    month    text COLLATE "C" NOT NULL,
    actor    text COLLATE "C" NOT NULL,
    channel  text COLLATE "C" NOT NULL,
    language text COLLATE "C" NOT NULL,
    PRIMARY KEY (month, actor, channel, language)
);

-- The ISO week of a day, as bot/stats/metrics.py's _ISO_WEEK writes it: SQLite takes the year
-- and the number of the week's Thursday; to_char's IYYY and IW are exactly those. (STABLE: text to
-- date reads DateStyle, though never for an ISO day.)
CREATE FUNCTION iso_week(day text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT to_char(day::date, 'IYYY-"W"IW')
$$;

CREATE FUNCTION daily_active_periods_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO weekly_active (week, actor, channel, language)
        VALUES (iso_week(NEW.day), NEW.actor, NEW.channel, NEW.language)
        ON CONFLICT DO NOTHING;
    INSERT INTO monthly_active (month, actor, channel, language)
        VALUES (substr(NEW.day, 1, 7), NEW.actor, NEW.channel, NEW.language)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_active_periods_insert AFTER INSERT ON daily_active
    FOR EACH ROW EXECUTE FUNCTION daily_active_periods_insert();

CREATE FUNCTION daily_active_periods_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM weekly_active
    WHERE week = iso_week(OLD.day)
        AND actor = OLD.actor AND channel = OLD.channel AND language = OLD.language
        AND NOT EXISTS (
            -- Another day of the same week: the same Thursday.
            SELECT 1 FROM daily_active d
            WHERE d.actor = OLD.actor
                AND d.day >= to_char(OLD.day::date - 6, 'YYYY-MM-DD')
                AND d.day <= to_char(OLD.day::date + 6, 'YYYY-MM-DD')
                AND iso_week(d.day) = iso_week(OLD.day)
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
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_active_periods_delete AFTER DELETE ON daily_active
    FOR EACH ROW EXECUTE FUNCTION daily_active_periods_delete();

-- The days, weeks and months of the events already there.
INSERT INTO daily_active (day, actor, channel, language, first_at, last_at)
SELECT substr(at, 1, 10), actor, COALESCE(channel, ''), COALESCE(language, ''), MIN(at), MAX(at)
FROM events WHERE type = 'message_in' AND actor IS NOT NULL
GROUP BY 1, 2, 3, 4;

-- A message adds its day, or moves that day's first or last time.
-- PL/pgSQL keeps the plans of its statements for the session; a SQL function called from a trigger
-- would be planned again for every event.
CREATE FUNCTION daily_active_add(e events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO daily_active AS a (day, actor, channel, language, first_at, last_at)
    VALUES (substr(e.at, 1, 10), e.actor, COALESCE(e.channel, ''), COALESCE(e.language, ''), e.at, e.at)
    ON CONFLICT (day, actor, channel, language) DO UPDATE SET
        first_at = LEAST(a.first_at, excluded.first_at), last_at = GREATEST(a.last_at, excluded.last_at);
END;
$$;
-- A message taken away takes its day along when it was the last of it, and otherwise gives the
-- day the first and last times of the messages left.
CREATE FUNCTION daily_active_remove(e events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM daily_active
    WHERE day = substr(e.at, 1, 10) AND actor = e.actor
        AND channel = COALESCE(e.channel, '') AND language = COALESCE(e.language, '')
        AND NOT EXISTS (
            SELECT 1 FROM events x
            WHERE x.actor = e.actor AND x.type = 'message_in'
                AND x.at >= substr(e.at, 1, 10) AND x.at < substr(e.at, 1, 10) || '~'
                AND substr(x.at, 1, 10) = substr(e.at, 1, 10)
                AND COALESCE(x.channel, '') = COALESCE(e.channel, '')
                AND COALESCE(x.language, '') = COALESCE(e.language, '')
        );
    UPDATE daily_active SET (first_at, last_at) = (
            SELECT MIN(x.at), MAX(x.at) FROM events x
            WHERE x.actor = e.actor AND x.type = 'message_in'
                AND x.at >= substr(e.at, 1, 10) AND x.at < substr(e.at, 1, 10) || '~'
                AND substr(x.at, 1, 10) = substr(e.at, 1, 10)
                AND COALESCE(x.channel, '') = COALESCE(e.channel, '')
                AND COALESCE(x.language, '') = COALESCE(e.language, '')
        )
    WHERE day = substr(e.at, 1, 10) AND actor = e.actor
        AND channel = COALESCE(e.channel, '') AND language = COALESCE(e.language, '')
        AND e.at IN (first_at, last_at);
END;
$$;

CREATE FUNCTION daily_active_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM daily_active_add(NEW);
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_active_insert AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.type = 'message_in' AND NEW.actor IS NOT NULL)
    EXECUTE FUNCTION daily_active_insert();

CREATE FUNCTION daily_active_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM daily_active_remove(OLD);
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_active_delete AFTER DELETE ON events
    FOR EACH ROW WHEN (OLD.type = 'message_in' AND OLD.actor IS NOT NULL)
    EXECUTE FUNCTION daily_active_delete();

-- Events are not edited; should one ever be, the old message is taken out as a delete would, and
-- the new one put in as an insert would.
CREATE FUNCTION daily_active_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.type = 'message_in' THEN
        PERFORM daily_active_remove(OLD);
    END IF;
    IF NEW.type = 'message_in' AND NEW.actor IS NOT NULL THEN
        PERFORM daily_active_add(NEW);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_active_update AFTER UPDATE OF at, actor, type, channel, language ON events
    FOR EACH ROW EXECUTE FUNCTION daily_active_update();
