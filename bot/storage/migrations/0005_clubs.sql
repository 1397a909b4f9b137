-- Clubs, their members and facilitators, club sessions, invitations with RSVP and attendance,
-- and the scheduler's jobs (reminders, nudges) as rows, so a restart loses none.
CREATE TABLE clubs (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,          -- the join code: "join K7Q2", /start club_K7Q2
    name       TEXT NOT NULL,
    district   TEXT NOT NULL,
    language   TEXT NOT NULL DEFAULT 'rw',
    created_at TEXT NOT NULL
);
CREATE TABLE memberships (
    club_id   INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role      TEXT NOT NULL DEFAULT 'member',  -- member | facilitator
    joined_at TEXT NOT NULL,
    PRIMARY KEY (club_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE TABLE club_sessions (
    id         INTEGER PRIMARY KEY,
    club_id    INTEGER NOT NULL REFERENCES clubs(id) ON DELETE CASCADE,
    starts_at  TEXT NOT NULL,                 -- UTC ISO
    place      TEXT NOT NULL,
    topic      TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'scheduled',  -- scheduled | cancelled
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE invitations (
    id         INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES club_sessions(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    outbox_id  INTEGER,
    rsvp       TEXT,                          -- yes | maybe | no
    rsvp_at    TEXT,
    attended   INTEGER,                       -- 1 | 0, marked after the session
    nudged     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (session_id, user_id)
);
CREATE INDEX invitations_user ON invitations (user_id, created_at);
CREATE TABLE jobs (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,                    -- reminder | nudge
    run_at  TEXT NOT NULL,
    payload TEXT NOT NULL,                    -- JSON
    status  TEXT NOT NULL DEFAULT 'pending',  -- pending | done | cancelled
    done_at TEXT
);
CREATE INDEX jobs_due ON jobs (status, run_at);
-- "Was the last message to this user an invitation?" is asked on every typed reply.
CREATE INDEX outbox_user ON outbox (user_id, id);
-- A learner's own events (streaks, retention) without scanning everyone's.
CREATE INDEX events_actor ON events (actor, type, at);
-- Covering index for "who was active when": the dashboard reads it without touching the table.
CREATE INDEX events_type_at_actor ON events (type, at, actor);
-- Per-module and per-question reports read these in order instead of sorting.
CREATE INDEX events_type_dialog ON events (type, dialog_id, step_id, actor);
-- (type, at, actor) serves every query (type, at) did; one index less to write per event.
DROP INDEX IF EXISTS events_type_at;
