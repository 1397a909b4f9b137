-- Users are keyed by (channel, address). `pseudonym` is the only id that
-- analytics, stats and exports ever show.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    address         TEXT NOT NULL,
    pseudonym       TEXT NOT NULL UNIQUE,
    display_name    TEXT,
    language        TEXT,            -- confirmed by the user; NULL until then
    language_hint   TEXT,            -- first guess from the channel
    role            TEXT NOT NULL DEFAULT 'learner',
    age_band        TEXT,
    consent         TEXT,
    stopped         INTEGER NOT NULL DEFAULT 0,   -- asked us to stop messaging
    unreachable     INTEGER NOT NULL DEFAULT 0,   -- the channel refuses (blocked bot)
    created_at      TEXT NOT NULL,
    last_inbound_at TEXT,
    UNIQUE (channel, address)
);

-- Where each user is in a dialog, so a restart resumes at the same step.
CREATE TABLE dialog_state (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    dialog_id  TEXT,
    step_id    TEXT,
    prompt_seq INTEGER NOT NULL DEFAULT 0,   -- bumps on every prompt; stale buttons carry an old one
    data       TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);

CREATE TABLE progress (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    dialog_id    TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('started', 'completed')),
    score        INTEGER,
    max_score    INTEGER,
    best_score   INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    started_at   TEXT NOT NULL,
    completed_at TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, dialog_id)
);

-- Append-only analytics. `actor` is the pseudonym, not a foreign key, so the
-- aggregates survive when a user's personal data is erased.
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT,
    type      TEXT NOT NULL,
    channel   TEXT,
    language  TEXT,
    dialog_id TEXT,
    step_id   TEXT,
    data      TEXT
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_type_at ON events (type, at);

-- The learner's own words from free-text practice: theirs, erased with them.
CREATE TABLE reflections (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    dialog_id TEXT NOT NULL,
    step_id   TEXT NOT NULL,
    text      TEXT NOT NULL,
    at        TEXT NOT NULL
);

CREATE TABLE inbound_seen (
    channel     TEXT NOT NULL,
    external_id TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (channel, external_id)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,      -- 0 reply, 10 bulk: lower goes first
    payload     TEXT NOT NULL,                   -- JSON of the Outbound
    status      TEXT NOT NULL DEFAULT 'queued',  -- queued, sending, sent, delivered, read, failed, held
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT,
    external_id TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (channel, status, priority, id);
