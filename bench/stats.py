"""Dashboard query time at 100,000 and at 1,000,000 events.

It seeds synthetic activity (the demo-data generator) until the events table holds about 100k
rows, times every query the dashboard page runs (the summary and the per-club sessions), then
grows the table to about 1M rows and times them again. It prints both times and their ratio;
the goal is at most 10x for 10x the data.

    python -m bench.stats
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.app import App
from bot.config import Settings
from bot.messages import utcnow
from bot.stats import demo
from bot.stats import metrics as stats
from bot.storage import repo


async def events(app: App) -> int:
    async with app.db.conn.execute("SELECT COUNT(*) FROM events") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def grow(app: App, target: int, seed: int) -> int:
    """Add demo learners (about 55 events each) until the table holds `target` events."""
    while (have := await events(app)) < target:
        users = max(100, min(20_000, (target - have) // 55))
        async with app.db.exclusive() as conn:
            await repo.in_thread(conn, demo.seed, users, utcnow(), 60, seed)
        seed += 1
    return await events(app)


async def time_dashboard(app: App, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        async with app.db.exclusive() as conn:
            f = stats.Filters()
            stats.present(await stats.summary(conn, f))
            await stats.sessions_by_club(conn, f)
        best = min(best, time.perf_counter() - start)
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="the best of this many runs is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = await App.create(Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}"))
        small = await grow(app, args.small, 1)
        await app.db.checkpoint("TRUNCATE")  # the bot's maintenance task does this when idle
        t_small = await time_dashboard(app, args.rounds)
        large = await grow(app, args.large, 1000)
        await app.db.checkpoint("TRUNCATE")
        t_large = await time_dashboard(app, args.rounds)
        await app.close()
    print(f"dashboard queries at {small:,} events: {t_small * 1000:8.1f} ms")
    print(f"dashboard queries at {large:,} events: {t_large * 1000:8.1f} ms")
    print(f"ratio: {t_large / t_small:.1f}x for {large / small:.1f}x the events (goal <= 10x)")


if __name__ == "__main__":
    asyncio.run(main())
