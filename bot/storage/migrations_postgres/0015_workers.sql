-- PostgreSQL twin of migrations/0015_workers.sql.
ALTER TABLE inbox ADD COLUMN claimed_by text COLLATE "C";
ALTER TABLE inbox ADD COLUMN claimed_until text COLLATE "C";
CREATE INDEX inbox_user ON inbox (channel, address, id);

CREATE TABLE login_throttle (
    client       text COLLATE "C" PRIMARY KEY,
    failures     bigint NOT NULL DEFAULT 0,
    last_at      double precision NOT NULL,
    until        double precision,
    trying_until double precision
);
CREATE INDEX login_throttle_last ON login_throttle (last_at);

CREATE TABLE shared_secrets (
    name  text COLLATE "C" PRIMARY KEY,
    value text COLLATE "C" NOT NULL
);
