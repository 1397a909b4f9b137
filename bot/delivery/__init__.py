"""Delivery: the durable inbox, the outbox sender with its rate limits and outage handling."""
