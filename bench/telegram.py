"""Telegram end to end, with taps: our bot against a bare PTB echo bot, on the same fake Bot API.

N simulated users each send M messages through PTB's real HTTP stack (long-polled
getUpdates in, sendMessage out) to a fake Bot API on loopback. Each user waits for
the whole answer to one message before sending the next, as a person does.

Learners mostly tap: by default 70% of the messages are taps (a callback query on a
button of the last message the bot sent that user) and 30% are typed. The learner's
script (bench.engine.SCRIPT) says what they answer; a step is tapped when the last
message has the button that answers it ("3" is the third button, "next" the Next
button), and the taps are drawn at random (seeded) among those steps, per user.

Both bots are run in the same process, one after the other, against the same fake
server, with the same HTTP pool and with rate limiting off for both. The echo bot
is the floor: PTB answering a typed message with one sendMessage, and a tap as PTB's
examples do, with answerCallbackQuery and then one sendMessage; its replies carry a
keyboard, as ours do, so that its users can tap too. Ours commits each update to its
inbox, reads and writes SQLite, runs the dialog, queues the outbox, answers the tap
and takes the tapped keyboard away (beside the engine, not before it), and shows
"typing" when a reply is slow; its maintenance task runs, as in production.

It prints, for both: throughput (messages handled per second) and the latency from
a message's arrival at the fake to its first reply (p50, p99), then the ratios, each
with its goal (P1: throughput >= 0.8x the echo bot, p50 and p99 <= 1.5x). The echo bot
and ours run in turn, `--rounds` times, and the figures pool the rounds, so that a machine
busy for a while slows both alike. Absolute numbers depend on the machine; compare the
ratios, which come from one run.

    python -m bench.telegram --users 20 --messages 25 --taps 0.7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler
from telegram.ext import filters as tg_filters
from telegram.request import HTTPXRequest

from bench import Result, pooled, tidy
from bench.engine import SCRIPT
from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.messages import Inbound, Outbound
from bot.storage.maintenance import Maintenance
from bot.web.server import make_senders
from tests.fake_telegram import BOT_USER, Call, FakeBotAPI, running

POLL_TIMEOUT = 1  # seconds; the fake answers a long poll as soon as an update arrives
TAPS = 0.7  # the share of messages that are taps, by default
SEED = 17
ECHO_BUTTONS = ("1", "2", "3")  # the echo bot's keyboard: a typical prompt's three choices

# One user's plan: for each message, None (typed) or the index of the button to tap.
Plan = list[int | None]
# For each message of the script: how many replies it gets typed, and tapped.
Expected = list[tuple[int, int]]


@dataclass
class BenchBotAPI(FakeBotAPI):
    """The fake Bot API, remembering each chat's last message (its id and its buttons) to tap on."""

    last: dict[int, tuple[int, list[str]]] = field(default_factory=dict)

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        result = await super()._result(method, params)
        if method in ("sendMessage", "sendPhoto"):
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            rows = (markup or {}).get("inline_keyboard", [])
            self.last[int(params["chat_id"])] = (
                result["message_id"],
                [b["callback_data"] for row in rows for b in row],
            )
        return result

    def push_tap_on(self, chat_id: int, index: int) -> None:
        """Tap the index-th button (or the last, if there are fewer) of the chat's last message."""
        message_id, buttons = self.last[chat_id]
        user = {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}", "language_code": "en"}
        self.updates.put_nowait(
            {
                "update_id": next(self._update_ids),
                "callback_query": {
                    "id": str(next(self._ids)),
                    "from": user,
                    "chat_instance": "ci",
                    "data": buttons[min(index, len(buttons) - 1)],
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "text": "…",
                        "chat": {"id": chat_id, "type": "private"},
                        "from": BOT_USER,
                    },
                },
            }
        )


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


