"""Shared fixtures: a real bot on a real database, SQLite or PostgreSQL.

The `settings` fixture runs each test that uses it on both backends: on a SQLite file in a
temporary directory, and on a new database made for the test on the PostgreSQL server at
TEST_POSTGRES_URL (dropped afterwards). With no server there, the PostgreSQL runs are skipped
with the reason; TEST_BACKENDS=sqlite runs SQLite's alone. A test that is about SQLite itself
(its files, WAL, pragmas) is marked `@pytest.mark.sqlite_only("why")`.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from bot.app import App
from bot.config import Settings
from bot.messages import Inbound, Outbound

# The sample modules the engine tests walk: one per track, so that finishing one finishes its
# track. The curriculum can grow without changing these tests; tests/test_curriculum.py
# walks the real, full dialogs directory.
SAMPLE_DIALOGS = [
    "system/welcome.yaml",
    "system/help.yaml",
    "exercises/water_point.yaml",
    "quizzes/interests_positions.yaml",
    "lessons/abunzi.yaml",
]


TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [b.strip() for b in os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself; it is not run on PostgreSQL"
    )


class PostgresServer:
    """The server at TEST_POSTGRES_URL: one migrated template, and a copy of it per test."""

    def __init__(self) -> None:
        self.admin: Any = None
        self.unreachable: str | None = None
        self.template: str | None = None

    def connect(self) -> None:
        import psycopg

        try:
            self.admin = psycopg.connect(TEST_POSTGRES_URL, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as exc:
            shown = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", TEST_POSTGRES_URL)  # no password shown
            self.unreachable = f"no PostgreSQL server reachable at TEST_POSTGRES_URL={shown}: " + " ".join(
                str(exc).split()
            )

    def url(self, name: str) -> str:
        return urlparse(TEST_POSTGRES_URL)._replace(path=f"/{name}").geturl()

    def new_database(self) -> str:
        """A new database, migrated (a copy of the template, made once per run)."""
        if self.admin is None and self.unreachable is None:
            self.connect()
        if self.unreachable:
            pytest.skip(self.unreachable)
        if self.template is None:
            import psycopg

            from bot.storage.schema import migrate_postgres

            template = f"clubspeak_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self.admin.execute(f'CREATE DATABASE "{template}"')
            with psycopg.connect(self.url(template), autocommit=True) as conn:
                migrate_postgres(conn)
            self.template = template
        name = f"clubspeak_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.admin is not None:
            if self.template:
                self.drop(self.template)
            self.admin.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.close()


def sample_dialogs(root: Path) -> Path:
    # Not root/"dialogs": fixtures that bring their own curriculum write there, on top of `settings`.
    dialogs = root / "sample_dialogs"
    for name in SAMPLE_DIALOGS:
        (dialogs / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Settings().dialogs_dir / name, dialogs / name)
    return dialogs


@pytest.fixture(params=BACKENDS)
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer
) -> Iterator[Settings]:
    dialogs = sample_dialogs(tmp_path)
    base = Settings(database_url=f"sqlite:///{tmp_path / 'clubspeak.db'}", dialogs_dir=dialogs)
    if request.param == "sqlite":
        yield base
        return
    if marker := request.node.get_closest_marker("sqlite_only"):
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else marker.kwargs.get('reason', '')}")
    name = postgres_server.new_database()
    try:
        yield replace(base, database_url=postgres_server.url(name), media_root=tmp_path / "media")
    finally:
        postgres_server.drop(name)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new migrated PostgreSQL database, for tests about several workers (PostgreSQL only)."""
    if "postgresql" not in BACKENDS:
        pytest.skip("TEST_BACKENDS leaves PostgreSQL out")
    name = postgres_server.new_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop(name)


def on_backend(own: Settings, settings: Settings) -> Settings:
    """A test's own settings (its dialogs, its channels) on the database of `settings`, so that
    it runs on both backends too."""
    if not settings.postgres:
        return own
    return replace(own, database_url=settings.database_url, media_root=settings.media_root)


@contextmanager
def plain_connection(settings: Settings) -> Iterator[Any]:
    """A synchronous connection to the test's database, on either backend, that takes SQLite's
    SQL (`conn.execute(sql, params)`); what it wrote is committed when the block ends."""
    if not settings.postgres:
        conn = sqlite3.connect(settings.database_path)
        try:
            with conn:
                yield conn
        finally:
            conn.close()
        return
    from bot.storage.postgres import Raw, open_sync

    raw = Raw(open_sync(settings.database_url))  # autocommit: each statement commits
    try:
        yield raw
    finally:
        raw.conn.close()


async def table_names(app: App) -> list[str]:
    """The names of the bot's tables, on either backend."""
    if app.settings.postgres:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return [r[0] for r in await app.db.conn.execute_fetchall(sql)]


