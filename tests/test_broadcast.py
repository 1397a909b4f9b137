"""A session invitation to 2,000 members across Telegram and WhatsApp, against both fake servers.

Every member gets exactly one invitation, in their language (on WhatsApp, outside the 24-hour
window, as the approved template); RSVP taps come back and are recorded; the reminders then go
to those who said yes or maybe, and only to them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel
from bot.clubs import model as clubs
from bot.clubs.scheduler import Scheduler
from bot.config import Settings
from bot.delivery.outbox import OutboxSender
from bot.messages import Inbound, utcnow
from bot.storage import repo
from tests import fake_telegram, fake_twilio
from tests.conftest import on_backend

MEMBERS = 2000
INVITE_TEMPLATE = "HX" + "b" * 32
WORD = {"rw": "rigutumiye", "fr": "t'invite", "en": "invites you"}


def language(n: int) -> str:
    return ("rw", "fr", "en")[n % 3]


async def seed(app: App) -> clubs.Session:
    now = utcnow()
    recent, old = now.isoformat(), (now - timedelta(days=3)).isoformat()
    rows = []
    for n in range(MEMBERS):
        if n % 2:
            rows.append(("telegram", str(500_000 + n), f"u_t{n}", language(n), recent))
        else:  # WhatsApp: a quarter wrote today, a quarter three days ago (window closed)
            rows.append(
                ("whatsapp", f"whatsapp:+2507{n:08d}", f"u_w{n}", language(n), recent if n % 4 else old)
            )
    async with app.db.transaction() as conn:
        club = await clubs.create_club(conn, "Southern Clubs", "Huye", "rw", now)
        await conn.executemany(
            "INSERT INTO users (channel, address, pseudonym, language, consent, created_at, last_inbound_at) "
            "VALUES (?, ?, ?, ?, 'given', ?, ?)",
            [(c, a, p, lang, at, at) for c, a, p, lang, at in rows],
        )
        await conn.execute(
            "INSERT INTO memberships (club_id, user_id, joined_at) SELECT ?, id, ? FROM users",
            (club.id, recent),
        )
        session_id = await clubs.create_session(
            conn, club, now + timedelta(days=5), "Huye", "Trust", None, now
        )
        session = await clubs.get_session(conn, session_id)
    assert session is not None
    async with app.db.exclusive() as conn:
        assert (
            await repo.in_thread(conn, clubs.invite, session, clubs.Renderer(app.engine.catalogs), now)
            == MEMBERS
        )
    return session


async def test_an_invitation_reaches_2000_members_on_both_channels_once_each(
    tmp_path: Path, settings: Settings
) -> None:
    templates = tmp_path / "templates.yaml"
    templates.write_text(
        "templates:\n  session_invitation:\n    variables: [club, when, place]\n"
        f"    content_sid: {{rw: {INVITE_TEMPLATE}, fr: {INVITE_TEMPLATE}, en: {INVITE_TEMPLATE}}}\n",
        encoding="utf-8",
    )
    async with (
        fake_telegram.running(fake_telegram.FakeBotAPI()) as tg,
        fake_twilio.running(fake_twilio.FakeTwilio()) as tw,
    ):
        settings = replace(
            on_backend(Settings(database_url=f"sqlite:///{tmp_path / 'bot.db'}"), settings),
            telegram_bot_token=tg.token,
            telegram_api_url=tg.url,
            twilio_account_sid=fake_twilio.ACCOUNT_SID,
            twilio_auth_token=fake_twilio.AUTH_TOKEN,
            twilio_whatsapp_from="whatsapp:+14155238886",
            twilio_api_url=tw.url,
            public_base_url=fake_twilio.PUBLIC_URL,
            telegram_webhook_secret="s",
            whatsapp_templates_file=templates,
        )
        app = await App.create(settings)
        telegram = TelegramChannel.create(settings, app)
        whatsapp = WhatsAppChannel.create(settings, app)
        await telegram.start()
        await whatsapp.start()
        senders = [OutboxSender(app.db, channel, max_in_flight=32) for channel in (telegram, whatsapp)]
        try:
            session = await seed(app)
            for sender in senders:
                await sender.run_once()

            # Exactly one invitation each, in their language.
            per_chat = Counter(int(c.params["chat_id"]) for c in tg.sent())
            per_number = Counter(m.to for m in tw.sent)
            assert len(per_chat) == MEMBERS // 2 and set(per_chat.values()) == {1}
            assert len(per_number) == MEMBERS // 2 and set(per_number.values()) == {1}
            for call in tg.sent():
                n = int(call.params["chat_id"]) - 500_000
                assert WORD[language(n)] in call.params["text"]
            for message in tw.sent:
                n = int(message.to.removeprefix("whatsapp:+2507"))
                if n % 4:  # inside the window: free text with the RSVP choices
                    assert WORD[language(n)] in message.body
                else:  # outside: the approved template, never free text
                    assert message.params["ContentSid"] == INVITE_TEMPLATE and "Body" not in message.params

            # RSVP taps come back through the engine: Telegram buttons and WhatsApp typed numbers.
            for call in tg.sent()[:10]:
                yes = json.loads(call.params["reply_markup"])["inline_keyboard"][0][0]["callback_data"]
                await app.engine.handle(
                    Inbound("telegram", call.params["chat_id"], payload=yes, external_id=yes)
                )
            for message in [m for m in tw.sent if "Body" in m.params][:10]:
                await app.engine.handle(Inbound("whatsapp", message.to, text="2", external_id=message.to))
            async with app.db.transaction() as conn:
                counts = await clubs.session_status(conn, session.id)
            assert (counts["invited"], counts["yes"], counts["maybe"]) == (MEMBERS, 10, 10)
            assert counts["sent"] == MEMBERS and counts["failed"] == 0

            # Two hours before: reminders to the 20 who said yes or maybe, and nobody else.
            before_tg, before_tw = len(tg.sent()), len(tw.sent)
            clock = session.starts_at - timedelta(hours=2)
            assert (
                await Scheduler(app.db, clubs.Renderer(app.engine.catalogs), clock=lambda: clock).run_once()
                == 20
            )
            for sender in senders:
                await sender.run_once()
            reminders = [c.params["text"] for c in tg.sent()[before_tg:] if "Trust" in c.params["text"]]
            reminders += [m.body for m in tw.sent[before_tw:] if "Trust" in m.body]
            assert len(reminders) == 20
        finally:
            await whatsapp.stop()
            await telegram.application.shutdown()
            await app.close()
