"""Private chats only: in a group, supergroup or channel the bot points to a private chat once,
leaves, and stores nothing about anyone there."""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
import time
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from tests.fake_telegram import FakeBotAPI, running, wait_for
from tests.test_telegram import bot_running

GROUPS = {-42: "group", -100123: "supergroup", -100999: "channel"}
UPDATE_IDS = itertools.count(10_000)


def group_update(update_id: int, chat_id: int, kind: str, text: str) -> dict:
    message = {
        "message_id": update_id,
        "date": int(time.time()),
        "text": text,
        "chat": {"id": chat_id, "type": kind, "title": "Club"},
    }
    if kind == "channel":
        return {"update_id": update_id, "channel_post": message}
    sender = {"id": 555, "is_bot": False, "first_name": "Grace", "language_code": "fr"}
    return {"update_id": update_id, "message": {**message, "from": sender}}


async def test_groups_and_channels_get_one_pointer_and_the_bot_leaves(settings: Settings) -> None:
    async with running(FakeBotAPI()) as fake, bot_running(settings, fake) as (app, _, _):
        n = 5000
        for chat_id, kind in GROUPS.items():
            for text in ("/mydata", "language", "delete"):  # twice and more: one pointer only
                n += 1
                fake.updates.put_nowait(group_update(n, chat_id, kind, text))
        fake.push_text(777, "hello")  # a private chat still works
        await wait_for(lambda: fake.sent(777))
        await wait_for(lambda: len([c for c in fake.calls if c.method == "leaveChat"]) == len(GROUPS))
        await asyncio.sleep(0.3)
        async with app.db.conn.execute("SELECT channel, address FROM users") as cur:
            users = [tuple(r) for r in await cur.fetchall()]
        async with app.db.conn.execute("SELECT COUNT(*) FROM events WHERE channel = 'telegram'") as cur:
            events = (await cur.fetchone())[0]
    left = sorted(int(c.params["chat_id"]) for c in fake.calls if c.method == "leaveChat")
    assert left == sorted(GROUPS)
    for chat_id in GROUPS:
        told = fake.sent(chat_id)
        assert len(told) == 1, told
        assert "t.me/ClubSpeakBot" in told[0].params["text"]
    assert "privée" in fake.sent(-42)[0].params["text"]  # in the sender's language (fr)
    assert users == [("telegram", "777")]  # nothing about the group or its members
    assert events > 0


KINDS = ("private", "group", "supergroup", "channel")
TEXTS = ("hello", "/mydata", "mydata", "language", "delete", "1", "help", "/start club_ABCDE", "stop")


def any_update(update_id: int, kind: str, who: int, text: str) -> dict:
    if kind == "private":
        user = {"id": 900 + who, "is_bot": False, "first_name": f"Person{who}Q", "language_code": "en"}
        chat = {"id": 900 + who, "type": "private", "first_name": user["first_name"]}
        message = {
            "message_id": update_id,
            "date": int(time.time()),
            "text": text,
            "chat": chat,
            "from": user,
        }
        return {"update_id": update_id, "message": message}
    chat_id = {"group": -42, "supergroup": -100123, "channel": -100999}[kind]
    update = group_update(update_id, chat_id, kind, text)
    if "message" in update:
        update["message"]["from"] = {"id": 900 + who, "is_bot": False, "first_name": f"Person{who}Q"}
    return update


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 3), st.sampled_from(TEXTS)), min_size=1, max_size=12
    )
)
async def test_nothing_personal_reaches_another_chat(settings: Settings, updates: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # a new database for each example
        fresh = replace(settings, database_url=f"sqlite:///{tmp}/bot.db")
        fake = await exchange(fresh, updates)
    for call in fake.sent():
        to = int(call.params["chat_id"])
        text = call.params.get("text", "") + call.params.get("caption", "")
        for who in range(4):
            if 900 + who != to:  # someone else's name or id never reaches this chat
                assert f"Person{who}Q" not in text, (to, text)
                assert not re.search(rf"\b{900 + who}\b", text), (to, text)
    groups = {int(c.params["chat_id"]) for c in fake.sent() if int(c.params["chat_id"]) < 0}
    assert all(len(fake.sent(g)) == 1 for g in groups)


async def exchange(settings: Settings, updates: list) -> FakeBotAPI:
    async with running(FakeBotAPI()) as fake, bot_running(settings, fake, webhook=True) as (app, _, web):
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        for kind, who, text in updates:
            update = any_update(next(UPDATE_IDS), kind, who, text)
            assert (await web.post("/telegram/webhook", json=update, headers=headers)).status_code == 200
        await app.inbox.run_once()
        await asyncio.sleep(0.5)  # the senders deliver what the turns queued
    return fake
