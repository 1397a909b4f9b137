"""A task that does what is due, then sleeps until the next thing is due or it is woken.

Club reminders and spaced recall are both such tasks. A failed round is logged and tried
again later: one bad row, or a database that refuses a write for a while, must not stop
the task for good (a stopped scheduler would send no reminder, and say nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

log = logging.getLogger(__name__)

AFTER_FAILURE = 5.0  # seconds before a failed round is tried again


async def run_when_due(
    name: str,
    run_once: Callable[[], Awaitable[object]],
    next_due: Callable[[], Awaitable[datetime | None]],
    wake: asyncio.Event,
    clock: Callable[[], datetime],
    max_sleep: float,
) -> None:
    """Run rounds for ever; cancel the task to stop. `wake` cuts a sleep short."""
    while True:
        wake.clear()
        delay = max_sleep
        try:
            await run_once()
            upcoming = await next_due()
            if upcoming is not None:
                delay = max(0.0, min(max_sleep, (upcoming - clock()).total_seconds()))
        except Exception:
            log.exception("%s failed; trying again in %.0fs", name, AFTER_FAILURE)
            delay = AFTER_FAILURE
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)
