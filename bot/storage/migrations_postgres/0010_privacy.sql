-- PostgreSQL twin of migrations/0010_privacy.sql.
ALTER TABLE certificates ADD COLUMN file_id text COLLATE "C";
