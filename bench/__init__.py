"""Benchmarks of the bot against the least a bot must do; README lists them and their goals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@contextlib.asynccontextmanager
async def tidy() -> AsyncIterator[None]:
    """Cancel, on the way out, the tasks started inside the block that are still pending.

    The inbox and the outbox sender wait for a wake-up in a task of their own; cancelling their
    loop leaves that task pending, and the interpreter would warn about each at exit.
    """
    before = asyncio.all_tasks()
    try:
        yield
    finally:
        current = asyncio.current_task()
        stray = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        for task in stray:
            task.cancel()
        await asyncio.gather(*stray, return_exceptions=True)


@dataclass
class Result:
    """One bot's run: how many messages in how long, and each one's latency."""

    name: str
    messages: int
    elapsed: float
    latencies: list[float]
    taps: int = 0

    @property
    def throughput(self) -> float:
        return self.messages / self.elapsed

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def pooled(results: list[Result]) -> Result:
    """All rounds of one bot as one: messages over the time they took, every latency."""
    return Result(
        results[0].name,
        sum(r.messages for r in results),
        sum(r.elapsed for r in results),
        [t for r in results for t in r.latencies],
        sum(r.taps for r in results),
    )
