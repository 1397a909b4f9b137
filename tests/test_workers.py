"""Several `python -m bot run` workers on one PostgreSQL database (#18): real processes.

- Webhooks spread across two workers: every message is handled once, in order per user, and
  each user's conversation is the one a single worker gives.
- `kill -9` of the worker that holds the sender role in the middle of a 5,000-member
  broadcast: the other takes the role over, nobody is missed, the only repeats are what was
  in flight, and the rate limit holds for the whole bot (counted at the fake Bot API).

PostgreSQL only: skipped, with the reason, when no server answers at TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bot.config import Settings
from tests.fake_telegram import Call, FakeBotAPI, free_port, running, wait_for
from tests.test_broadcast_crash import MEMBERS, invitations_queued
from tests.test_durable_inbox import SECRET, Process, healthy

USERS = 500
# The same ten messages from every user: typed button labels, so the conversation does not
# depend on the order a learner's options are shuffled in (it is shuffled per user id).
SCRIPT = (
    "/start",
    "English",
    "18–24",
    "I agree",
    "Quizzes",
    "Interests or positions?",
    "menu",
    "progress",
    "Lessons",
    "menu",
)
IN_FLIGHT = 32  # the Telegram sender's max_in_flight
MPS = 400  # the rate limit the test sets, for the whole bot


def worker_env(tmp: Path, url: str, fake: FakeBotAPI, port: int, webhook: bool, mps: int) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PORT": str(port),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_MPS": str(mps),
        "MEDIA_DIR": str(tmp / "media"),
    }
    if webhook:
        env |= {"PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "TELEGRAM_WEBHOOK_SECRET": SECRET}
    return env


@asynccontextmanager
async def workers(
    tmp: Path, url: str, fake: FakeBotAPI, webhook: bool, mps: int = 5000, n: int = 2
) -> AsyncIterator[list[tuple[Process, httpx.AsyncClient]]]:
    started = []
    for i in range(n):
        port = free_port()
        process = Process(worker_env(tmp, url, fake, port, webhook, mps), tmp, tmp / f"worker{i}.log")
        limits = httpx.Limits(max_connections=200)
        client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60, trust_env=False
        )
        process.start()
        started.append((process, client))
    try:
        for _, client in started:
            await wait_for(lambda c=client: healthy(c, "telegram"), within=60)
        yield started
    except BaseException:
        for i in range(n):  # what the workers said, in the failure's report
            lines = (tmp / f"worker{i}.log").read_text(errors="replace").splitlines()
            print(f"--- worker {i}, last lines of its log:", *lines[-40:], sep="\n")
        raise
    finally:
        for process, client in started:
            await client.aclose()
            if process.proc is not None and process.proc.poll() is None:
                process.kill(signal.SIGTERM)


def update(chat: int, n: int, text: str) -> dict:
    return {
        "update_id": chat * 100 + n,
        "message": {
            "message_id": n + 1,
            "date": 1_790_000_000,
            "text": text,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Ada", "language_code": "en"},
        },
    }


def shown(call: Call) -> tuple[str, tuple[str, ...]]:
    """What a user saw of one message: its text, and its buttons in any order."""
    markup = call.params.get("reply_markup")
    buttons = [b["text"] for row in json.loads(markup)["inline_keyboard"] for b in row] if markup else []
    return call.params["text"], tuple(sorted(buttons))


def transcripts(fake: FakeBotAPI) -> dict[int, list[tuple[str, tuple[str, ...]]]]:
    seen: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for call in fake.sent():
        seen[int(call.params["chat_id"])].append(shown(call))
    return seen


async def converse(client: httpx.AsyncClient, chat: int, n: int) -> None:
    """One message, delivered as Telegram does: again until it is acknowledged."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for _ in range(20):
        try:
            response = await client.post(
                "/telegram/webhook", json=update(chat, n, SCRIPT[n]), headers=headers
            )
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"message {n} of chat {chat} was never acknowledged")


async def test_two_workers_handle_each_message_once_in_order(tmp_path: Path, postgres_url: str) -> None:
    async with running(FakeBotAPI()) as fake, workers(tmp_path, postgres_url, fake, webhook=True) as pair:
        first = pair[0][1]
        # One worker alone: the conversation every user should have.
        for n in range(len(SCRIPT)):
            await converse(first, 1, n)
        await wait_for(lambda: len(fake.sent(1)) >= len(SCRIPT), within=60)
        await asyncio.sleep(1)
        expected = transcripts(fake)[1]

        # Then USERS users at once, each message to one worker or the other in turn, each
        # after the one before it was acknowledged (as Telegram delivers one chat's updates).
        async def user(chat: int) -> None:
            for n in range(len(SCRIPT)):
                await converse(pair[(chat + n) % 2][1], chat, n)

        chats = range(10_000, 10_000 + USERS)
        await asyncio.gather(*(user(chat) for chat in chats))

        def answered() -> bool:
            seen = transcripts(fake)
            return all(len(seen.get(chat, ())) >= len(expected) for chat in chats)

        await wait_for(answered, within=300)
        await asyncio.sleep(2)  # anything more would be a repeat
        seen = transcripts(fake)
        wrong = [chat for chat in chats if seen[chat] != expected]
        assert not wrong, (len(wrong), seen[wrong[0]], expected)
        reports = [(await client.get("/healthz")).json() for _, client in pair]
        assert reports[0]["roles"] == reports[1]["roles"], reports  # both see the same holders
        assert set(reports[0]["roles"].values()) <= {r["worker"] for r in reports}, reports


def most_in_a_second(calls: list[Call]) -> int:
    times = sorted(c.at for c in calls)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_the_sender_role_moves_when_its_worker_is_killed(tmp_path: Path, postgres_url: str) -> None:
    invitations_queued(tmp_path, Settings(database_url=postgres_url))

    async with running(FakeBotAPI()) as fake, workers(tmp_path, postgres_url, fake, False, mps=MPS) as pair:
        await wait_for(lambda: len(fake.sent()) >= MEMBERS // 4, within=120)
        report = (await pair[0][1].get("/healthz")).json()
        holder = report["roles"]["sender:telegram"]
        names = [(await client.get("/healthz")).json()["worker"] for _, client in pair]
        assert holder in names
        killed, (_, survivor) = (pair[0][0], pair[1]) if names[0] == holder else (pair[1][0], pair[0])
        killed.kill(signal.SIGKILL)
        killed_at = len(fake.sent())
        assert killed_at < MEMBERS  # it really died midway
        await wait_for(lambda: len({c.params["chat_id"] for c in fake.sent()}) >= MEMBERS, within=240)
        await asyncio.sleep(1)  # anything more would be a duplicate
        after = (await survivor.get("/healthz")).json()
        assert after["roles"]["sender:telegram"] == after["worker"]

    per_chat = Counter(int(c.params["chat_id"]) for c in fake.sent())
    assert set(per_chat) == {100_000 + n for n in range(MEMBERS)}  # nobody missed
    duplicates = sum(n - 1 for n in per_chat.values())
    assert duplicates <= 2 * IN_FLIGHT, duplicates  # only what was in flight when it died
    # One sender at a time, for the whole bot: its pace, plus one token of burst.
    assert most_in_a_second(fake.sent()) <= MPS + 2
