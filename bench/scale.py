"""Scale-out: throughput and latency through webhooks with 1, 2 and 4 workers on PostgreSQL, and
1 worker on SQLite (#18).

Each worker is a real `python -m bot run` process, on Telegram by webhook. This process is the
load generator: it serves the fake Bot API the workers send to, and posts the users' updates
to the workers' webhooks, each user's messages to the workers in turn (as a load balancer
would), each after the whole answer to the one before (as a person waits). 70% of the
messages are taps on the last message's buttons, as learners mostly tap (bench.telegram).

It prints, per set-up: messages handled per second, the latency from posting a message to
its first reply (p50, p99), and the CPU seconds each process used (the workers, PostgreSQL's
server processes, this load generator), then the two goals: 2 workers >= 1.3x one on
PostgreSQL, and one PostgreSQL worker >= 0.5x one SQLite worker. All set-ups run in one go,
`--rounds` times in turn, so a machine busy for a while slows them alike; compare ratios.

    python -m bench.scale --users 100 --messages 20

Needs a PostgreSQL server at TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test)
whose user may create databases.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

from bench import Result, pooled
from bench.engine import SCRIPT
from bench.telegram import TAPS, BenchBotAPI, dry_run, plans
from tests.fake_telegram import BOT_USER, Call, free_port, running

SECRET = "bench-secret"
TICKS = os.sysconf("SC_CLK_TCK")
SETUPS = (("postgresql", 1), ("postgresql", 2), ("postgresql", 4), ("sqlite", 1))


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass
class Replies:
    """Each chat's reply times, as the fake Bot API receives them; wakes the waiting user."""

    times: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    events: dict[int, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))

    def on_send(self, call: Call) -> None:
        chat = int(call.params["chat_id"])
        self.times[chat].append(call.at)
        self.events[chat].set()

    async def until(self, chat: int, count: int) -> None:
        while len(self.times[chat]) < count:
            self.events[chat].clear()
            await self.events[chat].wait()


class Webhooks:
    """The users' updates, posted as Telegram posts them: again until a 200."""

    def __init__(self, ports: list[int]):
        limits = httpx.Limits(max_connections=100)
        self.clients = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", limits=limits, timeout=60, trust_env=False)
            for p in ports
        ]
        self.ids = itertools.count(1)

    async def post(self, worker: int, update: dict) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for _ in range(50):
            try:
                r = await self.clients[worker].post("/telegram/webhook", json=update, headers=headers)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
        raise SystemExit(f"a webhook to worker {worker} was never acknowledged")

    def text(self, chat: int, text: str) -> dict:
        user = {"id": chat, "is_bot": False, "first_name": f"User{chat}", "language_code": "en"}
        n = next(self.ids)
        message = {
            "message_id": n,
            "date": int(time.time()),
            "text": text,
            "chat": {"id": chat, "type": "private"},
        }
        return {"update_id": n, "message": message | {"from": user}}

    def tap(self, chat: int, fake: BenchBotAPI, index: int) -> dict:
        message_id, buttons = fake.last[chat]
        user = {"id": chat, "is_bot": False, "first_name": f"User{chat}", "language_code": "en"}
        n = next(self.ids)
        message = {"message_id": message_id, "date": int(time.time()), "text": "…", "from": BOT_USER}
        query = {
            "id": str(n),
            "from": user,
            "chat_instance": "ci",
            "data": buttons[min(index, len(buttons) - 1)],
        }
        return {
            "update_id": n,
            "callback_query": query | {"message": message | {"chat": {"id": chat, "type": "private"}}},
        }

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


def admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def new_postgres_database() -> tuple[str, str]:
    import psycopg

    name = f"clubspeak_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, urlparse(admin_url())._replace(path=f"/{name}").geturl()


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def healthy(client: httpx.AsyncClient) -> bool:
    try:
        r = await client.get("/healthz")
    except httpx.TransportError:
        return False
    return r.status_code == 200 and r.json().get("telegram", {}).get("connection") == "up"


@dataclass
class Figures:
    result: Result
    cpu: dict[str, float]


