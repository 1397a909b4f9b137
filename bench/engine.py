"""Messages per second through `Engine.handle()`, against a bare aiosqlite loop.

Both run in the same process, on the same kind of database file (WAL, the same
`synchronous` setting), with N simulated users sending M messages each. The
bare loop does what the least possible bot must: one read and one write
transaction per message. The ratio (ours / bare) is the figure to watch; the
goal is >= 0.5. Absolute numbers depend on the machine, so compare ratios.

    python -m bench.engine --users 50 --messages 40
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiosqlite

from bot.app import App
from bot.config import Settings
from bot.messages import Inbound
from bot.storage.db import PRAGMAS

# A learner's realistic session: language, menu, a quiz, the exercise, menus.
SCRIPT = [
    *("hi", "3", "3", "1"),  # hello, English, 18–24, consent
    *("2", "1", "1", "2", "1"),  # Quizzes, the quiz, three answers
    *("menu", "1", "1", "1", "1", "1", "I feel worried, I need water"),  # the exercise
    *("progress", "menu", "3", "1", "next", "next", "next", "2", "1"),  # a lesson
]


async def run_engine(path: Path, users: int, messages: int, synchronous: str) -> float:
    app = await App.create(Settings(database_url=f"sqlite:///{path}"))
    await app.db.conn.execute(f"PRAGMA synchronous={synchronous}")

    async def learner(n: int) -> None:
        for i in range(messages):
            text = SCRIPT[i % len(SCRIPT)]
            await app.engine.handle(Inbound("bench", f"user-{n}", text=text, external_id=f"{n}-{i}"))

    start = time.perf_counter()
    await asyncio.gather(*(learner(n) for n in range(users)))
    elapsed = time.perf_counter() - start
    await app.close()
    return users * messages / elapsed


async def run_bare(path: Path, users: int, messages: int, synchronous: str) -> float:
    conn = await aiosqlite.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        await conn.execute(pragma)
    await conn.execute(f"PRAGMA synchronous={synchronous}")
    await conn.execute("CREATE TABLE state (user TEXT PRIMARY KEY, step INTEGER NOT NULL)")
    lock = asyncio.Lock()

    async def learner(n: int) -> None:
        for i in range(messages):
            async with lock:
                async with conn.execute("SELECT step FROM state WHERE user = ?", (f"user-{n}",)) as cur:
                    await cur.fetchone()
                await conn.execute("BEGIN IMMEDIATE")
                await conn.execute(
                    "INSERT INTO state (user, step) VALUES (?, ?) ON CONFLICT (user) DO UPDATE SET step = ?",
                    (f"user-{n}", i, i),
                )
                await conn.execute("COMMIT")

    start = time.perf_counter()
    await asyncio.gather(*(learner(n) for n in range(users)))
    elapsed = time.perf_counter() - start
    await conn.close()
    return users * messages / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40, help="messages per user")
    parser.add_argument(
        "--synchronous",
        choices=["NORMAL", "FULL"],
        default="FULL",
        help="SQLite synchronous mode for both runs (FULL, the bot's setting, fsyncs every commit)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = await run_bare(Path(tmp) / "bare.db", args.users, args.messages, args.synchronous)
        ours = await run_engine(Path(tmp) / "engine.db", args.users, args.messages, args.synchronous)
    print(f"users={args.users} messages/user={args.messages} synchronous={args.synchronous}")
    print(f"bare aiosqlite loop (1 read + 1 write tx): {bare:8.0f} msg/s")
    print(f"Engine.handle():                           {ours:8.0f} msg/s")
    print(f"ratio engine/bare: {ours / bare:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    asyncio.run(main())
