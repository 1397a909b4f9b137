"""The reporter's journey on the real channels: Telegram (PTB against a fake Bot API) in
Kinyarwanda, with a shared location, a photo and a quick exit that deletes the conversation; and
WhatsApp (signed webhooks) in French, with a change of mind and the status update."""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import Settings
from bot.messages import utcnow
from bot.reports import model
from bot.reports.config import TYPE_CONTEXT
from bot.reports.model import Filters, Scope
from bot.stats.dashboard.accounts import add_account
from bot.storage import repo
from tests.fake_telegram import FakeBotAPI, running, wait_for
from tests.test_dashboard import login
from tests.test_telegram import Bot, bot_running, onboard, tap_when_shown
from tests.test_whatsapp import pick, whatsapp_running

PASSWORD = "a long enough password"


async def grant(app, channel: str, address: str, role: str = "reporter") -> None:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as conn:
        user = await repo.find_user(conn, channel, address)
        assert user is not None
        await model.grant(conn, user.id, role, "*", False, utcnow())


async def test_telegram_report_in_kinyarwanda_with_location_photo_and_quick_exit(
    settings: Settings, tmp_path: Path
) -> None:
    async with running(FakeBotAPI()) as fake, bot_running(settings, fake) as (app, channel, web):
        bot = Bot(app, fake, channel)
        chat, t = 301, (lambda s, c=None: bot.tr("rw", s, c))
        await onboard(bot, chat, "rw", None)
        await grant(app, "telegram", str(chat))
        await bot.say(chat, "raporo")
        await tap_when_shown(bot, chat, t("Threat or intimidation", TYPE_CONTEXT))
        await tap_when_shown(bot, chat, t("◀ Back"))  # a change of mind
        await tap_when_shown(bot, chat, t("Rumour or false information", TYPE_CONTEXT))
        await tap_when_shown(bot, chat, t("Today"))
        await tap_when_shown(bot, chat, "u Rwanda")
        # A shared location (central Kigali): it becomes a district, and the sectors are offered.
        before = len(fake.sent(chat))
        fake.push_message(chat, location={"latitude": -1.944123, "longitude": 30.061987})
        await wait_for(lambda: len(fake.sent(chat)) > before)
        assert "Nyarugenge" in bot.texts(chat)
        sector = fake.last_keyboard(chat)[0][0]
        await bot.tap(chat, sector)
        before = len(fake.sent(chat))
        photo = [{"file_id": "PHOTO-FILE-1", "file_unique_id": "u1", "width": 90, "height": 90}]
        fake.push_message(chat, photo=photo, caption="Hari ibihuha bivuga ko isoko rizatwikwa ejo.")
        await wait_for(lambda: len(fake.sent(chat)) > before)
        await tap_when_shown(bot, chat, t("I don't know"))
        await tap_when_shown(bot, chat, t("Yes, I am safe"))
        await tap_when_shown(bot, chat, t("Only the committee"))
        await tap_when_shown(bot, chat, t("✅ Send the report"))
        await wait_for(lambda: "EW-" in bot.texts(chat))

        async with app.db.reader() as conn:
            (report,) = await model.queue(conn, Scope(everything=True), Filters())
            photos = await model.photo_refs(conn, report.id)
            rows = await conn.execute_fetchall("SELECT conversation FROM reports")
        assert (report.type, report.area1, report.area2) == ("rumour", "Nyarugenge", sector)
        assert photos == [("telegram", "PHOTO-FILE-1")]
        assert report.language == "rw" and report.reporter_code
        # The coordinates were never stored: not in any table, not in the WAL (SQLite's files).
        files = [] if settings.postgres else Path(settings.database_path).parent.glob("clubspeak.db*")
        for path in files:
            assert b"1.944123" not in path.read_bytes() and b"30.061987" not in path.read_bytes()
        span = json.loads(rows[0][0])

        # A reviewer sees the photo in the dashboard, fetched from Telegram for that page only.
        fake.files["PHOTO-FILE-1"] = b"\xff\xd8\xff\xe0 a tiny jpeg"
        async with app.db.transaction() as conn:
            await add_account(conn, "marie", PASSWORD, [], utcnow())
            await conn.execute(
                "UPDATE dashboard_accounts SET reports_role = 'committee' WHERE username = 'marie'"
            )
        assert (await login(web, "marie", PASSWORD)).status_code == 303
        page = await web.get(f"/dashboard/reports/{report.ref}")
        assert f"/dashboard/reports/{report.ref}/photos/1" in page.text
        shown = await web.get(f"/dashboard/reports/{report.ref}/photos/1")
        assert shown.status_code == 200 and shown.content == fake.files["PHOTO-FILE-1"]
        assert shown.headers["content-type"] == "image/jpeg" and shown.headers["cache-control"] == "no-store"
        assert (await web.get(f"/dashboard/reports/{report.ref}/photos/2")).status_code == 404
        assert not [c for c in fake.calls if c.method in ("sendPhoto", "forwardMessage", "copyMessage")]

        # The quick exit: the conversation is deleted from the chat and the link is gone.
        await bot.say(chat, "/forget")
        await wait_for(lambda: any(c.method == "deleteMessages" for c in fake.calls))
        deleted = {
            int(i)
            for c in fake.calls
            if c.method == "deleteMessages"
            for i in json.loads(c.params["message_ids"])
        }
        assert set(range(int(span["from"]), int(span["to"]) + 1)) <= deleted
        async with app.db.reader() as conn:
            (report,) = await model.queue(conn, Scope(everything=True), Filters())
            left = await conn.execute_fetchall("SELECT COUNT(*) FROM reporters")
        assert report.reporter_id is None and report.reporter_code is None and left[0][0] == 0


async def test_whatsapp_report_in_french_with_a_change_of_mind(settings: Settings, tmp_path: Path) -> None:
    async with whatsapp_running(settings, tmp_path) as wa:
        number, t = "+25779000001", (lambda s, c=None: wa.tr("fr", s, c))
        await wa.say(number, "Bonjour")
        await pick(wa, number, "Français")
        await pick(wa, number, "18–24")
        await pick(wa, number, t("I agree"))
        await grant(wa.app, "whatsapp", f"whatsapp:{number}")
        await wa.say(number, "signaler")
        await pick(wa, number, t("Electoral irregularity", TYPE_CONTEXT))
        await pick(wa, number, t("Yesterday"))
        await pick(wa, number, "Burundi")
        await pick(wa, number, "Gitega")
        await wa.say(number, "Kiganda")
        await wa.say(number, "Des bulletins ont été retirés de l'urne pendant la nuit, à l'école primaire.")
        await pick(wa, number, t("6 to 20 people"))
        await pick(wa, number, t("Yes, I am safe"))
        await pick(wa, number, t("The committee, and people who can act"))
        await pick(wa, number, t("✏ Change something"))
        await pick(wa, number, t("People affected"))
        await pick(wa, number, t("More than 20"))  # changed their mind: straight back to the summary
        await pick(wa, number, t("✅ Send the report"))
        texts = wa.fake.texts(f"whatsapp:{number}")
        assert "EW-" in texts
        async with wa.app.db.reader() as conn:
            (report,) = await model.queue(conn, Scope(everything=True), Filters())
        assert (report.type, report.country, report.area1, report.area2) == (
            "electoral",
            "BI",
            "Gitega",
            "Kiganda",
        )
        assert report.people == "21p" and report.language == "fr"
