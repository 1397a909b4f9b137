"""Database upkeep beside the bot: WAL checkpoints off the message path, and bounded tables.

The writer runs with `wal_autocheckpoint=0`, so no learner's COMMIT pays for a checkpoint.
Instead `Maintenance` copies the WAL back into the database file from a connection of its own,
when the writer has been quiet for a moment, or sooner once the WAL has grown; past a bound it
checkpoints between two write transactions, so the WAL starts over and cannot grow without end
under steady load. When the bot is idle it also empties the -wal file.

About daily (and at start) it prunes finished outbox rows and seen inbound ids older than
OUTBOX_KEEP_DAYS, a few thousand rows per transaction, so a message waits at most one batch.
Before an outbox row goes, its delivery status is rolled up into its invitation (a trigger,
see migration 0008), so session figures do not change. Queued, sending and held rows stay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings
from bot.messages import utcnow
from bot.storage import repo
from bot.storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    outbox: int = 0
    inbound_seen: int = 0


class Maintenance:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        *,
        idle_s: float = 1.0,
        wal_pages: int = 1000,
        wal_limit_pages: int | None = None,
        tick_s: float = 0.25,
        batch: int = 2000,
        prune_every: timedelta = timedelta(days=1),
    ):
        self.db = db
        self.keep = timedelta(days=settings.outbox_keep_days)
        self.clock = clock
        self.idle_s = idle_s
        self.wal_pages = wal_pages  # like SQLite's own autocheckpoint threshold
        # Past this, PASSIVE checkpoints are not catching up with the writer: see `checkpoint_if_due`.
        self.wal_limit_pages = wal_limit_pages or 8 * wal_pages
        self.tick_s = tick_s
        self.batch = batch
        self.prune_every = prune_every
        self._checkpointed = 0.0  # db.last_write when the WAL was last fully checkpointed
        self._passive_at = 0.0  # time.monotonic() of the last checkpoint
        self._truncated = True  # the -wal file was emptied since the last checkpoint
        self._pruned_at: datetime | None = None

    async def run(self) -> None:
        """Checkpoint and prune forever; cancel the task to stop."""
        await asyncio.gather(self._checkpoints(), self._pruning())

    async def run_once(self) -> Pruned | None:
        """One round of both: the pruning if it is due (returns what it removed), a checkpoint if due."""
        pruned = await self.prune() if self._prune_due() else None
        await self.checkpoint_if_due()
        return pruned

    # -- checkpoints ----------------------------------------------------------------------

    def _wal_pages(self) -> int:
        return self.db.wal_pages()

    async def checkpoint_if_due(self) -> str | None:
        """PASSIVE after a quiet moment or once the WAL is big; TRUNCATE when quiet. Returns the mode run."""
        written, now = self.db.last_write, time.monotonic()
        quiet = not self.db.writing and now - written >= self.idle_s
        # Under steady load, a big WAL is checkpointed too, but not more than once per idle_s.
        grown = now - self._passive_at >= self.idle_s and self._wal_pages() >= self.wal_pages
        if written > self._checkpointed and (quiet or grown):
            self._passive_at = now
            if self._wal_pages() >= self.wal_limit_pages:
                # PASSIVE checkpoints copy what was committed when they began, but the writer
                # never stops, so the WAL is never wholly copied and SQLite never starts it over:
                # it grows without end. Between two write transactions it can be; most of it is
                # copied already, so the writer waits only for the tail.
                async with self.db.exclusive():
                    busy, frames, done = await self.db.checkpoint("PASSIVE")
                if not busy and done >= frames:
                    self._checkpointed, self._truncated = written, False
                return "PASSIVE"
            busy, frames, done = await self.db.checkpoint("PASSIVE")
            if not busy and done >= frames:  # a reader on an old snapshot leaves some for next time
                self._checkpointed, self._truncated = written, False
            return "PASSIVE"
        if quiet and not self._truncated and written <= self._checkpointed:
            # Everything is in the database file: emptying the -wal file is quick, and gives up
            # (busy) rather than wait whenever a write or a read is under way.
            busy, _, _ = await self.db.checkpoint("TRUNCATE")
            self._truncated = not busy
            return "TRUNCATE"
        return None

    async def _checkpoints(self) -> None:
        while True:
            try:
                await self.checkpoint_if_due()
            except Exception:
                log.exception("WAL checkpoint failed; trying again")
            await asyncio.sleep(self.tick_s)

    # -- pruning --------------------------------------------------------------------------

    def _prune_due(self) -> bool:
        return self._pruned_at is None or self.clock() - self._pruned_at >= self.prune_every

    async def prune(self) -> Pruned:
        """Remove finished outbox rows and seen inbound ids older than the retention period."""
        now = self.clock()
        before = now - self.keep
        outbox = seen = 0
        after_id: int | None = 0
        while after_id is not None:
            async with self.db.exclusive() as conn:
                n, after_id = await repo.in_thread(conn, repo.prune_outbox, after_id, before, self.batch)
            outbox += n
            await asyncio.sleep(0)  # let waiting messages have the writer between batches
        key: tuple[str, str] | None = ("", "")
        while key is not None:
            async with self.db.exclusive() as conn:
                n, key = await repo.in_thread(conn, repo.prune_inbound_seen, key, before, self.batch)
            seen += n
            await asyncio.sleep(0)
        self._pruned_at = now
        if outbox or seen:
            log.info("pruned %d outbox rows and %d seen inbound ids from before %s", outbox, seen, before)
        return Pruned(outbox, seen)

    async def _pruning(self) -> None:
        while True:
            if self._prune_due():
                try:
                    await self.prune()
                except Exception:
                    log.exception("pruning failed; trying again in an hour")
                    self._pruned_at = self.clock() - self.prune_every + timedelta(hours=1)
            await asyncio.sleep(60)
