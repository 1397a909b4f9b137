-- Learning gain (#14): the mean gain per module reads each learner's pre-test answers, before the
-- content and again at its end (bot/stats/metrics.py `learning_gain`).
--
-- A pre-test answer's phase ("pre" or "post") as a column, as migration 0012 made the other
-- figures of an event's data: VIRTUAL, so nothing that writes events changes and no row is
-- rewritten. Typed TEXT (json_extract gives the string), the same column as PostgreSQL's.
ALTER TABLE events ADD COLUMN phase TEXT GENERATED ALWAYS AS (json_extract(data, '$.phase')) VIRTUAL;
-- The pre-test answers, per item and learner, then phase and time: the first "pre" of each and
-- the first "post" after it are read from this index alone (`correct` is 0012's column), with the
-- columns every filter reads, so the JSON is never parsed for the gain.
CREATE INDEX events_pretest ON events (dialog_id, step_id, actor, phase, at, correct, channel, language)
    WHERE type = 'pretest';
