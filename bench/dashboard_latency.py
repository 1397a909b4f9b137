"""A learner's reply latency, idle and while the dashboard loads, at about 1,000,000 events.

It grows the events table with the demo-data generator (as bench/stats.py does), then has
learners tap through onboarding, a quiz, an exercise and a lesson (bench/engine.py's script),
timing every `Engine.handle()`: first with nothing else running, then while the dashboard
page's queries run in a loop through a reader connection. Checkpoints run beside them, as
in `python -m bot run`. It prints p50 and p99 of both and the ratio of the p99s; the goal
is within 2x. `--through-writer` adds a third run with the dashboard on the writer's lock,
as it was before readers had their own connections.

    python -m bench.dashboard_latency
    python -m bench.dashboard_latency --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiosqlite

from bench.engine import SCRIPT
from bench.stats import grow
from bot.app import App
from bot.config import Settings
from bot.messages import Inbound
from bot.stats import metrics as stats
from bot.storage.maintenance import Maintenance

Connect = Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]


class Learners:
    """New learners, `concurrent` at a time, each working through SCRIPT; every reply timed."""

    def __init__(self, app: App, concurrent: int):
        self.app = app
        self.concurrent = concurrent
        self.started = 0

    async def _one(self, times: list[float]) -> None:
        self.started += 1
        address = f"bench-{self.started}"
        for i, text in enumerate(SCRIPT):
            start = time.perf_counter()
            await self.app.engine.handle(Inbound("bench", address, text=text, external_id=f"{address}-{i}"))
            times.append(time.perf_counter() - start)

    async def run(self, messages: int, until: Callable[[], bool] = lambda: True) -> list[float]:
        """At least `messages` replies, and on until `until()` says enough."""
        times: list[float] = []
        while len(times) < messages or not until():
            await asyncio.gather(*(self._one(times) for _ in range(self.concurrent)))
        return times


async def dashboard_loop(connect: Connect, loads: list[float], stop: asyncio.Event) -> None:
    """The dashboard page's queries, again and again, until `stop`."""
    while not stop.is_set():
        start = time.perf_counter()
        async with connect() as conn:
            f = stats.Filters()
            stats.present(await stats.summary(conn, f))
            await stats.sessions_by_club(conn, f)
        loads.append(time.perf_counter() - start)


async def under_load(
    app: App, learners: Learners, messages: int, connect: Connect
) -> tuple[list[float], int]:
    """Replies timed while the dashboard loops; at least two whole dashboard loads overlap them."""
    loads: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(dashboard_loop(connect, loads, stop))
    await asyncio.sleep(0)  # the first load is under way before the first message
    try:
        times = await learners.run(messages, until=lambda: len(loads) >= 2)
    finally:
        stop.set()
        await task
    return times, len(loads)


def percentiles(times: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(times, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


@contextlib.asynccontextmanager
async def maintained(app: App) -> AsyncIterator[None]:
    maintenance = Maintenance(app.db, app.settings)
    await maintenance.prune()  # what the bot does at start, done before the clock runs
    task = asyncio.create_task(maintenance.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="grow the events table to about this")
    parser.add_argument("--messages", type=int, default=600, help="replies timed in each run, at least")
    parser.add_argument("--learners", type=int, default=4, help="learners writing at the same time")
    parser.add_argument("--through-writer", action="store_true", help="also time the old shared lock")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = await App.create(Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}"))
        try:
            events = await grow(app, args.events, 1)
            await app.db.checkpoint("TRUNCATE")  # the seeding's WAL, so both runs start alike
            learners = Learners(app, args.learners)
            async with maintained(app):
                await learners.run(len(SCRIPT) * args.learners)  # warm the caches
                idle = await learners.run(args.messages)
                busy, loads = await under_load(app, learners, args.messages, app.db.reader)
                shared = None
                if args.through_writer:
                    shared = await under_load(app, learners, args.messages, app.db.exclusive)
        finally:
            await app.close()
    print(f"{events:,} events, {args.learners} learners at a time, Engine.handle() latency:")
    rows = [("idle", idle, None), ("dashboard via reader", busy, loads)]
    if shared:
        rows.append(("dashboard via writer lock", *shared))
    for name, times, n in rows:
        p50, p99 = percentiles(times)
        extra = f" ({n} dashboard loads meanwhile)" if n is not None else ""
        print(f"  {name:26} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  n={len(times)}{extra}")
    ratio = percentiles(busy)[1] / percentiles(idle)[1]
    print(f"p99 with the dashboard / idle: {ratio:.2f}x (goal <= 2x)")


if __name__ == "__main__":
    asyncio.run(main())
