"""Messages per second through `Engine.handle()`, with the outbox sender running, against a bare
aiosqlite loop at the same durability; then the process's memory as the users grow.

Both run in the same process, on the same kind of database file (WAL, the bot's PRAGMAS, the
same `synchronous` setting: FULL by default, as the bot runs), with N simulated users sending
M messages each. The bare loop does what the least possible bot must: one read and one write
transaction per message, each committed on its own. Ours runs as in production: each message
is a turn (its state, events and replies, all or nothing, in a savepoint of its own; the turns
that queue while one runs share its COMMIT, and none returns before that COMMIT is on disk),
and the real `OutboxSender` drains the replies meanwhile, through a fake transport that sends
instantly, claiming rows and marking them sent in transactions of its own: it competes for the
one writer as it does in production. The clock stops when every reply has reached the
transport. The maintenance task (WAL checkpoints off the message path) runs as in production.
The ratio (ours / bare) is the figure to watch; the goal (P3) is >= 0.5. Absolute numbers
depend on the machine (the bare loop, which waits for the disk at every message, on how fast
fsync is at the moment), so compare ratios, which come from one run.

Then memory: fresh users (a few messages each) go through the engine, the sender and the
maintenance task, and the process's resident memory is printed at 1k users and at each
doubling (VmRSS; its parts RssAnon, with Python's heap and SQLite's page caches, and RssFile,
with the libraries and the memory-mapped database; and what SQLite itself holds, from the
library). SQLite's page cache grows with the database up to its limit (64 MB a connection);
the rest should stay flat: the goal is flat within 20% once SQLite's caches are full.

    python -m bench.engine --users 50 --messages 40 --memory-users 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite

from bench import tidy
from bot.app import App
from bot.config import Settings
from bot.delivery.outbox import Delivery, OutboxSender
from bot.messages import Inbound, Outbound
from bot.storage.db import PRAGMAS
from bot.storage.maintenance import Maintenance

# A learner's realistic session: language, menu, a quiz, the exercise, menus.
SCRIPT = [
    *("hi", "3", "3", "1"),  # hello, English, 18–24, consent
    *("2", "1", "1", "2", "1"),  # Quizzes, the quiz, three answers
    *("menu", "1", "1", "1", "1", "1", "I feel worried, I need water"),  # the exercise
    *("progress", "menu", "3", "1", "next", "next", "next", "2", "1"),  # a lesson
]
CHANNEL = "bench"
# What production sets (bot/storage/db.py); the bench runs both loops at the same setting.
PRODUCTION_SYNCHRONOUS = next(p.split("=")[1] for p in PRAGMAS if p.startswith("PRAGMA synchronous="))


@dataclass
class InstantTransport:
    """Sends every message at once, and counts them."""

    channel: str = CHANNEL
    sent: int = 0
    target: int = 0  # wake `done` once this many are sent
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: Outbound) -> Delivery:
        self.sent += 1
        if self.target and self.sent >= self.target:
            self.done.set()
        return Delivery.sent()


@contextlib.asynccontextmanager
async def production(path: Path, synchronous: str):  # type: ignore[no-untyped-def]
    """The app with its outbox sender and maintenance running, as `python -m bot run` has them."""
    settings = Settings(database_url=f"sqlite:///{path}")
    async with tidy():
        app = await App.create(settings)
        await app.db.conn.execute(f"PRAGMA synchronous={synchronous}")
        transport = InstantTransport()
        sender = OutboxSender(app.db, transport, max_in_flight=32)
        app.engine.set_outbox_listener(lambda channel: sender.wake())
        tasks = [asyncio.create_task(sender.run()), asyncio.create_task(Maintenance(app.db, settings).run())]
        try:
            yield app, transport
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.close()


async def until_sent(transport: InstantTransport, replies: int) -> None:
    transport.target = replies
    if transport.sent < replies:
        await asyncio.wait_for(transport.done.wait(), timeout=60)
    transport.done.clear()


async def run_engine(path: Path, users: int, messages: int, synchronous: str) -> tuple[float, int]:
    """Messages per second, from the first message in to the last reply out; and the replies."""
    async with production(path, synchronous) as (app, transport):
        replies = 0

        async def learner(n: int) -> None:
            nonlocal replies
            for i in range(messages):
                text = SCRIPT[i % len(SCRIPT)]
                inbound = Inbound(CHANNEL, f"user-{n}", text=text, external_id=f"{n}-{i}")
                got = len(await app.engine.handle(inbound) or [])
                replies += got

        start = time.perf_counter()
        await asyncio.gather(*(learner(n) for n in range(users)))
        await until_sent(transport, replies)
        elapsed = time.perf_counter() - start
    return users * messages / elapsed, replies


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


def memory() -> dict[str, int]:
    """The process's resident memory in KiB: VmRSS and its parts, from /proc/self/status, and
    what SQLite holds (its page caches, mostly), from the library itself."""
    found = {}
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0])
    if "VmRSS" not in found:  # not Linux: the peak is what getrusage knows
        found["VmRSS"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if SQLITE is not None:
        found["SQLite"] = SQLITE.sqlite3_memory_used() // 1024
    return found


def sqlite_library() -> ctypes.CDLL | None:
    """The SQLite library Python's sqlite3 uses (the same one, already loaded), if it is shared."""
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
        library.sqlite3_memory_used.restype = ctypes.c_int64
    except (OSError, AttributeError):
        return None
    return library


