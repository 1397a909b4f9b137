"""The outbox sender: one task per channel drains the `outbox` table.

Replies (priority 0) go before bulk sends (priority 10). Each user's messages go in
order, while different users are sent to concurrently. The table is the queue, so
after a crash the sender starts again from it: only messages in flight can repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from bot.delivery import queries as delivery_queries
from bot.messages import Outbound, utcnow
from bot.privacy import log_id
from bot.storage import repo
from bot.storage.db import Database

log = logging.getLogger(__name__)

# How many of one user's due messages a delivery task takes at once. A turn's replies
# (feedback, then the next question) go out back to back without a claim in between.
PER_ADDRESS = 4
MAX_PAUSE = 30.0  # seconds between tries, at most, while the database refuses writes


@dataclass(frozen=True)
class Delivery:
    """What a channel says happened to one message."""

    status: Literal["sent", "retry", "failed", "unreachable", "held", "opted_out"]
    external_id: str | None = None
    error: str | None = None
    retry_after: float | None = None
    # The channel itself is down (network, 5xx, not connected): the whole queue waits, not one row.
    outage: bool = False

    @classmethod
    def sent(cls, external_id: str | None = None) -> Delivery:
        return cls("sent", external_id)


class Transport(Protocol):
    """A channel's sending half. It renders an Outbound and reports a Delivery; it never raises."""

    channel: str

    async def send(self, message: Outbound) -> Delivery: ...


