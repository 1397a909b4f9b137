"""Safe for minors: what a learner erases is gone (from the tables, the disk and the channels'
queues), /mydata shows all that is held, and certificates are served only by links that expire."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App
from bot.care import cli as care_cli
from bot.clubs import model as clubs
from bot.config import Settings
from bot.delivery.outbox import Delivery, OutboxSender
from bot.learning import queries as learning_queries
from bot.messages import Outbound, utcnow
from bot.stats import cli as stats_cli
from bot.storage import repo
from bot.storage.media import MediaStore
from bot.web.server import build_web
from tests.conftest import Chat, table_names
from tests.fake_telegram import FakeBotAPI, wait_for
from tests.fake_telegram import running as telegram_running
from tests.fake_twilio import ACCOUNT_SID, PUBLIC_URL
from tests.test_telegram import bot_running
from tests.test_whatsapp import WhatsApp, whatsapp_running

ERASED = "Done. Everything we stored about you is erased. Send hello if you want to start again."
CONFIRM = "Erase everything we store about you"


async def rows(app: App, sql: str, *params: object) -> list[tuple[Any, ...]]:
    async with app.db.conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def everywhere(app: App, *needles: str) -> list[tuple[str, str]]:
    """Every (table, value) in the database that contains one of `needles`."""
    found = []
    for table in await table_names(app):
        for row in await rows(app, f"SELECT * FROM {table}"):
            for value in row:
                if isinstance(value, str) and any(n in value for n in needles):
                    found.append((table, value[:80]))
    return found


class Sink:
    """A channel that takes every message (for the console learner of these tests)."""

    channel = "console"

    async def send(self, message: Outbound) -> Delivery:
        return Delivery.sent("x")


# -- 1. WhatsApp: the erasure is confirmed, and the number goes with it ------------------


@pytest.fixture
async def wa(settings: Settings, tmp_path: Path) -> AsyncIterator[WhatsApp]:
    async with whatsapp_running(settings, tmp_path) as bot:
        yield bot


async def test_a_whatsapp_learner_who_erases_is_told_and_the_number_is_not_kept(wa: WhatsApp) -> None:
    number = "+447700900123"
    for text in ("hello", "3", "3", "1"):  # English, 18–24, I agree
        await wa.say(number, text)
    assert CONFIRM in (await wa.say(number, "delete"))[-1].body
    done = await wa.say(number, "1")  # Yes, erase it
    assert [m.body for m in done] == [ERASED]  # free-form: the learner's message opened the window
    assert await rows(wa.app, "SELECT status, address FROM outbox") == [("sent", "")]
    assert await everywhere(wa.app, "447700900123") == []


# -- 2. a deep link keeps a join code, nothing else ---------------------------------------


async def export_events(settings: Settings, capsys: pytest.CaptureFixture[str]) -> str:
    since = datetime(2020, 1, 1, tzinfo=UTC)
    args = argparse.Namespace(command="export", export_command="events", since=since)
    capsys.readouterr()
    assert await stats_cli.run(settings, args) == 0
    return capsys.readouterr().out


async def test_a_deep_link_keeps_only_a_join_code(
    app: App, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = Chat(app, address="grace")
    await chat.send("/start Grace Mukamana 0788555001 Kicukiro")
    await chat.send("/start club_K7Q2")
    assert await rows(app, "SELECT data FROM events WHERE type = 'deep_link' ORDER BY id") == [
        (None,),
        ('{"payload": "club_K7Q2"}',),
    ]
    await chat.onboard()
    await chat.send("delete")
    await chat.tap("Yes, erase it")
    exported = await export_events(settings, capsys)
    assert "deep_link" in exported and "club_K7Q2" in exported
    assert "Grace" not in exported and "0788555001" not in exported and "Kicukiro" not in exported
    assert await everywhere(app, "Mukamana", "0788555001") == []


# -- 3. a concern message the learner did not answer about --------------------------------

CONCERN = "My stepfather hits me when he is drunk, Mukandori knows"


async def test_an_unanswered_concern_is_shown_by_mydata_and_goes_with_retention(
    app: App, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = Chat(app, address="+250788000311")
    await chat.onboard()
    await chat.send(CONCERN)
    assert "contact you" in chat.texts  # the offer of a person, not answered
    assert [table for table, _ in await everywhere(app, "Mukandori")] == ["dialog_state"]
    mydata = next(m for m in await chat.send("mydata") if m.attachment)
    assert json.loads(mydata.attachment[1])["concern_message_held"] == CONCERN
    args = argparse.Namespace(command="privacy", privacy_command="retention", days=0)
    assert await care_cli.run(settings, args) == 0
    assert "pseudonymised 1 learner" in capsys.readouterr().out
    assert await everywhere(app, "Mukandori") == []


async def test_an_unanswered_concern_goes_with_delete(app: App) -> None:
    chat = Chat(app, address="+250788000312")
    await chat.onboard()
    await chat.send(CONCERN)
    await chat.send("delete")
    await chat.tap("Yes, erase it")
    assert ERASED in chat.texts
    assert await everywhere(app, "Mukandori") == []
    await wait_for(lambda: not on_disk(app, "Mukandori"))


# -- 4. /mydata shows everything held -----------------------------------------------------


async def test_mydata_shows_events_clubs_invitations_messages_and_escalations(settings: Settings) -> None:
    app = await App.create(replace(settings, safeguarding_officers="console:officer-1"))
    try:
        async with app.db.transaction() as conn:
            club = await clubs.create_club(conn, "Huye Peace Club", "Huye", "rw", utcnow())
            session_id = await clubs.create_session(
                conn, club, utcnow() + timedelta(days=3), "Sector hall", "Listening", None, utcnow()
            )
            session = await clubs.get_session(conn, session_id)
        assert session is not None
        chat = Chat(app, address="+250788000411")
        await chat.onboard()
        await chat.send(f"join {club.code}")
        async with app.db.exclusive() as conn:
            await repo.in_thread(conn, clubs.invite, session, clubs.Renderer(app.engine.catalogs), utcnow())
        await chat.send("yego")
        await chat.send("My uncle beats me")
        await chat.tap("Yes, contact me")
        mydata = next(m for m in await chat.send("mydata") if m.attachment)
    finally:
        await app.close()
    data = json.loads(mydata.attachment[1])
    assert {"language_set", "consent", "club_joined", "distress", "escalation"} <= {
        e["type"] for e in data["events"]
    }
    assert data["activity_events"] == len(data["events"])
    assert [(m["club"], m["role"]) for m in data["memberships"]] == [(club.code, "member")]
    assert [(i["club"], i["place"], i["rsvp"]) for i in data["invitations"]] == [
        ("Huye Peace Club", "Sector hall", "yes")
    ]
    queued = [m for m in data["messages_to_you"] if m["status"] == "queued"]
    assert any("Sector hall" in (m["text"] or "") for m in queued)
    assert [(e["reason"], e["excerpt"]) for e in data["escalations"]] == [("asked", "My uncle beats me")]
    assert data["concern_message_held"] is None  # answered: it went to the escalation
    # The summary in the chat stays short.
    assert mydata.text.startswith("What we store about you:")


# -- 5. nothing on disk -------------------------------------------------------------------


def on_disk(app: App, *needles: str) -> list[str]:
    """The files (database, -wal) whose bytes contain one of `needles`."""
    path = app.db.path
    if path is None:
        # PostgreSQL: no file of ours. Its dead row versions stay in the table's pages until
        # VACUUM; scrubbing them after an erasure is part of #18's next step.
        return []
    found = []
    for file in (path, path.with_name(path.name + "-wal")):
        data = file.read_bytes() if file.exists() else b""
        found += [f"{file.name}: {n}" for n in needles if n.encode() in data]
    return found


@pytest.mark.sqlite_only("the bytes of SQLite's database file and WAL on disk")
async def test_after_delete_the_words_are_in_neither_the_database_file_nor_the_wal(app: App) -> None:
    async def reflect(chat: Chat, name: str, words: str) -> None:
        await chat.send("hello", name=name)
        for n in (3, 3, 1):
            await chat.tap(n)
        for text in ("1", "1"):  # Exercises → the water point
            await chat.send(text)
        for _ in range(3):  # the three choices, on the best path to the written answer
            await chat.answer()
        await chat.send(words)  # the written answer: a reflection

    # Deleted bytes are overwritten whatever SQLite's build default (Debian's is on, others' off).
    assert await rows(app, "PRAGMA secure_delete") == [(1,)]
    chat, other = Chat(app, address="+250788000511"), Chat(app, address="+250788000512")
    await reflect(chat, "Ingabire Solange", "I feel worried about the Nyabarongo pump")
    await reflect(other, "Mugisha Eric", "I feel calm when we share the Akagera well")
    await chat.send("Nobody cares about me since Kamanzi left")  # a concern, left unanswered
    secrets = ("Ingabire Solange", "Nyabarongo", "Kamanzi")
    # In the database file too, as after any of maintenance's checkpoints, on pages shared with
    # the learner who stays.
    assert (await app.db.checkpoint("TRUNCATE"))[0] == 0
    assert on_disk(app, *secrets) == [f"clubspeak.db: {s}" for s in secrets]
    await chat.send("delete")
    await chat.tap("Yes, erase it")
    await OutboxSender(app.db, Sink()).run_once()
    await wait_for(lambda: not on_disk(app, *secrets))
    assert await everywhere(app, *secrets) == []
    assert {"clubspeak.db: Mugisha Eric", "clubspeak.db: Akagera"} <= set(
        on_disk(app, "Mugisha Eric", "Akagera")
    )


# -- 6. delete in the learner's words ------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "efface",
        "Efface",
        "supprime mes données",
        "Supprimer mes données",
        "effacer mes données",
        "supprime",
        "siba",
        "siba amakuru yanjye",
        "gusiba",
        "erase my data",
    ],
)
async def test_delete_is_understood_in_every_language(app: App, words: str) -> None:
    chat = Chat(app)
    await chat.onboard(language=2)
    await chat.send(words)
    tr = app.engine.catalogs.gettext
    assert tr("fr", "Yes, erase it") in [c.label for c in chat.last[-1].choices]


# -- 7. certificates: a link that expires, and no file once the channel has it --------------


async def test_a_certificate_is_served_only_by_a_fresh_signed_link_and_never_cached(app: App) -> None:
    media = MediaStore(app.settings.media_dir)
    ref = media.save(b"\x89PNG certificate for Aline")
    name = ref.removeprefix("media:")
    link = media.link(ref)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://t"
    ) as web:
        served = await web.get(link)
        assert served.status_code == 200 and served.content == b"\x89PNG certificate for Aline"
        assert served.headers["cache-control"] == "no-store"
        other = media.save(b"\x89PNG another")
        refused = [
            f"/media/{name}",  # unsigned
            link.replace("sig=", "sig=0"),  # tampered with
            link.replace(name, other.removeprefix("media:")),  # another file's name
            media.link(ref, now=utcnow() - timedelta(hours=25)),  # expired
            media.link(ref, ttl=timedelta(days=3650)).replace("exp=", "exp=1"),  # a later expiry, forged
        ]
        for url in refused:
            answer = await web.get(url)
            assert answer.status_code == 404 and answer.headers["cache-control"] == "no-store", url
    assert (media.root / ".secret").stat().st_mode & 0o077 == 0  # the key is the bot's alone


@dataclass
class PhotoBotAPI(FakeBotAPI):
    """The fake Bot API, answering sendPhoto as Telegram does: with the photo's sizes and file_ids."""

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        result = await super()._result(method, params)
        if method == "sendPhoto":
            result["photo"] = [
                {
                    "file_id": f"AgAC-{size}-{result['message_id']}",
                    "file_unique_id": f"u{size}",
                    "width": size,
                    "height": size,
                }
                for size in (90, 1200)
            ]
        return result