def button_for(text: str, buttons: list[str]) -> int | None:
    """The button that answers `text` as typed ("2": the second; "next": the one whose id is
    next), or None when the message before has no such button (the step must be typed)."""
    if text.isdigit() and 1 <= int(text) <= len(buttons):
        return int(text) - 1
    ids = [b.partition(".")[2] for b in buttons]
    return ids.index(text.lower()) if text.lower() in ids else None


async def dry_run(tmp: Path, messages: int) -> tuple[list[int | None], Expected]:
    """Run the script through the engine twice, typed and tapped where a button answers it.

    Returns, for each message, the button that answers it (None: it cannot be a tap), and how
    many replies it gets typed and tapped (the script and the content are deterministic).
    """
    app = await App.create(Settings(database_url=f"sqlite:///{tmp / 'dry.db'}"))
    tappable: list[int | None] = []
    typed: list[int] = []
    tapped: list[int] = []
    last: dict[str, list[str]] = {"typed": [], "tapped": []}

    async def send(who: str, i: int, text: str | None, payload: str | None) -> list[Outbound]:
        # As the fake sends it: a first name and an English Telegram client.
        inbound = Inbound(
            "telegram",
            who,
            text=text,
            payload=payload,
            external_id=f"{who}-{i}",
            name="User",
            language_code="en",
        )
        out = await app.engine.handle(inbound) or []
        if out:
            last[who] = [c.id for c in out[-1].choices]
        return out

    for i in range(messages):
        text = SCRIPT[i % len(SCRIPT)]
        typed.append(len(await send("typed", i, text, None)))
        button = button_for(text, last["tapped"])
        tappable.append(button)
        if button is None:
            tapped.append(len(await send("tapped", i, text, None)))
        else:
            tapped.append(len(await send("tapped", i, None, last["tapped"][button])))
    await app.close()
    return tappable, list(zip(typed, tapped, strict=True))


def plans(tappable: list[int | None], users: int, share: float) -> list[Plan]:
    """Per user, taps drawn at random among the steps a button answers; `share` of all the
    messages in all (or every tappable step, if there are fewer)."""
    candidates = [i for i, b in enumerate(tappable) if b is not None]
    result = []
    for n in range(users):
        # Users differ by one tap at most, so that all of them together tap `share` of the time.
        want = round(share * (n + 1) * len(tappable)) - round(share * n * len(tappable))
        chosen = set(random.Random(SEED + n).sample(candidates, min(len(candidates), want)))
        result.append([tappable[i] if i in chosen else None for i in range(len(tappable))])
    return result


async def drive(
    name: str, fake: BenchBotAPI, plan: list[Plan], expected: list[list[int]], first_chat: int
) -> Result:
    replies = Replies()
    fake.on_send = replies.on_send
    latencies: list[float] = []

    async def user(n: int) -> None:
        chat = first_chat + n
        total = 0
        for i, button in enumerate(plan[n]):
            replies.first_at.pop(chat, None)
            sent_at = time.monotonic()
            if button is None:
                fake.push_text(chat, SCRIPT[i % len(SCRIPT)])
            else:
                fake.push_tap_on(chat, button)
            total += expected[n][i]
            try:
                await asyncio.wait_for(replies.until(chat, total), timeout=30)
            except TimeoutError:
                what = (
                    f"a tap on button {button + 1}" if button is not None else repr(SCRIPT[i % len(SCRIPT)])
                )
                raise SystemExit(
                    f"{name}: message {i} ({what}) from chat {chat}: "
                    f"{replies.counts[chat]} replies in all, expected {total}"
                ) from None
            if expected[n][i]:
                latencies.append(replies.first_at[chat] - sent_at)

    start = time.perf_counter()
    await asyncio.gather(*(user(n) for n in range(len(plan))))
    elapsed = time.perf_counter() - start
    fake.on_send = None
    taps = sum(b is not None for p in plan for b in p)
    return Result(name, sum(len(p) for p in plan), elapsed, latencies, taps)


def http() -> HTTPXRequest:
    return HTTPXRequest(connection_pool_size=32, httpx_kwargs={"trust_env": False})


