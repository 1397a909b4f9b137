"""The durable inbox: a message is committed before it is acknowledged, then handled from here.

A channel calls `Inbox.accept` and acknowledges the platform (200 to a webhook, the next
`getUpdates` offset) only once it returns; if it raises, the channel answers 503 and the
platform delivers again. The drainer hands each row to the engine, whose turn deletes the
row in its own transaction: a crash anywhere replays the row, and a handled row is gone.
Each user's rows are handled in the order they came; different users run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.messages import Inbound, utcnow
from bot.privacy import log_id
from bot.storage import repo
from bot.storage.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[Inbound, int], Awaitable[object]]
CLAIM = 256  # rows read per pass; a pass is one short read under the write lock
MAX_BACKOFF = 15.0  # seconds between tries of a row the database could not take
# How long a worker's claim on a user's rows holds without being renewed (each pass renews
# it, at least every 5 s): after a worker dies, its users wait this long, then another takes them.
LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class InboxRow:
    id: int
    inbound: Inbound


def insert(conn: repo.Raw, messages: list[Inbound], at: datetime) -> int:
    """Commit messages to the inbox; a message already there or already handled is skipped."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        added = 0
        for m in messages:
            key = repo.external_key(m.external_id or "")
            cur = conn.execute(
                "INSERT INTO inbox (channel, external_id, address, payload, received_at) "
                "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM inbound_seen WHERE channel = ? AND external_id = ?) "
                "ON CONFLICT (channel, external_id) DO NOTHING",
                (m.channel, key, m.address, m.to_json(), repo.iso(at), m.channel, key),
            )
            added += cur.rowcount
        conn.execute("COMMIT")
        return added
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def pending(conn: repo.Raw, limit: int) -> list[InboxRow]:
    rows = conn.execute(
        "SELECT id, channel, address, payload FROM inbox ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    return [InboxRow(r[0], Inbound.from_json(r[1], r[2], r[3])) for r in rows]


def claim(conn: repo.Raw, worker: str, limit: int, at: datetime) -> list[InboxRow]:
    """Several workers (PostgreSQL): take rows for this worker, for a lease, and renew the
    leases it holds: one transaction.

    A user whose rows another worker holds a live lease on is skipped, so one worker at a
    time handles a user, in order. A dead worker's leases run out and its rows are taken
    over. Claims are serialised by a transaction-level advisory lock (they are short), and
    rows a turn is deleting right now are skipped rather than waited for.
    """
    now, until = repo.iso(at), repo.iso(at + LEASE)
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('clubspeak inbox claims', 0))")
        conn.execute("UPDATE inbox SET claimed_until = ? WHERE claimed_by = ?", (until, worker))
        rows = conn.execute(
            "SELECT id, channel, address, payload FROM inbox i "
            "WHERE (claimed_by IS NULL OR claimed_by = ? OR claimed_until <= ?) "
            "AND NOT EXISTS (SELECT 1 FROM inbox j WHERE j.channel = i.channel AND j.address = i.address "
            "AND j.claimed_by <> ? AND j.claimed_until > ?) "
            "ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
            (worker, now, worker, now, limit),
        ).fetchall()
        rows = _without_overtaking(conn, rows, worker)
        taken = [r[0] for r in rows]
        if taken:
            conn.execute(
                "UPDATE inbox SET claimed_by = ?, claimed_until = ? WHERE id = ANY(?)", (worker, until, taken)
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return [InboxRow(r[0], Inbound.from_json(r[1], r[2], r[3])) for r in rows]


def _without_overtaking(conn: repo.Raw, rows: list, worker: str) -> list:
    """Drop the users one of whose earlier rows this claim did not get: a row another
    transaction holds was skipped (a worker whose lease ran out while it was still in that
    user's turn), and their later rows must wait for it."""
    first: dict[tuple[str, str], int] = {}
    for r in rows:
        first.setdefault((r[1], r[2]), r[0])
    if not first:
        return rows
    channels, addresses, ids = zip(*((c, a, i) for (c, a), i in first.items()), strict=True)
    behind = conn.execute(
        "SELECT DISTINCT j.channel, j.address FROM inbox j "
        "JOIN unnest(?::text[], ?::text[], ?::bigint[]) AS f(channel, address, first_id) "
        "ON j.channel = f.channel AND j.address = f.address AND j.id < f.first_id "
        "WHERE j.claimed_by IS DISTINCT FROM ?",
        (list(channels), list(addresses), list(ids), worker),
    ).fetchall()
    waiting = {(b[0], b[1]) for b in behind}
    return [r for r in rows if (r[1], r[2]) not in waiting]


def backlog(conn: repo.Raw) -> tuple[int, str | None]:
    """(rows waiting, when the oldest came)."""
    n, oldest = conn.execute("SELECT COUNT(*), MIN(received_at) FROM inbox").fetchone()
    return int(n), oldest


class Inbox:
    def __init__(
        self,
        db: Database,
        handle: Handler,
        *,
        max_in_flight: int = 32,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db = db
        self.handle = handle
        self.max_in_flight = max_in_flight
        self.clock = clock
        self._wake = asyncio.Event()
        self._busy: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[tuple[str, str], datetime] = {}  # user -> not before, after a failed write
        self._failures: dict[tuple[str, str], int] = {}

    async def accept(self, *messages: Inbound) -> int:
        """Commit, then wake the drainer. Raises sqlite3.Error if the database cannot take them."""
        if not messages:
            return 0
        async with self.db.exclusive() as conn:
            added = await repo.in_thread(conn, insert, list(messages), self.clock())
        self._held.clear()  # the database takes writes again: nobody needs to wait
        self._wake.set()
        return added

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Drain for ever; cancel the task to stop (rows in progress are replayed next start)."""
        try:
            while True:
                self._wake.clear()
                try:
                    started = await self._start_due()
                except sqlite3.Error as exc:
                    log.warning("inbox: cannot read the database (%s); trying again", exc)
                    started = 0
                if started:
                    continue
                waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
                waiters += list(self._tasks)
                # Rows waiting for a retry are looked at again within a few seconds.
                await asyncio.wait(waiters, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
                waiters[0].cancel()
        finally:
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run_once(self) -> None:
        """Handle everything due now and wait for it (tests, the console)."""
        while await self._start_due() or self._tasks:
            if self._tasks:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    async def _start_due(self) -> int:
        room = self.max_in_flight - len(self._busy)
        if room <= 0:
            return 0
        async with self.db.exclusive() as conn:
            if self.db.several_workers:
                rows = await repo.in_thread(conn, claim, self.db.worker, CLAIM, self.clock())
            else:
                rows = await repo.in_thread(conn, pending, CLAIM)
        per_user: dict[tuple[str, str], list[InboxRow]] = {}
        now = self.clock()
        for row in rows:
            who = (row.inbound.channel, row.inbound.address)
            if who in self._busy or self._held.get(who, now) > now:
                continue
            if who not in per_user:
                if len(per_user) >= room:
                    continue
                per_user[who] = []
            per_user[who].append(row)
        for who, user_rows in per_user.items():
            self._busy.add(who)
            task = asyncio.create_task(self._handle_user(who, user_rows))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return sum(len(r) for r in per_user.values())

    async def _handle_user(self, who: tuple[str, str], rows: list[InboxRow]) -> None:
        try:
            for row in rows:
                try:
                    await self.handle(row.inbound, row.id)
                except sqlite3.Error as exc:
                    # The database could not take the turn (full, locked, read-only): the
                    # row stays, and this user's later rows wait behind it, in order.
                    # The wait is kept in memory: a full disk cannot take it either.
                    tries = self._failures.get(who, 0) + 1
                    self._failures[who] = tries
                    delay = min(MAX_BACKOFF, 2.0**tries) * random.uniform(0.5, 1.0)
                    self._held[who] = self.clock() + timedelta(seconds=delay)
                    log.warning("inbox: a message from %s waits %.0fs: %s", log_id(*who), delay, exc)
                    return
                self._failures.pop(who, None)
                self._held.pop(who, None)
        finally:
            self._busy.discard(who)
            self._wake.set()