async def column_names(app: App, table: str) -> list[str]:
    """The columns of one of the bot's tables, in order, on either backend."""
    if app.settings.postgres:
        rows = await app.db.conn.execute_fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]
    return [r[1] for r in await app.db.conn.execute_fetchall(f"PRAGMA table_info({table})")]


async def ids_taken(app: App, *tables: str) -> None:
    """After rows were written with explicit ids: on PostgreSQL, the tables' identity sequences
    move past them (SQLite takes the largest id + 1 by itself)."""
    if app.settings.postgres:
        for table in tables:
            await app.db.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table} "
                "HAVING MAX(id) > 0"
            )


async def insert_id(conn: Any, sql: str, parameters: tuple[Any, ...]) -> int:
    """INSERT one row and return its id (`RETURNING id`: PostgreSQL has no lastrowid)."""
    rows = await conn.execute_fetchall(f"{sql} RETURNING id", parameters)
    return int(rows[0][0])


def database_env(settings: Settings) -> dict[str, str]:
    """The environment a `python -m bot …` subprocess needs to use the test's database."""
    return {"DATABASE_URL": settings.database_url, "MEDIA_DIR": str(settings.media_dir)}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    app = await App.create(settings)
    try:
        yield app
    finally:
        await app.close()


def best(app: App, dialog_id: str, step_id: str) -> str:
    """The id of a step's right option (a question) or best-scored choice (an exercise step)."""
    dialog = app.engine.content.get(dialog_id)
    assert dialog is not None, dialog_id
    step = dialog.step(step_id)
    correct = getattr(step, "correct", None)
    if correct is not None:
        return correct
    return max(step.choices, key=lambda c: c.score).id  # type: ignore[union-attr]


def best_label(app: App, lang: str, dialog_id: str, step_id: str) -> str:
    """The best answer's button label, in `lang`."""
    dialog = app.engine.content.get(dialog_id)
    assert dialog is not None, dialog_id
    step = dialog.step(step_id)
    best_id = best(app, dialog_id, step_id)
    field = "options" if getattr(step, "correct", None) is not None else "choices"
    items = step.options if field == "options" else step.choices  # type: ignore[union-attr]
    source = next(i.label for i in items if i.id == best_id)
    return app.engine.catalogs.gettext(lang, source, f"{dialog_id}/{step_id}/{field}.{best_id}.label")


class Chat:
    """Talk to the engine as one user and read back what it queued for them."""

    def __init__(
        self, app: App, address: str = "learner-1", channel: str = "console", language_code: str | None = None
    ):
        self.app = app
        self.address = address
        self.channel = channel
        self.language_code = language_code
        self.last: list[Outbound] = []
        self._n = 0

    async def send(self, text: str | None = None, payload: str | None = None, **extra) -> list[Outbound]:
        self._n += 1
        inbound = Inbound(
            self.channel,
            self.address,
            text=text,
            payload=payload,
            external_id=extra.pop("external_id", f"{self.address}-{self._n}"),
            language_code=self.language_code,
            **extra,
        )
        self.last = await self.app.engine.handle(inbound) or []
        return self.last

    async def tap(self, label_or_index: str | int) -> list[Outbound]:
        """Tap a button of the last message that had buttons, by label or 1-based index."""
        prompt = next(m for m in reversed(self.last) if m.choices)
        if isinstance(label_or_index, int):
            choice = prompt.choices[label_or_index - 1]
        else:
            choice = next(c for c in prompt.choices if c.label.endswith(label_or_index))
        return await self.send(payload=choice.id)

    async def onboard(self, language: int = 3, age: int = 3, consent: int = 1) -> list[Outbound]:
        """Hello → language (1 rw, 2 fr, 3 en) → age band → consent; ends at the main menu."""
        await self.send("hello")
        await self.tap(language)
        await self.tap(age)
        return await self.tap(consent)

    async def screen(self) -> tuple[str, str]:
        """The (dialog, step) this user is on."""
        rows = await self.app.db.conn.execute_fetchall(
            "SELECT s.dialog_id, s.step_id FROM dialog_state s JOIN users u ON u.id = s.user_id "
            "WHERE u.channel = ? AND u.address = ?",
            (self.channel, self.address),
        )
        return rows[0][0], rows[0][1]

    async def answer(self, right: bool = True) -> list[Outbound]:
        """Tap the right (or a wrong) answer on screen, wherever the learner's shuffle put it: the
        right option of a question, the best-scored choice of an exercise step."""
        dialog_id, step_id = await self.screen()
        best_id = best(self.app, dialog_id, step_id)
        prompt = next(m for m in reversed(self.last) if m.choices)
        choice = next(c for c in prompt.choices if (c.id.split(".", 1)[-1] == best_id) == right)
        return await self.send(payload=choice.id)

    @property
    def texts(self) -> str:
        return "\n".join(m.text for m in self.last)


@pytest.fixture
def chat(app: App) -> Chat:
    return Chat(app)