class RateLimiter:
    """A token bucket: at most `rate` sends a second, with bursts up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        # No burst by default: an even pace never trips a platform's per-second window.
        self.capacity = burst if burst is not None else 1.0
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        """The platform said "slow down": spend the tokens of the next `seconds`."""
        self.tokens = min(self.tokens, 0) - seconds * self.rate


class OutboxSender:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        max_in_flight: int = 16,
        retry_for: timedelta = timedelta(hours=24),
        rate: RateLimiter | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_enqueue: Callable[[str], None] = lambda channel: None,
        max_backoff: float = 900.0,
        probe_every: float = 60.0,
    ):
        self.db = db
        self.transport = transport
        self.channel = transport.channel
        self.max_in_flight = max_in_flight
        self.retry_for = retry_for  # transient errors are retried this long (urgent ones for ever)
        self.max_backoff = max_backoff  # seconds between tries of one message, at most
        self.probe_every = probe_every  # seconds between probes of a channel that is down, at most
        self.rate = rate
        self.clock = clock
        self.on_enqueue = on_enqueue  # wakes the sender of a channel an alert falls back to
        # While the channel is down, its whole queue waits and one message at a time probes it.
        self._down_since: datetime | None = None
        self._down_error = ""
        self._probe_delay = 0.0
        self._resume_at: datetime | None = None
        self._wake = asyncio.Event()
        self._in_flight: dict[int, str] = {}  # outbox id -> address
        self._tasks: set[asyncio.Task[None]] = set()
        # Sent messages whose 'sent' mark waits for the next claim, which writes them in
        # the same thread hop. A crash in between re-sends them once; it never loses one.
        self._sent: list[tuple[int, str | None, datetime]] = []
        # Rows tried whose outcome the database refused to record: still 'sending' there, put
        # back in the queue by the next claim the database takes.
        self._unsettled: list[int] = []

    def wake(self) -> None:
        self._wake.set()

    def state(self) -> str:
        if self._down_since is None:
            return "sending"
        return f"paused since {self._down_since.isoformat(timespec='seconds')}: {self._down_error}"[:200]

    async def recover(self) -> int:
        """Put back what a crash left half-sent."""
        async with self.db.transaction() as conn:
            n = await delivery_queries.requeue_in_flight(conn, self.channel, self.clock())
        if n:
            log.warning("re-queued %d %s messages left in flight by the last run", n, self.channel)
        return n

    async def run(self) -> None:
        """Drain the outbox forever; cancel the task to stop.

        A database that refuses a write (a full disk, a lock, a lost connection) pauses the
        sender, with growing gaps, until it takes writes again; it never ends it.
        """
        recovered = False
        pause = 1.0
        try:
            while True:
                self._wake.clear()
                try:
                    if not recovered:
                        await self.recover()
                        recovered = True
                    claimed, next_due = await self._claim()
                except sqlite3.Error as exc:
                    log.warning("%s sender paused %.0fs: the database refused: %s", self.channel, pause, exc)
                    await asyncio.sleep(pause)
                    pause = min(MAX_PAUSE, pause * 2)
                    continue
                pause = 1.0
                if claimed:
                    continue
                await self._idle(next_due)
        finally:
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._sent:
                with contextlib.suppress(Exception):
                    async with self.db.exclusive() as conn:
                        await repo.in_thread(conn, delivery_queries.mark_sent, self._sent)

    async def run_once(self) -> int:
        """Send everything due now, and wait for it; used by the console and tests."""
        sent = 0
        while True:
            claimed, _ = await self._claim()
            # Marks written by deliveries that ended during the claim go with the next one.
            if not claimed and not self._tasks and not self._sent and not self._unsettled:
                return sent
            sent += claimed
            if self._tasks:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    async def _idle(self, next_due: str | None) -> None:
        timeout = 30.0
        if next_due:
            wait = (datetime.fromisoformat(next_due) - self.clock()).total_seconds()
            timeout = max(0.05, min(timeout, wait))
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
        waiters += list(self._tasks)
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiters[0].cancel()

    async def _claim(self) -> tuple[int, str | None]:
        """Start a delivery task per user with due messages; returns (messages, next due time)."""
        room = self.max_in_flight - len(self._in_flight)
        per_address = PER_ADDRESS
        if self._resume_at is not None:  # the channel is down: one probe at a time, when due
            probe_due = self.clock() >= self._resume_at and not self._in_flight
            room, per_address = (1, 1) if probe_due else (0, 0)
            if not probe_due and not self._sent:
                return 0, None if self._in_flight else repo.iso(self._resume_at)
        if room <= 0 and not self._sent and not self._unsettled:
            return 0, None
        sent, self._sent = self._sent, []
        unsettled, self._unsettled = self._unsettled, []
        try:
            async with self.db.exclusive() as conn:
                claim = await repo.in_thread(
                    conn,
                    delivery_queries.claim_due,
                    self.channel,
                    max(room, 0),
                    per_address,
                    set(self._in_flight.values()),
                    self.clock(),
                    sent,
                    unsettled,
                )
        except sqlite3.Error:
            # Nothing was written: the marks wait for the next claim.
            self._sent, self._unsettled = sent + self._sent, unsettled + self._unsettled
            raise
        for batch in claim.batches:
            key = batch[0].id
            self._in_flight[key] = batch[0].message.address
            task = asyncio.create_task(self._deliver(key, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._resume_at is not None:
            return sum(len(b) for b in claim.batches), repo.iso(self._resume_at)
        return sum(len(b) for b in claim.batches), claim.next_due

    async def _deliver(self, key: int, batch: list[delivery_queries.OutboxRow]) -> None:
        """Send one user's messages in order; once one is not sent, put the rest back."""
        try:
            for n, row in enumerate(batch):
                if self.rate:
                    await self.rate.acquire()
                try:
                    result = await self.transport.send(row.message)
                except Exception as exc:  # a transport should not raise; if it does, retry
                    log.exception("%s transport raised", self.channel)
                    result = Delivery("retry", error=f"{type(exc).__name__}: {exc}")
                try:
                    await self._record(row, result)
                    if result.status != "sent":
                        # Later messages would overtake this one (or go to a user who is gone).
                        await self._release(batch[n + 1 :])
                except sqlite3.Error as exc:
                    log.warning("%s: the database refused a delivery's outcome: %s", self.channel, exc)
                    self._unsettled += [r.id for r in batch[n:]]
                    break
                if result.status != "sent":
                    break
        finally:
            self._in_flight.pop(key, None)
            self._wake.set()

    async def _release(self, rows: list[delivery_queries.OutboxRow]) -> None:
        if rows:
            async with self.db.transaction() as conn:
                await delivery_queries.release(conn, [r.id for r in rows], self.clock())

    async def _record(self, row: delivery_queries.OutboxRow, result: Delivery) -> None:
        now = self.clock()
        who = log_id(self.channel, row.message.address)
        if result.status == "sent":  # the common case: written with the next claim
            self._sent.append((row.id, result.external_id, now))
            if self._down_since is not None:
                log.warning(
                    "%s answers again after %s: sending resumes", self.channel, now - self._down_since
                )
                self._down_since, self._resume_at, self._probe_delay = None, None, 0.0
            return
        if result.status == "retry" and not row.message.urgent and now - row.created_at > self.retry_for:
            result = Delivery("failed", error=f"gave up after {self.retry_for}: {result.error}")
        if row.message.urgent and result.status in ("held", "opted_out", "unreachable", "failed"):
            await self._fall_back(row, result, now)
        async with self.db.transaction() as conn:
            if result.status == "held":
                await delivery_queries.mark_held(conn, row.id, result.error or "held", now)
            elif result.status == "opted_out":
                log.info("%s opted out: %s", who, result.error)
                if row.message.user_id is not None:
                    await repo.set_stopped(conn, row.message.user_id, True)
                await delivery_queries.mark_failed(conn, row.id, result.error or "opted out", now)
            elif result.status == "unreachable":
                log.info("%s is unreachable: %s", who, result.error)
                if row.message.user_id is not None:
                    await repo.mark_unreachable(conn, row.message.user_id, now, result.error or "unreachable")
                await delivery_queries.mark_failed(conn, row.id, result.error or "unreachable", now)
            elif result.status == "retry":
                if result.outage:
                    due = self._went_down(now, result.error or "down")
                else:
                    delay = result.retry_after
                    if delay is None:  # capped exponential backoff, with jitter so retries spread
                        delay = min(self.max_backoff, 2.0 ** min(row.attempts, 20)) * random.uniform(0.5, 1.0)
                    elif self.rate:
                        self.rate.pause(delay)
                    due = now + timedelta(seconds=delay)
                    log.info("retrying a message to %s in %.1fs: %s", who, delay, result.error)
                await delivery_queries.requeue(conn, row.id, due, result.error or "retry", now)
            else:
                log.warning("a message to %s failed: %s", who, result.error)
                await delivery_queries.mark_failed(conn, row.id, result.error or "failed", now)

    async def _fall_back(self, row: delivery_queries.OutboxRow, result: Delivery, now: datetime) -> None:
        """An alert this channel cannot deliver goes to the officer's next channel."""
        fallback = list(row.message.args.get("fallback") or [])
        if not fallback:
            log.error(
                "an urgent alert to %s cannot be delivered: %s",
                log_id(self.channel, row.message.address),
                result.error,
            )
            return
        (channel, address), rest = fallback[0], fallback[1:]
        async with self.db.transaction() as conn:
            officer = await repo.find_user(conn, channel, address)
            args = {k: v for k, v in row.message.args.items() if k != "fallback"}
            message = replace(
                row.message,
                channel=channel,
                address=address,
                user_id=officer.id if officer else None,
                args=args | ({"fallback": rest} if rest else {}),
            )
            await repo.in_thread(conn, repo.enqueue, [message], now)
        log.warning("an urgent alert goes to the officer's %s instead: %s", channel, result.error)
        self.on_enqueue(channel)

    def _went_down(self, now: datetime, error: str) -> datetime:
        """The channel is out of reach: pause the queue and probe it with growing gaps."""
        if self._down_since is None:
            log.warning("%s is out of reach (%s): its queue waits, and is probed", self.channel, error)
            self._down_since, self._probe_delay = now, 1.0
        elif self._resume_at is not None and now >= self._resume_at:  # a probe failed
            self._probe_delay = min(self.probe_every, self._probe_delay * 2)
        else:  # a message already under way when the channel went down
            return self._resume_at or now
        self._down_error = error
        self._resume_at = now + timedelta(seconds=self._probe_delay * random.uniform(0.8, 1.0))
        return self._resume_at


