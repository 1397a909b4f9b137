"""Keep personal data out of places it does not belong (logs, stats, exports)."""

from __future__ import annotations

import hashlib


def log_id(channel: str, address: str) -> str:
    """A short stable hash to correlate log lines without writing a phone number or chat id."""
    return channel + ":" + hashlib.blake2b(address.encode(), digest_size=5).hexdigest()
