"""Smaller findings of the safety review: each one reproduced, then fixed."""

from __future__ import annotations

import os
import subprocess
import sys

from bot.app import App
from bot.config import Settings
from bot.delivery.outbox import OutboxSender
from bot.messages import Inbound, Outbound
from tests.conftest import database_env, plain_connection
from tests.test_clubs import make_club, member
from tests.test_storage_and_outbox import RecordingTransport, enqueue


async def memberships(app: App, address: str) -> int:
    sql = "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.address = ?"
    async with app.db.conn.execute(sql, (address,)) as cur:
        return (await cur.fetchone())[0]


async def test_leaving_with_a_mistyped_code_changes_nothing_and_says_so(app: App) -> None:
    first, second = await make_club(app, "Huye Club"), await make_club(app, "Nyanza Club")
    amina = await member(app, first, "amina", 3)
    await amina.send(f"join {second.code}")
    assert await memberships(app, "amina") == 2
    typo = second.code[:3] + second.code[4] + second.code[3]  # two letters swapped
    await amina.send(f"leave {typo}")
    assert "could not find a club with the code" in amina.texts
    assert await memberships(app, "amina") == 2
    await amina.send(f"leave {second.code}")
    assert await memberships(app, "amina") == 1


def test_db_migrate_refuses_a_database_newer_than_the_code(settings: Settings) -> None:
    env = {**os.environ, **database_env(settings)}

    def migrate() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "bot", "db", "migrate"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert migrate().returncode == 0
    with plain_connection(settings) as conn:
        if settings.postgres:
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (99, '0099_future.sql')")
        else:
            conn.execute("PRAGMA user_version = 99")
    refused = migrate()
    assert refused.returncode != 0
    assert "schema version 99, newer than this bot knows" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


async def test_recovery_counts_only_its_own_channels_messages(app: App) -> None:
    await enqueue(app, Outbound("console", "a", "one"), Outbound("whatsapp", "whatsapp:+250788000001", "two"))
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE outbox SET status = 'sending'")
    assert await OutboxSender(app.db, RecordingTransport()).recover() == 1  # the console's only
    async with app.db.conn.execute("SELECT channel, status FROM outbox ORDER BY id") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [("console", "queued"), ("whatsapp", "sending")]


async def test_every_text_says_stop_ends_all_messages_and_menu_leaves_an_activity(app: App) -> None:
    from tests.conftest import Chat

    chat = Chat(app)
    replies = await chat.send("hello")
    welcome = "\n".join(m.text for m in replies)
    assert "send menu" in welcome and "Send stop only if you want no more messages from us at all" in welcome
    await chat.onboard()
    await chat.send("help")
    assert "stop: no more messages from us at all (send start to come back)" in chat.texts
    assert "invitations or reminders" not in chat.texts
    tr = app.engine.catalogs.gettext
    assert tr("fr", "Stop all messages from us") == "Arrêter tous nos messages"


async def test_a_reprompt_repeats_the_real_question_never_bare_buttons(app: App) -> None:
    from tests.conftest import Chat

    zed = Chat(app, address="zed")
    await zed.onboard()
    await zed.send("delete")
    await zed.send("progress")  # a command in the middle of the question
    assert "Erase everything we store about you" in zed.last[-1].text
    assert [c.label for c in zed.last[-1].choices] == ["Yes, erase it", "No, keep it"]
    club = await make_club(app)
    amina = Chat(app, address="amina", language_code="fr")
    await amina.onboard(language=2)
    await amina.send("delete")
    await amina.send(f"rejoindre {club.code}")
    assert (
        "Effacer tout ce que nous gardons" in amina.last[-1].text or "effacer" in amina.last[-1].text.lower()
    )
    assert "Que veux-tu faire maintenant" not in amina.last[-1].text


