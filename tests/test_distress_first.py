"""Distress is checked first, on the whole text, and whatever apostrophe the keyboard types."""

from __future__ import annotations

import pytest

from bot.app import App
from tests.conftest import Chat


async def escalations(app: App) -> int:
    async with app.db.conn.execute("SELECT COUNT(*) FROM escalations") as cur:
        return (await cur.fetchone())[0]


async def test_a_too_long_message_still_reaches_a_person(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    text = "I want to kill myself tonight. " + "and everything is too much " * 160
    assert len(text) > app.settings.max_inbound_chars
    await chat.send(text)
    assert await escalations(app) == 1
    assert "too long" not in chat.texts


@pytest.mark.parametrize("text", ["I’m in danger", "Il m’a touché", "I`m in danger", "il mʼa forcé"])
async def test_curly_and_other_apostrophes_are_read_as_apostrophes(app: App, text: str) -> None:
    chat = Chat(app)
    await chat.onboard()
    await chat.send(text)
    said = chat.texts
    assert "Thank you for telling me" in said or await escalations(app) == 1, said
