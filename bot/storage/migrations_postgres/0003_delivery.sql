-- PostgreSQL twin of migrations/0003_delivery.sql.
CREATE INDEX outbox_external ON outbox (channel, external_id) WHERE external_id IS NOT NULL;