def test_env_example_lists_every_setting() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    read = set(
        re.findall(
            r'(?:env\.get|opt|_int|_hours|_days|_positive|_addresses)\(\s*(?:env,\s*)?"([A-Z_]+)"',
            (root / "bot/config.py").read_text(),
        )
    )
    example = (root / ".env.example").read_text()
    assert read and not {name for name in read if f"# {name}=" not in example}


def test_output_into_a_closed_pipe_ends_quietly(settings: Settings) -> None:
    env = {**os.environ, **database_env(settings)}
    subprocess.run([sys.executable, "-m", "bot", "db", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        # far more than a pipe holds, so the writes go on after `head` has gone
        f"{sys.executable} -m bot demo-data --users 100 >/dev/null && "
        f"{sys.executable} -m bot export events --since 2000-01-01 | head -2",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


async def test_cancelling_twice_tells_each_member_once_and_inviting_twice_invites_once(app: App) -> None:
    from datetime import timedelta

    from bot.clubs import model as clubs
    from bot.messages import utcnow
    from bot.storage import repo
    from tests.test_clubs import invite, outbox_for, plan

    club = await make_club(app)
    a, b = await member(app, club, "a1", 1), await member(app, club, "b1", 2)
    now = utcnow()
    session = await plan(app, club, now + timedelta(days=2))
    assert await invite(app, session, now) == 2
    assert await invite(app, session, now) == 0  # a repeated invite sends nothing again
    render = clubs.Renderer(app.engine.catalogs)
    for expected in (2, 0):  # the second cancel (a repeated command) tells nobody
        async with app.db.exclusive() as conn:
            assert await repo.in_thread(conn, clubs.cancel, session, render, now) == expected
    for learner in (a, b):
        texts = [m["text"] for m in await outbox_for(app, learner.address)]
        assert sum(t.startswith(("Annulé", "Byahagaritswe")) for t in texts) == 1


def test_a_no_op_catalog_update_leaves_the_tree_clean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    from pathlib import Path

    from bot.i18n import update_catalogs

    root = Path(__file__).resolve().parent.parent
    for part in ("bot", "dialogs", "locales", "config"):
        shutil.copytree(root / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "babel.cfg", tmp_path / "babel.cfg")
    before = {p: p.read_bytes() for p in (tmp_path / "locales").rglob("*.po")}
    update_catalogs(tmp_path)
    assert {p: p.read_bytes() for p in before} == before


def test_a_part_of_a_hidden_count_is_hidden_too() -> None:
    from bot.stats import metrics

    summary = metrics.Summary(metrics.Filters())
    summary.hardest_questions = [{"quiz": "q", "question": "q1", "answers": 3, "correct": 0, "rate": 0.0}]
    summary.funnel = [{"module": "m", "started": 2, "completed": 0, "rate": 0.0}]
    shown = metrics.present(summary)
    assert shown["hardest_questions"][0]["answers"] == shown["hardest_questions"][0]["correct"] == "<5"
    assert shown["funnel"][0]["completed"] == "<5"


async def test_the_kinyarwanda_help_does_not_repeat_itself(app: App) -> None:
    from tests.conftest import Chat

    chat = Chat(app)
    await chat.onboard(language=1)
    await chat.send("ubufasha")
    assert "menu (ahabanza): gusubira ahabanza" in chat.texts
    assert "ahabanza): ahabanza" not in chat.texts


async def test_a_nul_character_in_a_name_or_a_text_is_answered(settings: Settings) -> None:
    """Hypothesis found it on PostgreSQL: a WhatsApp ProfileName of "\\x00" was never stored
    (PostgreSQL's text holds no NUL), so the message was never answered."""
    app = await App.create(settings)
    try:
        number = "whatsapp:+250700000001"
        inbound = Inbound("whatsapp", number, text="he\x00llo", name="\x00", external_id="n1")
        assert inbound.text == "hello" and inbound.name == ""
        replies = await app.engine.handle(inbound)
        assert replies
    finally:
        await app.close()