# What a channel's delivery receipt may say, in the order a message goes through them.
RECEIPT_ORDER = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}
FAILED_RECEIPTS = {"failed", "undelivered"}
NEEDS_TEMPLATE = {"63016"}
SLOW_DOWN = {"63018", "20429"}


async def record_status(
    db: Database,
    channel: str,
    external_id: str,
    status: str,
    error_code: str | None,
    now: datetime | None = None,
) -> str | None:
    """Apply a delivery receipt; it only moves a message forward. Returns the new status, if any.

    A receipt saying "outside the 24-hour window" holds the message for a template; one saying
    "too many requests" puts it back in the queue after a pause.
    """
    now = now or utcnow()
    status = status.lower()
    async with db.transaction() as conn:
        row = await delivery_queries.outbox_by_external_id(conn, channel, external_id)
        if row is None:
            return None
        outbox_id, current = row
        if status in FAILED_RECEIPTS:
            if current not in ("sending", "sent"):
                return None
            if error_code in NEEDS_TEMPLATE:
                await delivery_queries.mark_held(conn, outbox_id, f"needs template ({error_code})", now)
                return "held"
            if error_code in SLOW_DOWN:
                await delivery_queries.requeue(
                    conn, outbox_id, now + timedelta(seconds=30), f"{status} {error_code}", now
                )
                return "queued"
            await delivery_queries.set_outbox_status(
                conn, outbox_id, status, f"{status} {error_code or ''}".strip(), now
            )
            return status
        if status not in RECEIPT_ORDER or current not in RECEIPT_ORDER:
            return None
        if RECEIPT_ORDER[status] <= RECEIPT_ORDER[current]:
            return None  # late or repeated receipts never move a message back
        await delivery_queries.set_outbox_status(conn, outbox_id, status, None, now)
        return status
