"""What `/healthz` says: each part of the process, and 503 when the database cannot take writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.delivery.inbox import backlog as inbox_backlog
from bot.delivery.outbox import OutboxSender
from bot.messages import utcnow
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.roles import Roles, holders


@dataclass
class Health:
    db: Database
    # channel -> "starting", "up" or "down: why" (set by the task that connects it)
    channels: dict[str, str] = field(default_factory=dict)
    senders: dict[str, OutboxSender] = field(default_factory=dict)
    roles: Roles | None = None
    clock: Callable[[], datetime] = utcnow

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details). Unhealthy only when the database cannot take writes: a channel
        that is down is reported, but the process still serves the others."""
        now = self.clock()
        parts: dict[str, Any] = {"schema": None}
        try:
            async with self.db.transaction() as conn:
                # A real commit: the only honest test that the disk takes writes.
                await conn.execute(
                    "INSERT INTO heartbeat (id, at) VALUES (1, ?) "
                    "ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    (repo.iso(now),),
                )
            parts["database"] = "writable"
        except sqlite3.Error as exc:
            parts["database"] = f"not writable: {exc}"
        try:
            parts["schema"] = await self.db.version()
            async with self.db.exclusive() as conn:
                waiting, oldest = await repo.in_thread(conn, inbox_backlog)
                parts["inbox"] = {"waiting": waiting, "oldest_age_s": _age(oldest, now)}
                for name in sorted(set(self.channels) | set(self.senders)):
                    rows = await conn.execute_fetchall(
                        "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE channel = ? AND status IN "
                        "('queued', 'sending')",
                        (name,),
                    )
                    sender = self.senders.get(name)
                    parts[name] = {
                        "connection": self.channels.get(name, "up"),
                        "sending": sender.state() if sender else "no sender",
                        "outbox_backlog": rows[0][0],
                        "oldest_pending_age_s": _age(rows[0][1], now),
                    }
            if self.roles is not None:
                # Which worker holds each role, this one ("worker") or another: on PostgreSQL,
                # read from the server's locks, so every worker reports the same.
                parts["worker"] = self.db.worker
                parts["roles"] = await holders(self.db, list(self.roles.roles))
        except sqlite3.Error as exc:
            parts.setdefault("database", f"not readable: {exc}")
        healthy = parts["database"] == "writable"
        return healthy, {"status": "ok" if healthy else "unavailable", **parts}


def _age(at: str | None, now: datetime) -> float | None:
    return None if at is None else round((now - datetime.fromisoformat(at)).total_seconds(), 1)
