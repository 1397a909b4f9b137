"""Bounded growth: finished outbox rows and seen inbound ids go after OUTBOX_KEEP_DAYS, in
small batches; nothing waiting to go out is touched, and the session figures stay the same."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.config import ConfigError, Settings
from bot.messages import utcnow
from bot.stats import metrics as stats
from bot.storage.maintenance import Maintenance, Pruned
from bot.storage.repo import iso
from tests.conftest import database_env, ids_taken

NOW = datetime.fromisoformat("2026-11-20T12:00:00+00:00")
OLD, RECENT = timedelta(days=40), timedelta(days=5)  # before NOW

# (status, age) of each learner's invitation message; the old finished ones are the ones to go.
MESSAGES = [
    ("sent", OLD),
    ("delivered", OLD),
    ("read", OLD),
    ("failed", OLD),
    ("delivered", OLD),
    ("queued", OLD),
    ("sending", OLD),
    ("held", OLD),
    ("sent", RECENT),
    ("delivered", RECENT),
]


async def build(app: App, now: datetime = NOW) -> None:
    """A club session whose invitations went out 40 and 5 days ago, and seen inbound ids."""
    old, recent = now - OLD, now - RECENT
    async with app.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO clubs (id, code, name, district, created_at) VALUES (1, 'K7Q2', 'Huye', 'Huye', ?)",
            (iso(old),),
        )
        await conn.execute(
            "INSERT INTO club_sessions (id, club_id, starts_at, place, topic, created_at) "
            "VALUES (1, 1, ?, 'hall', 'rights', ?)",
            (iso(recent), iso(old)),
        )
        for n, (status, age) in enumerate(MESSAGES, start=1):
            at = now - age
            await conn.execute(
                "INSERT INTO users (id, channel, address, pseudonym, created_at) "
                "VALUES (?, 'telegram', ?, ?, ?)",
                (n, str(n), f"u_{n}", iso(old)),
            )
            await conn.execute(
                "INSERT INTO outbox (id, user_id, channel, address, payload, status, created_at, updated_at) "
                "VALUES (?, ?, 'telegram', ?, '{}', ?, ?, ?)",
                (n, n, str(n), status, iso(at), iso(at)),
            )
            await conn.execute(
                "INSERT INTO invitations (session_id, user_id, outbox_id, rsvp, attended, created_at) "
                "VALUES (1, ?, ?, ?, ?, ?)",
                (n, n, "yes" if n % 2 else "no", 1 if n % 4 == 1 else None, iso(at)),
            )
        await ids_taken(app, "clubs", "club_sessions", "users", "outbox")
        # A reply that was never an invitation, and a recent one whose last change is old.
        await conn.execute(
            "INSERT INTO outbox (user_id, channel, address, payload, status, created_at, updated_at) "
            "VALUES (1, 'telegram', '1', '{}', 'sent', ?, ?)",
            (iso(old), iso(old)),
        )
        for n, at in enumerate([old, old, old, recent, recent]):
            await conn.execute(
                "INSERT INTO inbound_seen (channel, external_id, seen_at) VALUES (?, ?, ?)",
                ("telegram" if n % 2 else "whatsapp", f"{n:024x}", iso(at)),
            )


async def rows(app: App, sql: str) -> list[tuple]:
    async with app.db.conn.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def figures(app: App) -> tuple[dict, dict]:
    async with app.db.reader() as conn:
        return await stats.sessions(conn, stats.Filters()), stats.present(
            await stats.summary(conn, stats.Filters())
        )


async def test_old_finished_rows_go_waiting_ones_stay_and_the_figures_do_not_change(
    app: App, settings: Settings
) -> None:
    await build(app)
    before = await figures(app)
    assert before[0]["sent"] == 6 and before[0]["delivered"] == 4  # sent, delivered, read; not failed

    maintenance = Maintenance(app.db, settings, clock=lambda: NOW, batch=3)  # several batches each
    assert await maintenance.run_once() == Pruned(outbox=6, inbound_seen=3)

    assert await figures(app) == before
    left = await rows(app, "SELECT id, status FROM outbox ORDER BY id")
    assert left == [(6, "queued"), (7, "sending"), (8, "held"), (9, "sent"), (10, "delivered")]
    assert await rows(app, "SELECT seen_at FROM inbound_seen") == [(iso(NOW - RECENT),)] * 2
    # The pruned messages' invitations keep their status, and no longer point at a reusable id.
    assert await rows(app, "SELECT outbox_id, delivery FROM invitations WHERE delivery IS NOT NULL") == [
        (None, "sent"),
        (None, "delivered"),
        (None, "read"),
        (None, "failed"),
        (None, "delivered"),
    ]

    assert await maintenance.run_once() is None  # not due again the same day
    tomorrow = Maintenance(app.db, settings, clock=lambda: NOW + timedelta(days=1))
    assert await tomorrow.prune() == Pruned()
    assert await figures(app) == before


async def test_a_new_message_after_pruning_everything_does_not_take_an_invitation_figure(
    app: App, settings: Settings
) -> None:
    await build(app)
    later = NOW + timedelta(days=60)  # everything finished is old by then
    await Maintenance(app.db, settings, clock=lambda: later).prune()
    before = await figures(app)
    async with app.db.transaction() as conn:
        await conn.execute("DELETE FROM outbox")  # even the ids of the rows left may come back
        await conn.execute(
            "INSERT INTO outbox (id, user_id, channel, address, payload, status, created_at, updated_at) "
            "VALUES (1, 1, 'telegram', '1', '{}', 'failed', ?, ?)",
            (iso(later), iso(later)),
        )
    after = await figures(app)
    assert (after[0]["sent"], after[0]["delivered"]) == (before[0]["sent"], before[0]["delivered"])


def test_the_keep_days_setting_is_validated() -> None:
    assert Settings.from_env({}, env_file=Path("/nonexistent")).outbox_keep_days == 30
    assert Settings.from_env({"OUTBOX_KEEP_DAYS": "7"}, env_file=Path("/nonexistent")).outbox_keep_days == 7
    for bad in ("0", "-3", "a month"):
        with pytest.raises(ConfigError, match="OUTBOX_KEEP_DAYS"):
            Settings.from_env({"OUTBOX_KEEP_DAYS": bad}, env_file=Path("/nonexistent"))


async def test_db_prune_on_the_command_line_prints_counts(
    app: App, settings: Settings, tmp_path: Path
) -> None:
    await build(app, now=utcnow())
    await app.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "db",
        "prune",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, **database_env(settings), "OUTBOX_KEEP_DAYS": "10"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "pruned 6 outbox message(s) and 3 seen inbound id(s) older than 10 days" in out.decode()