SQLITE = sqlite_library()


def sizes(path: Path) -> tuple[int, int]:
    """The database file's size and its -wal file's, in bytes."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


def mib(kib: int) -> str:
    return f"{kib / 1024:6.1f} MiB"


async def run_memory(
    path: Path, users: int, messages: int, synchronous: str, budget: float, report: Callable[[str], None]
) -> None:
    """Fresh users, `messages` each, 50 at a time, until `users` or `budget` seconds; memory at
    1k users, then at each doubling, and at the end."""
    checkpoints = {1000 * 2**k for k in range(20)}
    async with production(path, synchronous) as (app, transport):
        replies = 0
        start = time.perf_counter()
        first: dict[str, int] | None = None

        async def learner(n: int) -> None:
            nonlocal replies
            for i in range(messages):
                inbound = Inbound(CHANNEL, f"m-{n}", text=SCRIPT[i % len(SCRIPT)], external_id=f"m{n}-{i}")
                got = len(await app.engine.handle(inbound) or [])
                replies += got

        done = 0
        while done < users:
            batch = min(50, users - done)
            await asyncio.gather(*(learner(done + n) for n in range(batch)))
            done += batch
            out_of_time = time.perf_counter() - start > budget
            if done in checkpoints or done >= users or out_of_time:
                await until_sent(transport, replies)
                now = memory()
                first = first or now
                database, wal = sizes(path)
                parts = "  ".join(f"{k} {mib(v)}" for k, v in now.items() if k != "VmRSS")
                rest = ""
                if "SQLite" in now:  # what is not SQLite's: Python's heap, the libraries, the mapped file
                    other, other_first = now["VmRSS"] - now["SQLite"], first["VmRSS"] - first["SQLite"]
                    rest = f"  without SQLite {mib(other)} ({other / other_first:.2f}x)"
                report(
                    f"{done:6d} users: VmRSS {mib(now['VmRSS'])} ({now['VmRSS'] / first['VmRSS']:.2f}x){rest}"
                    f"  {parts}  database {database / 2**20:.0f} MiB + WAL {wal / 2**20:.0f} MiB"
                )
            if out_of_time:
                report(f"(stopped at {done} users: the {budget:.0f} s budget is spent)")
                break


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40, help="messages per user")
    parser.add_argument(
        "--synchronous",
        choices=["NORMAL", "FULL"],
        default=PRODUCTION_SYNCHRONOUS,
        help=f"SQLite synchronous mode for both loops (default {PRODUCTION_SYNCHRONOUS}, as the bot runs: "
        "FULL fsyncs every commit, so it survives a power cut; NORMAL only a crash)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="bare loop then ours, this many times")
    parser.add_argument("--memory-users", type=int, default=20_000, help="users for the memory run (0: none)")
    parser.add_argument("--memory-messages", type=int, default=4, help="messages per user in the memory run")
    parser.add_argument("--memory-budget", type=float, default=60.0, help="seconds the memory run may take")
    args = parser.parse_args()
    durable = "survives a power cut" if args.synchronous == "FULL" else "survives a crash, NOT a power cut"
    production_note = "as production" if args.synchronous == PRODUCTION_SYNCHRONOUS else "NOT as production"
    print(
        f"users={args.users} messages/user={args.messages} rounds={args.rounds} "
        f"synchronous={args.synchronous} ({production_note}: {durable})"
    )
    print("ours: Engine.handle() with the outbox sender (fake instant transport) and maintenance running;")
    print("      turns that queue share a COMMIT, each in a savepoint; the bare loop commits each message")
    bare_runs, ours_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            bare_runs.append(
                await run_bare(Path(tmp) / f"bare{n}.db", args.users, args.messages, args.synchronous)
            )
            rate, replies = await run_engine(
                Path(tmp) / f"engine{n}.db", args.users, args.messages, args.synchronous
            )
            ours_runs.append(rate)
            print(
                f"  round {n + 1}: bare {bare_runs[-1]:6.0f} msg/s   ours {rate:6.0f} msg/s "
                f"({replies} replies sent)   ratio {rate / bare_runs[-1]:.2f}"
            )
        ratios = [o / b for o, b in zip(ours_runs, bare_runs, strict=True)]
        bare, ours = sorted(bare_runs)[len(bare_runs) // 2], sorted(ours_runs)[len(ours_runs) // 2]
        ratio = sorted(ratios)[len(ratios) // 2]
        print(f"bare aiosqlite loop (1 read + 1 write tx):          {bare:8.0f} msg/s (median)")
        print(f"Engine.handle() + outbox sender, replies all sent:  {ours:8.0f} msg/s (median)")
        spread = f" (rounds {min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        verdict = "met" if ratio >= 0.5 else "NOT met"
        print(f"P3 ratio engine/bare: {ratio:.2f} median{spread}   goal >= 0.5, same durability: {verdict}")
        if args.memory_users > 0:
            print(
                f"memory: {args.memory_users} fresh users, {args.memory_messages} messages each "
                f"(at most {args.memory_budget:.0f} s); goal: flat within 20% once SQLite's caches are full"
            )
            await run_memory(
                Path(tmp) / "memory.db",
                args.memory_users,
                args.memory_messages,
                args.synchronous,
                args.memory_budget,
                print,
            )


if __name__ == "__main__":
    asyncio.run(main())
