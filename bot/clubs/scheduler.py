"""One asyncio task fires reminders and nudges from the `jobs` table.

A job's messages and its "done" mark commit in one transaction, so a restart loses none
and none fires twice. The clock is injected: tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.clubs import model as clubs
from bot.core.timer import run_when_due
from bot.messages import utcnow
from bot.storage import repo
from bot.storage.db import Database

log = logging.getLogger(__name__)
MAX_SLEEP = 60.0  # also picks up jobs added by the command line in another process


class Scheduler:
    def __init__(
        self,
        db: Database,
        render: clubs.Renderer,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_outbox: Callable[[], None] = lambda: None,
    ):
        self.db = db
        self.render = render
        self.clock = clock
        self.on_outbox = on_outbox
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Fire every job due now; returns how many messages were queued."""
        now = self.clock()
        async with self.db.exclusive() as conn:
            sessions = {}
            for session_id in await clubs.due_session_ids(conn, now):
                session = await clubs.get_session(conn, session_id)
                if session is not None:
                    sessions[session_id] = session
            queued = await repo.in_thread(conn, clubs.run_due_jobs, sessions, self.render, now)
        if queued:
            log.info("scheduler queued %d reminder(s) and nudge(s)", queued)
            self.on_outbox()
        return queued

    async def next_due(self) -> datetime | None:
        async with self.db.exclusive() as conn:
            return await clubs.next_job_at(conn)

    async def run(self) -> None:
        await run_when_due("scheduler", self.run_once, self.next_due, self._wake, self.clock, MAX_SLEEP)
