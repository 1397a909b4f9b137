-- Delivery receipts find their message by the channel's id for it.
CREATE INDEX outbox_external ON outbox (channel, external_id) WHERE external_id IS NOT NULL;