async def test_telegram_keeps_the_file_id_and_the_certificate_file_goes(settings: Settings) -> None:
    async with telegram_running(PhotoBotAPI()) as fake, bot_running(settings, fake) as (app, channel, _):
        fake.push_text(601, "/start")
        await wait_for(lambda: fake.sent(601))
        async with app.db.transaction() as conn:
            user = await repo.find_user(conn, "telegram", "601")
            assert user is not None
            ref = channel.media.save(b"\x89PNG certificate for Aline")
            await learning_queries.add_certificate(conn, user.id, "exercise", ref, utcnow())
            certificate = Outbound("telegram", "601", "Your certificate", image=ref, user_id=user.id)
            await repo.in_thread(conn, repo.enqueue, [certificate, certificate], utcnow())
        app.engine.notify_outbox("telegram")
        await wait_for(lambda: len([c for c in fake.calls if c.method == "sendPhoto"]) == 2)
        first, again = [c for c in fake.calls if c.method == "sendPhoto"]
        assert (await first.params["photo"].read()).startswith(b"\x89PNG")
        assert channel.media.path(ref) is None  # Telegram has it: our copy is gone
        ((file_id,),) = await rows(app, "SELECT file_id FROM certificates")
        assert file_id.startswith("AgAC-1200-")  # the largest size
        assert again.params["photo"] == file_id  # sent again by Telegram's id, without the file