async def one_setup(
    tmp: Path, fake: BenchBotAPI, backend: str, workers: int, plan: list, counts: list, first_chat: int
) -> Figures:
    db_name = None
    if backend == "postgresql":
        db_name, url = new_postgres_database()
    else:
        url = f"sqlite:///{tmp / f'bench-{first_chat}.db'}"
    ports = [free_port() for _ in range(workers)]
    procs = []
    for i, port in enumerate(ports):
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PORT": str(port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_URL": fake.url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_MPS": "100000",  # rate limiting off: the bench measures the bot
            "MEDIA_DIR": str(tmp / "media"),
        }
        log = (tmp / f"worker-{backend}-{workers}-{i}.log").open("ab")
        worker = [sys.executable, "-m", "bot", "run"]
        procs.append(subprocess.Popen(worker, env=env, stdout=log, stderr=log))  # noqa: ASYNC220  # started once
        if i == 0 and backend == "postgresql":
            await asyncio.sleep(2)  # the first applies the migrations; the others find them done
    hooks = Webhooks(ports)
    try:
        deadline = time.monotonic() + 90
        for client in hooks.clients:
            while not await healthy(client):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{backend} x{workers}: a worker did not start (see {tmp})")
                await asyncio.sleep(0.2)
        replies = Replies()
        fake.on_send = replies.on_send
        pg = postgres_pids() if backend == "postgresql" else []
        before = {p.pid: cpu_seconds(p.pid) for p in procs} | {pid: cpu_seconds(pid) for pid in pg}
        own_before = time.process_time()
        latencies: list[float] = []

        async def user(n: int) -> None:
            chat = first_chat + n
            for i, button in enumerate(plan[n]):
                update = (
                    hooks.text(chat, SCRIPT[i % len(SCRIPT)])
                    if button is None
                    else hooks.tap(chat, fake, button)
                )
                had = len(replies.times[chat])
                sent = time.monotonic()
                await hooks.post((n + i) % workers, update)
                try:
                    await asyncio.wait_for(replies.until(chat, had + counts[n][i]), timeout=60)
                except TimeoutError:
                    raise SystemExit(
                        f"{backend} x{workers}: chat {chat}, message {i}: no full answer"
                    ) from None
                if counts[n][i]:
                    latencies.append(replies.times[chat][had] - sent)

        start = time.perf_counter()
        await asyncio.gather(*(user(n) for n in range(len(plan))))
        elapsed = time.perf_counter() - start
        cpu = {f"worker {i + 1}": cpu_seconds(p.pid) - before[p.pid] for i, p in enumerate(procs)}
        if pg:
            cpu["postgresql"] = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in postgres_pids())
        cpu["load generator"] = time.process_time() - own_before
        fake.on_send = None
        taps = sum(b is not None for p in plan for b in p)
        name = (
            f"{'PostgreSQL' if backend == 'postgresql' else 'SQLite'}, {workers} worker{'s' * (workers > 1)}"
        )
        return Figures(Result(name, sum(len(p) for p in plan), elapsed, latencies, taps), cpu)
    finally:
        await hooks.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if db_name:
            drop_postgres_database(db_name)


async def main(users: int, messages: int, taps: float, rounds: int, setups: tuple) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tappable, expected = await dry_run(Path(tmp), messages)
        plan = plans(tappable, users, taps)
        counts = [[expected[i][b is not None] for i, b in enumerate(p)] for p in plan]
        results: dict[tuple[str, int], list[Figures]] = defaultdict(list)
        async with running(BenchBotAPI()) as fake:
            chat = 1_000_000
            for _ in range(rounds):
                for backend, workers in setups:
                    figures = await one_setup(Path(tmp), fake, backend, workers, plan, counts, chat)
                    results[(backend, workers)].append(figures)
                    chat += users
    print(f"{users} users x {messages} messages ({round(taps * 100)}% taps), webhooks, {rounds} round(s)")
    print(f"{'set-up':<26}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}   CPU seconds per process")
    pooled_by = {}
    for key, figures in results.items():
        r = pooled([f.result for f in figures])
        pooled_by[key] = r
        cpu: dict[str, float] = defaultdict(float)
        for f in figures:
            for k, v in f.cpu.items():
                cpu[k] += v
        shown = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        p50, p99 = r.percentile(50) * 1000, r.percentile(99) * 1000
        print(f"{r.name:<26}{r.throughput:>8.1f}{p50:>9.0f}{p99:>9.0f}   {shown}")
    one, two = pooled_by.get(("postgresql", 1)), pooled_by.get(("postgresql", 2))
    lite = pooled_by.get(("sqlite", 1))
    if one and two:
        ratio = two.throughput / one.throughput
        verdict = "met" if ratio >= 1.3 else "NOT met"
        print(f"2 workers / 1 worker on PostgreSQL: {ratio:.2f}x (goal >= 1.3x): {verdict}")
    if one and lite:
        ratio = one.throughput / lite.throughput
        verdict = "met" if ratio >= 0.5 else "NOT met"
        print(f"1 PostgreSQL worker / 1 SQLite worker: {ratio:.2f}x (goal >= 0.5x): {verdict}")
    print(
        f"this machine has {os.cpu_count()} cores; PostgreSQL, the workers and this load generator share them"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--taps", type=float, default=TAPS)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts, comma-separated")
    args = parser.parse_args()
    chosen = (*(("postgresql", int(n)) for n in args.workers.split(",")), ("sqlite", 1))
    asyncio.run(main(args.users, args.messages, args.taps, args.rounds, chosen))
