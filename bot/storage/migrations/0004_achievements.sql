-- Badges a learner has earned, each once; certificates drawn for finished tracks.
CREATE TABLE badges (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    badge     TEXT NOT NULL,
    earned_at TEXT NOT NULL,
    PRIMARY KEY (user_id, badge)
);
CREATE TABLE certificates (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track      TEXT NOT NULL,
    media      TEXT NOT NULL,  -- "media:<random>.png" in the media directory
    created_at TEXT NOT NULL
);
CREATE INDEX certificates_user ON certificates (user_id);
-- Media files whose owner was pseudonymised, waiting to be deleted from disk by the job.
CREATE TABLE retired_media (media TEXT NOT NULL);