async def test_whatsapp_fetches_a_certificate_by_a_signed_link_and_it_goes_once_delivered(
    wa: WhatsApp,
) -> None:
    number = "+250788000711"
    await wa.say(number, "Muraho")
    media = MediaStore(wa.app.settings.media_dir)
    ref = media.save(b"\x89PNG certificate for Aline")
    async with wa.app.db.transaction() as conn:
        user = await repo.find_user(conn, "whatsapp", f"whatsapp:{number}")
        assert user is not None
        certificate = Outbound(
            "whatsapp", user.address, "Your certificate", image=ref, language="rw", user_id=user.id
        )
        await repo.in_thread(conn, repo.enqueue, [certificate], utcnow())
    wa.app.engine.notify_outbox("whatsapp")
    await wa.settled()
    sent = wa.fake.to(f"whatsapp:{number}")[-1]
    url = sent.params["MediaUrl"]
    assert url.startswith(f"{PUBLIC_URL}/media/") and "exp=" in url and "sig=" in url
    fetched = await wa.web.get(url.removeprefix(PUBLIC_URL))  # as Twilio fetches it
    assert fetched.content == b"\x89PNG certificate for Aline"
    assert fetched.headers["cache-control"] == "no-store"
    (sid,) = (await rows(wa.app, "SELECT external_id FROM outbox WHERE payload LIKE '%certificate%'"))[0]
    receipt = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert (await wa.post("/twilio/status", receipt)).status_code == 204
    assert media.path(ref) is None  # on the learner's phone: our copy is gone
    assert (await wa.web.get(url.removeprefix(PUBLIC_URL))).status_code == 404