Driver = Callable[[str, list[Plan], list[list[int]], int], Awaitable[Result]]


async def run_echo(url: str, token: str, driver: Driver, plan: list[Plan], first_chat: int) -> Result:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(b, callback_data=b)] for b in ECHO_BUTTONS])

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "…", reply_markup=keyboard)

    async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        await context.bot.send_message(query.message.chat.id, query.data or "…", reply_markup=keyboard)

    application: Application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{url}/bot")
        .request(http())
        .get_updates_request(http())
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(MessageHandler(tg_filters.ALL, echo))
    application.add_handler(CallbackQueryHandler(tapped))
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(timeout=POLL_TIMEOUT)
        await application.start()
        result = await driver("bare PTB echo bot", plan, [[1] * len(p) for p in plan], first_chat)
        await application.updater.stop()
        await application.stop()
    return result


async def run_ours(
    url: str, token: str, driver: Driver, db: Path, plan: list[Plan], expected: Expected, first_chat: int
) -> Result:
    settings = replace(
        Settings(database_url=f"sqlite:///{db}"),
        telegram_bot_token=token,
        telegram_api_url=url,
        public_base_url=None,
    )
    counts = [[expected[i][b is not None] for i, b in enumerate(p)] for p in plan]
    async with tidy():
        app = await App.create(settings)
        channel = TelegramChannel.create(settings, app)
        channel.poll_timeout = POLL_TIMEOUT
        runtime = replace(channel.runtime(), rate=None)  # rate limiting off, as for the echo bot
        senders = make_senders(app, [runtime])
        tasks = [asyncio.create_task(s.run()) for s in senders.values()]
        tasks.append(asyncio.create_task(app.inbox.run()))
        tasks.append(asyncio.create_task(Maintenance(app.db, settings).run()))  # as in production
        await channel.start()
        try:
            return await driver("Club Speak bot", plan, counts, first_chat)
        finally:
            await channel.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.close()


def fake_process(conn: Connection) -> None:
    """The fake Bot API and the simulated users, in their own process (spawned)."""

    async def serve() -> None:
        async with running(BenchBotAPI()) as fake:
            conn.send((fake.url, fake.token))
            loop = asyncio.get_running_loop()
            while (command := await loop.run_in_executor(None, conn.recv)) is not None:
                name, plan, counts, first_chat = command
                result = await drive(name, fake, plan, counts, first_chat)
                conn.send((result.messages, result.elapsed, result.latencies, result.taps))

    asyncio.run(serve())


async def in_own_process(
    tmp: Path, plan: list[Plan], expected: Expected, rounds: int
) -> tuple[list[Result], list[Result]]:
    context = multiprocessing.get_context("spawn")
    ours_end, theirs = context.Pipe()
    process = context.Process(target=fake_process, args=(theirs,), daemon=True)
    process.start()
    loop = asyncio.get_running_loop()
    try:
        url, token = await loop.run_in_executor(None, ours_end.recv)

        async def remote(name: str, plan: list[Plan], counts: list[list[int]], first: int) -> Result:
            ours_end.send((name, plan, counts, first))
            count, elapsed, latencies, taps = await loop.run_in_executor(None, ours_end.recv)
            return Result(name, count, elapsed, latencies, taps)

        results = await alternate(url, token, remote, tmp, plan, expected, rounds)
        ours_end.send(None)
        return results
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


async def alternate(
    url: str, token: str, driver: Driver, tmp: Path, plan: list[Plan], expected: Expected, rounds: int
) -> tuple[list[Result], list[Result]]:
    """The echo bot, then ours, `rounds` times: a machine busy for a while slows both alike."""
    echo, ours = [], []
    for n in range(rounds):
        first = 1_000_000 * (n + 1)  # new chats each round: new users for ours, new keyboards to tap
        echo.append(await run_echo(url, token, driver, plan, first))
        # The echo bot's last long poll may still wait inside the fake; let it expire
        # so that it cannot swallow our bot's first update.
        await asyncio.sleep(POLL_TIMEOUT + 0.5)
        ours.append(await run_ours(url, token, driver, tmp / f"round{n}.db", plan, expected, first + 500_000))
        await asyncio.sleep(POLL_TIMEOUT + 0.5)
    return echo, ours


