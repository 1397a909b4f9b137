-- PostgreSQL twin of migrations/0013_learning_gain.sql.
--
-- A pre-test answer's phase ("pre" or "post") as a column: STORED (PostgreSQL 15 has no VIRTUAL
-- generated columns), computed once when the event is written. text COLLATE "C", as `badge`:
-- compared byte by byte, as SQLite's BINARY does.
ALTER TABLE events
    ADD COLUMN phase text COLLATE "C" GENERATED ALWAYS AS (data::jsonb ->> 'phase') STORED;
CREATE INDEX events_pretest ON events (dialog_id, step_id, actor, phase, at, correct, channel, language)
    WHERE type = 'pretest';
