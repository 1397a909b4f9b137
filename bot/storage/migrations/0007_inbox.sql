-- The durable inbox: every message a channel hands us is committed here before we
-- acknowledge it (200 to a webhook, the next getUpdates offset to Telegram). The turn
-- that handles a row deletes it in the same transaction, so a crash replays it and
-- nothing is handled twice. Rows hold message text only until they are handled.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY,
    channel     TEXT NOT NULL,
    external_id TEXT NOT NULL,               -- a hash of the channel's id, as in inbound_seen
    address     TEXT NOT NULL,
    payload     TEXT NOT NULL,               -- JSON of the Inbound
    received_at TEXT NOT NULL,
    UNIQUE (channel, external_id)
);

-- One row that /healthz rewrites: the only honest test that the database takes writes.
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
