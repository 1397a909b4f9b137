"""Thread hops per message: a turn's reads are made at its open, and nothing changes for it.

Counted, never timed: each call into aiosqlite's thread is one hop (about 50 µs on a busy
machine). A turn costs two (open and close); the reads its handlers usually make on the
screen it opens on are made in the first (`repo.open_turn`, `repo.TurnConn`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.core.engine import ReadsAhead
from bot.storage import repo
from bot.storage.db import Database
from tests.conftest import Chat


@contextlib.contextmanager
def counting_hops(app: App) -> Iterator[list[int]]:
    """Count the calls into the writer connection's thread while the block runs."""
    hops = [0]
    conn = app.db.conn
    # aiosqlite's door into its thread, or the PostgreSQL connection's (bot/storage/postgres.py).
    door = "in_thread" if hasattr(conn, "in_thread") else "_execute"
    original = getattr(conn, door)

    async def counted(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops[0] += 1
        return await original(fn, *args, **kwargs)

    setattr(conn, door, counted)
    try:
        yield hops
    finally:
        delattr(conn, door)


async def hops_for(app: App, chat: Chat, text: str | None = None, tap: int | None = None) -> int:
    with counting_hops(app) as hops:
        if tap is not None:
            await chat.tap(tap)
        else:
            await chat.send(text)
    return hops[0]


async def onboarded(app: App, address: str) -> Chat:
    chat = Chat(app, address=address)
    await chat.send("hi")
    await chat.tap("English")
    await chat.tap(3)  # 18–24
    await chat.tap("I agree")
    return chat


async def test_common_messages_take_two_hops(app: App) -> None:
    # A few learners first: the engine learns which reads turns on each screen make.
    for n in range(4):
        warm = await onboarded(app, f"warm-{n}")
        for _ in range(3):
            await warm.send("menu")
            await warm.tap("Quizzes")
            await warm.tap("Main menu")

    chat = await onboarded(app, "learner")
    assert await hops_for(app, chat, "menu") == 2  # the main menu: its reads were made at the open
    assert await hops_for(app, chat, tap=2) == 2  # Quizzes: the list, with the learner's progress
    assert await hops_for(app, chat, tap=1) == 3  # a quiz begins: one write of its own (start_module)
    assert await hops_for(app, chat, tap=1) == 2  # an answer
    assert await hops_for(app, chat, tap=2) == 2  # an answer


async def run_script(settings: Settings, ahead: bool) -> tuple[list[list[tuple[str, tuple[str, ...]]]], int]:
    """Three learners through onboarding, a quiz, the menus and a lesson: what each message got,
    and the hops it all took."""
    app = await App.create(settings)
    if not ahead:
        app.engine.reads_ahead.saw = lambda screen, reads: None  # type: ignore[method-assign]
    got = []
    try:
        with counting_hops(app) as hops:
            for n in range(3):
                chat = Chat(app, address=f"learner-{n}")
                for step in ("hi", 3, 3, 1, 2, 1, 1, 2, 1, "menu", 3, 2, "menu", 2, "progress", "menu", 1, 1):
                    replies = await (chat.tap(step) if isinstance(step, int) else chat.send(step))
                    got.append([(r.text, tuple(c.id for c in r.choices)) for r in replies])
    finally:
        await app.close()
    return got, hops[0]


async def test_reads_made_ahead_change_no_reply(settings: Settings, tmp_path: Path) -> None:
    replies, hops = await run_script(settings, ahead=True)
    plain_replies, plain_hops = await run_script(
        replace(settings, database_url=f"sqlite:///{tmp_path / 'plain.db'}"), ahead=False
    )
    assert replies == plain_replies
    assert hops < plain_hops


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = await Database.open(tmp_path / "t.db")
    yield database  # type: ignore[misc]
    await database.close()


async def test_a_read_made_ahead_is_not_used_once_the_turn_has_written(db: Database) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    sql = "SELECT language FROM users WHERE id = ?"
    reads = {None: ((sql, ("id",)),)}
    async with db.exclusive() as conn:
        opened = await repo.in_thread(conn, repo.open_turn, "console", "a", "m1", None, "en", at, None, reads)
        assert opened is not None
        user, _, _, ahead = opened
        assert [tuple(r) for r in ahead[(sql, (user.id,))]] == [(None,)]  # a new user: no language yet
        # A stand-in answer shows where the rows come from.
        ahead[(sql, (user.id,))] = [("made ahead",)]
        turn_conn = repo.TurnConn(conn, user, ahead)
        assert [tuple(r) for r in await turn_conn.execute_fetchall(sql, (user.id,))] == [("made ahead",)]
        assert turn_conn.hits == 1 and turn_conn.reads == {(sql, ("id",))}
        await repo.set_language(turn_conn, user.id, "fr")  # type: ignore[arg-type]
        assert [tuple(r) for r in await turn_conn.execute_fetchall(sql, (user.id,))] == [("fr",)]
        assert turn_conn.hits == 1
        await repo.in_thread(conn, repo.rollback)


async def test_only_reads_keyed_by_the_sender_are_learned(db: Database) -> None:
    async with db.exclusive() as conn:
        opened = await repo.in_thread(
            conn, repo.open_turn, "console", "b", "m1", None, "en", datetime(2026, 1, 1, tzinfo=UTC)
        )
        assert opened is not None
        user = opened[0]
        await repo.in_thread(conn, repo.rollback)
    assert repo.as_read("SELECT 1 FROM users WHERE id = ?", (user.id,), user) == (
        "SELECT 1 FROM users WHERE id = ?",
        ("id",),
    )
    assert repo.as_read("SELECT 1 FROM events WHERE actor = ?", (user.pseudonym,), user) is not None
    assert repo.as_read("SELECT 1 FROM events WHERE at >= ?", ("2026-01-01",), user) is None
    assert repo.as_read("UPDATE users SET stopped = 1 WHERE id = ?", (user.id,), user) is None
    assert repo.as_read("SELECT random() FROM users WHERE id = ?", (user.id,), user) is None
    assert repo.as_read("SELECT 1 FROM users WHERE id = ?", (str(user.id),), user) is None


def test_a_screen_makes_ahead_what_half_its_turns_read() -> None:
    learned = ReadsAhead()
    often, rarely = ("SELECT a FROM t WHERE id = ?", ("id",)), ("SELECT b FROM t WHERE id = ?", ("id",))
    for n in range(16):
        learned.saw("menu", {often, rarely} if n % 4 == 0 else {often})
    assert learned.plan == {"menu": (often,)}
    for _ in range(600):  # what turns on a screen read changes: the plan follows
        learned.saw("menu", {rarely})
    assert learned.plan == {"menu": (rarely,)}
    small = ReadsAhead(most_screens=2)
    for screen in ("a", "b", "c"):
        for _ in range(4):
            small.saw(screen, {often})
    assert set(small.plan) == {"a", "b"}