@dataclass
class Ratios:
    throughput: float
    p50: float
    p99: float

    @classmethod
    def of(cls, echo: Result, ours: Result) -> Ratios:
        return cls(
            ours.throughput / echo.throughput,
            ours.percentile(50) / echo.percentile(50),
            ours.percentile(99) / echo.percentile(99),
        )


def report(result: Result) -> str:
    return (
        f"{result.name:<20} {result.throughput:8.1f} msg/s   "
        f"p50 {result.percentile(50) * 1000:7.1f} ms   p99 {result.percentile(99) * 1000:7.1f} ms"
    )


def goal(label: str, value: float, rounds: list[float], target: float, at_least: bool) -> str:
    met = value >= target if at_least else value <= target
    spread = f" (rounds {min(rounds):.2f}-{max(rounds):.2f})" if len(rounds) > 1 else ""
    sign = ">=" if at_least else "<="
    return f"P1 {label} ours/echo: {value:.2f}{spread}   goal {sign} {target}: {'met' if met else 'NOT met'}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated users")
    parser.add_argument("--messages", type=int, default=len(SCRIPT), help="messages per user")
    parser.add_argument("--taps", type=float, default=TAPS, help="share of messages that are taps (0 to 1)")
    parser.add_argument("--rounds", type=int, default=3, help="echo bot then ours, this many times")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run the fake Bot API in this process (it then shares the bots' CPU)",
    )
    args = parser.parse_args()
    if args.users < 1 or args.messages < 1 or args.rounds < 1:
        parser.error("--users, --messages and --rounds must be at least 1")
    if not 0 <= args.taps <= 1:
        parser.error("--taps is a share, from 0 to 1")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        tappable, expected = await dry_run(tmp, args.messages)
        plan = plans(tappable, args.users, args.taps)
        if args.same_process:
            async with running(BenchBotAPI()) as fake:

                async def local(name: str, plan: list[Plan], counts: list[list[int]], first: int) -> Result:
                    return await drive(name, fake, plan, counts, first)

                echoes, ours_runs = await alternate(
                    fake.url, fake.token, local, tmp, plan, expected, args.rounds
                )
        else:
            echoes, ours_runs = await in_own_process(tmp, plan, expected, args.rounds)
    echo, ours = pooled(echoes), pooled(ours_runs)
    ratios = Ratios.of(echo, ours)
    per_round = [Ratios.of(e, o) for e, o in zip(echoes, ours_runs, strict=True)]
    where = "in this process" if args.same_process else "in its own process, as Telegram is"
    print(f"fake Bot API and simulated users {where}; no rate limit")
    print(
        f"users={args.users} messages/user={args.messages} rounds={args.rounds} (echo, then ours, each round)"
    )
    print(
        f"taps: {ours.taps / ours.messages:.0%} of the messages (asked {args.taps:.0%}; "
        f"{sum(b is not None for b in tappable)} of the script's {len(tappable)} steps can be tapped), "
        "the rest typed"
    )
    print(report(echo))
    print(report(ours))
    print(goal("throughput", ratios.throughput, [r.throughput for r in per_round], 0.8, at_least=True))
    print(goal("p50 latency", ratios.p50, [r.p50 for r in per_round], 1.5, at_least=False))
    print(goal("p99 latency", ratios.p99, [r.p99 for r in per_round], 1.5, at_least=False))
    replies = [expected[i][b is not None] for p in plan for i, b in enumerate(p)]
    print(f"replies per message: ours {statistics.mean(replies):.2f} on average, echo 1")


if __name__ == "__main__":
    asyncio.run(main())
