"""The work only one worker may do at a time, and which worker does it.

Some work must run once across all workers: the Telegram poller (Telegram answers a second
getUpdates with "Conflict"), the sender of each channel (so its rate limit holds for the whole
bot) and the timers (club reminders, spaced recall, maintenance). Each is a role. On
PostgreSQL, a worker holds a role by a session-level advisory lock on a connection of its
own, and does the role's work while it holds it. When that worker dies, its connection
closes, PostgreSQL releases its locks, and another worker, which tries every `every`
seconds, takes the role over. On SQLite the one process holds every role.

Any worker serves webhooks and the dashboard: those need no role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.storage.db import Database

log = logging.getLogger(__name__)

# The first key of the two-key advisory locks that roles take ("CS"), so they can be told
# from other locks on the same server.
ROLE_LOCKS = 0x4353


def role_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Role:
    name: str
    work: Callable[[], Awaitable[Any]]  # runs until it is cancelled
    # Seconds to wait after taking the role over before working: a sender waits out its
    # rate limit's window, so the last holder's final second and its first never add up.
    settle: float = 0.0


class Roles:
    def __init__(self, db: Database, roles: list[Role], every: float = 2.0):
        self.db = db
        self.roles = {role.name: role for role in roles}
        self.every = every
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._conn: Any = None

    @property
    def held(self) -> list[str]:
        return sorted(self._running)

    async def run(self) -> None:
        """Hold what roles it can, and do their work, for ever; cancel the task to stop.
        Raises if a role's work ends by itself (the process should then be restarted)."""
        try:
            if not self.db.several_workers:
                for name in self.roles:
                    self._start(name)
            while True:
                if self.db.several_workers:
                    await self._contend()
                self._raise_if_ended()
                await asyncio.sleep(self.every)
        finally:
            await self._give_up()
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()

    async def _contend(self) -> None:
        try:
            if self._conn is None:
                from bot.storage.postgres import Connection

                self._conn = await Connection.connect(self.db.url, name=self.db.worker)  # type: ignore[attr-defined]
            for name in self.roles:
                if name in self._running:
                    continue
                rows = await self._conn.execute_fetchall(
                    "SELECT pg_try_advisory_lock(?, ?)", (ROLE_LOCKS, role_key(name))
                )
                if rows[0][0]:
                    log.info("this worker (%s) takes the role %s", self.db.worker, name)
                    self._start(name, taken_over=True)
            if self._running:
                # The locks live as long as this connection: if it is gone, so are they, and
                # another worker may hold the roles already. Stop their work at once.
                await self._conn.execute_fetchall("SELECT 1")
        except sqlite3.Error as exc:
            if self._running:
                log.error("lost the connection that holds the roles %s: %s; giving them up", self.held, exc)
            await self._give_up()
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()
            self._conn = None

    def _start(self, name: str, taken_over: bool = False) -> None:
        role = self.roles[name]

        async def work() -> None:
            if taken_over and role.settle:
                await asyncio.sleep(role.settle)
            await role.work()

        self._running[name] = asyncio.create_task(work(), name=name)

    def _raise_if_ended(self) -> None:
        for name, task in self._running.items():
            if task.done():
                error = None if task.cancelled() else task.exception()
                raise RuntimeError(f"the role {name} ended: {error!r}") from error

    async def _give_up(self) -> None:
        running, self._running = self._running, {}
        for task in running.values():
            task.cancel()
        for task in running.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def holders(db: Database, names: list[str]) -> dict[str, str | None]:
    """Role -> the worker that holds it (None: nobody, yet), for /healthz. On SQLite, this process."""
    if not db.several_workers:
        return {name: db.worker for name in names}
    async with db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT l.objid::bigint, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ? "
            "AND l.objsubid = 2",
            (ROLE_LOCKS,),
        )
    by_key = {int(key): worker for key, worker in rows}
    return {name: by_key.get(role_key(name)) for name in names}
