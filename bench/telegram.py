"""Telegram end to end: our bot against a bare PTB echo bot, on the same fake Bot API.

N simulated users each send M messages through PTB's real HTTP stack (long-polled
getUpdates in, sendMessage out) to a fake Bot API on loopback. Each user waits for
the whole answer to one message before sending the next, as a person does.

Both bots are run in the same process, one after the other, against the same fake
server, with the same HTTP pool and with rate limiting off for both. The echo bot
is the floor: PTB answering each message with one sendMessage. Ours reads and
writes SQLite, runs the dialog, queues the outbox and shows "typing".

It prints, for both: throughput (messages handled per second) and the latency from
a message's arrival at the fake to its first reply (p50, p99), then the ratios.
The goals are a throughput ratio >= 0.8 and a p99 ratio <= 1.5. Absolute numbers
depend on the machine; compare the ratios, which come from one run.

    python -m bench.telegram --users 20 --messages 26
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from bench.engine import SCRIPT
from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.messages import Inbound
from bot.web.server import make_senders
from tests.fake_telegram import Call, FakeBotAPI, running

POLL_TIMEOUT = 1  # seconds; the fake answers a long poll as soon as an update arrives


@dataclass
class Result:
    name: str
    messages: int
    elapsed: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.messages / self.elapsed

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Replies:
    """Counts replies per chat as the fake receives them, and wakes the waiting user."""

    counts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    first_at: dict[int, float] = field(default_factory=dict)
    events: dict[int, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))

    def on_send(self, call: Call) -> None:
        chat = int(call.params["chat_id"])
        self.counts[chat] += 1
        self.first_at.setdefault(chat, call.at)
        self.events[chat].set()

    async def until(self, chat: int, count: int) -> None:
        while self.counts[chat] < count:
            self.events[chat].clear()
            await self.events[chat].wait()


async def replies_per_message(tmp: Path, messages: int) -> list[int]:
    """How many replies each message of the script gets (the script is deterministic)."""
    app = await App.create(Settings(database_url=f"sqlite:///{tmp / 'dry.db'}"))
    counts = []
    for i in range(messages):
        # As the fake sends it: a first name and an English Telegram client.
        text = SCRIPT[i % len(SCRIPT)]
        inbound = Inbound("telegram", "1", text=text, external_id=str(i), name="User1", language_code="en")
        counts.append(len(await app.engine.handle(inbound) or []))
    await app.close()
    return counts


async def drive(
    name: str, fake: FakeBotAPI, users: int, messages: int, expected: list[int], first_chat: int
) -> Result:
    replies = Replies()
    fake.on_send = replies.on_send
    latencies: list[float] = []

    async def user(chat: int) -> None:
        total = 0
        for i in range(messages):
            replies.first_at.pop(chat, None)
            sent_at = time.monotonic()
            fake.push_text(chat, SCRIPT[i % len(SCRIPT)])
            total += expected[i]
            try:
                await asyncio.wait_for(replies.until(chat, total), timeout=30)
            except TimeoutError:
                raise SystemExit(
                    f"{name}: message {i} ({SCRIPT[i % len(SCRIPT)]!r}) from chat {chat}: "
                    f"{replies.counts[chat]} replies in all, expected {total}"
                ) from None
            if expected[i]:
                latencies.append(replies.first_at[chat] - sent_at)

    start = time.perf_counter()
    await asyncio.gather(*(user(first_chat + n) for n in range(users)))
    elapsed = time.perf_counter() - start
    fake.on_send = None
    return Result(name, users * messages, elapsed, latencies)


def http() -> HTTPXRequest:
    return HTTPXRequest(connection_pool_size=32, httpx_kwargs={"trust_env": False})


Driver = Callable[[str, int, int, list[int], int], Awaitable[Result]]


async def run_echo(url: str, token: str, driver: Driver, users: int, messages: int) -> Result:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "…")

    application: Application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{url}/bot")
        .request(http())
        .get_updates_request(http())
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(MessageHandler(filters.ALL, echo))
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(timeout=POLL_TIMEOUT)
        await application.start()
        result = await driver("bare PTB echo bot", users, messages, [1] * messages, 10_000)
        await application.updater.stop()
        await application.stop()
    return result


async def run_ours(
    url: str, token: str, driver: Driver, tmp: Path, users: int, messages: int, expected: list[int]
) -> Result:
    settings = replace(
        Settings(database_url=f"sqlite:///{tmp / 'bench.db'}"),
        telegram_bot_token=token,
        telegram_api_url=url,
        public_base_url=None,
    )
    app = await App.create(settings)
    channel = TelegramChannel.create(settings, app)
    channel.poll_timeout = POLL_TIMEOUT
    runtime = replace(channel.runtime(), rate=None)  # rate limiting off, as for the echo bot
    senders = make_senders(app, [runtime])
    tasks = [asyncio.create_task(s.run()) for s in senders.values()]
    tasks.append(asyncio.create_task(app.inbox.run()))
    await channel.start()
    try:
        return await driver("Club Speak bot", users, messages, expected, 20_000)
    finally:
        await channel.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.close()


def fake_process(conn: Connection) -> None:
    """The fake Bot API and the simulated users, in their own process (spawned)."""

    async def serve() -> None:
        async with running(FakeBotAPI()) as fake:
            conn.send((fake.url, fake.token))
            loop = asyncio.get_running_loop()
            while (command := await loop.run_in_executor(None, conn.recv)) is not None:
                name, users, messages, expected, first_chat = command
                result = await drive(name, fake, users, messages, expected, first_chat)
                conn.send((result.messages, result.elapsed, result.latencies))

    asyncio.run(serve())


async def in_own_process(tmp: Path, users: int, messages: int, expected: list[int]) -> tuple[Result, Result]:
    context = multiprocessing.get_context("spawn")
    ours_end, theirs = context.Pipe()
    process = context.Process(target=fake_process, args=(theirs,), daemon=True)
    process.start()
    loop = asyncio.get_running_loop()
    try:
        url, token = await loop.run_in_executor(None, ours_end.recv)

        async def remote(name: str, n_users: int, n_messages: int, exp: list[int], first: int) -> Result:
            ours_end.send((name, n_users, n_messages, exp, first))
            count, elapsed, latencies = await loop.run_in_executor(None, ours_end.recv)
            return Result(name, count, elapsed, latencies)

        echo = await run_echo(url, token, remote, users, messages)
        await asyncio.sleep(POLL_TIMEOUT + 0.5)  # the echo bot's last long poll expires
        ours = await run_ours(url, token, remote, tmp, users, messages, expected)
        ours_end.send(None)
        return echo, ours
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def report(result: Result) -> str:
    return (
        f"{result.name:<20} {result.throughput:8.1f} msg/s   "
        f"p50 {result.percentile(50) * 1000:7.1f} ms   p99 {result.percentile(99) * 1000:7.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated users")
    parser.add_argument("--messages", type=int, default=len(SCRIPT), help="messages per user")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run the fake Bot API in this process (it then shares the bots' CPU)",
    )
    args = parser.parse_args()
    if args.users < 1 or args.messages < 1:
        parser.error("--users and --messages must be at least 1")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        expected = await replies_per_message(tmp, args.messages)
        if args.same_process:
            async with running(FakeBotAPI()) as fake:

                async def local(name: str, users: int, messages: int, exp: list[int], first: int) -> Result:
                    return await drive(name, fake, users, messages, exp, first)

                echo = await run_echo(fake.url, fake.token, local, args.users, args.messages)
                # The echo bot's last long poll may still wait inside the fake; let it expire
                # so that it cannot swallow our bot's first update.
                await asyncio.sleep(POLL_TIMEOUT + 0.5)
                ours = await run_ours(fake.url, fake.token, local, tmp, args.users, args.messages, expected)
        else:
            echo, ours = await in_own_process(tmp, args.users, args.messages, expected)
    where = "in this process" if args.same_process else "in its own process, as Telegram is"
    print(f"fake Bot API and simulated users {where}")
    print(f"users={args.users} messages/user={args.messages} (fake Bot API on loopback, no rate limit)")
    print(report(echo))
    print(report(ours))
    print(f"throughput ratio ours/echo: {ours.throughput / echo.throughput:.2f} (goal >= 0.8)")
    print(f"p99 latency ratio ours/echo: {ours.percentile(99) / echo.percentile(99):.2f} (goal <= 1.5)")
    print(f"median replies per message: ours {statistics.median(expected):.0f}, echo 1")


if __name__ == "__main__":
    asyncio.run(main())
