"""Early warning in the chat: the reporter's journey (with back, a change of mind and a quick
exit), its receipt and status updates, and the committee's queue in the chat."""

from __future__ import annotations

from bot.app import App
from bot.i18n import Catalogs
from bot.messages import utcnow
from bot.reports import model, review
from bot.reports.model import Scope
from bot.reports.review import Reviewer
from bot.storage import repo
from tests.conftest import Chat
from tests.run_bot import run_bot


async def make(
    app: App, role: str, address: str, scope: str = "*", on_duty: bool = False, lang: int = 3
) -> Chat:
    chat = Chat(app, address)
    await chat.onboard(language=lang)
    async with app.db.transaction() as conn:
        user = await repo.find_user(conn, "console", address)
        assert user is not None
        await model.grant(conn, user.id, role, scope, on_duty, utcnow())
    return chat


async def file_one(chat: Chat, text: str = "Youths threw stones at the market stalls.", **picks: str) -> str:
    """Walk the whole report with buttons; returns the reference number."""
    await chat.send("report")
    await chat.tap(picks.get("type", "Destruction of property"))
    await chat.tap(picks.get("when", "Today"))
    await chat.tap(picks.get("country", "Rwanda"))
    await chat.send(picks.get("area1", "Gasabo"))
    await chat.send(picks.get("area2", "Kimironko"))
    await chat.send(text)
    await chat.tap(picks.get("people", "6 to 20 people"))
    await chat.tap(picks.get("safe", "Yes, I am safe"))
    await chat.tap(picks.get("share", "Only the committee"))
    assert "Is this right?" in chat.texts or "?" in chat.texts
    await chat.tap(1)  # send the report
    ref = next(w.strip(".,") for w in chat.texts.split() if w.startswith("EW-"))
    return ref


async def test_a_reporter_files_a_report_and_gets_a_reference(app: App) -> None:
    chat = await make(app, "reporter", "rep-1")
    menu = (await chat.send("menu"))[-1]
    assert any(c.label == "Report an incident or a peace initiative" for c in menu.choices)
    ref = await file_one(chat)
    assert ref.startswith(f"EW-{utcnow().year}-")
    async with app.db.reader() as conn:
        report = await model.get_report(conn, ref)
    assert report is not None
    assert (report.type, report.country, report.area1, report.area2) == (
        "destruction",
        "RW",
        "Gasabo",
        "Kimironko",
    )
    assert report.committee_only and report.people == "6_20" and report.status == "received"
    assert report.reporter_code and report.reporter_code.startswith("R-")


async def test_a_learner_without_the_role_cannot_report(app: App) -> None:
    chat = Chat(app, "learner-x")
    await chat.onboard()
    assert not any(c.id.endswith(".report") for c in chat.last[-1].choices)
    await chat.send("report")
    assert "trained reporters" in chat.texts
    async with app.db.reader() as conn:
        assert await model.queue(conn, Scope(everything=True), model.Filters()) == []


async def test_back_and_a_change_of_mind_before_filing(app: App) -> None:
    chat = await make(app, "reporter", "rep-2")
    await chat.send("report")
    await chat.tap("Threat or intimidation")
    await chat.tap("◀ Back")  # back to the type
    assert "What do you want to report?" in chat.texts
    await chat.tap("Peace initiative")
    await chat.tap("Another day")
    await chat.send("31/02")
    assert "could not read that date" in chat.texts
    await chat.send("01/01/2000")
    assert "more than a year ago" in chat.texts
    yesterday = utcnow().date().toordinal() - 1
    from datetime import date

    day = date.fromordinal(yesterday)
    await chat.send(f"{day.day}/{day.month}/{day.year}")
    await chat.tap("Rwanda")
    await chat.tap("More ▶")
    await chat.tap("◀ Back")
    await chat.tap("Gasabo")
    await chat.tap("◀ Back")  # back to the districts
    await chat.send("huye")
    await chat.tap(1)
    await chat.send("The youth wings played football together and shook hands.")
    await chat.tap("Nobody")
    await chat.tap("Yes, I am safe")
    await chat.tap("The committee, and people who can act")
    assert "Peace initiative" in chat.texts and "Huye" in chat.texts
    await chat.tap("✏ Change something")
    await chat.tap("Where")
    await chat.tap("Rwanda")
    await chat.send("Musanze")
    await chat.tap(2)
    assert "Is this right?" in chat.texts and "Musanze" in chat.texts  # straight back to the summary
    await chat.tap("✅ Send the report")
    async with app.db.reader() as conn:
        (report,) = await model.queue(conn, Scope(everything=True), model.Filters())
    assert (report.type, report.area1, report.happened_on) == ("peace", "Musanze", day.isoformat())
    assert not report.committee_only


async def test_quick_exit_drops_the_draft(app: App) -> None:
    chat = await make(app, "reporter", "rep-3")
    await chat.send("report")
    await chat.tap("Hate speech or incitement")
    await chat.tap("✖ Exit and erase")
    assert "Done." in chat.texts
    async with app.db.reader() as conn:
        assert await model.queue(conn, Scope(everything=True), model.Filters()) == []
        state = await repo.in_thread(
            conn, repo.get_state, (await repo.find_user(conn, "console", "rep-3")).id
        )
    assert "report" not in (state.data or {})


async def test_not_safe_gives_helplines_and_alerts_the_committee_on_duty(app: App) -> None:
    member = await make(app, "committee", "com-1", scope="RW", on_duty=True)
    other = await make(app, "committee", "com-2", scope="BI", on_duty=True)
    chat = await make(app, "reporter", "rep-4")
    await chat.send("report")
    await chat.tap("Violence or clash")
    await chat.tap("It is happening now")
    await chat.tap("Rwanda")
    await chat.tap("Gasabo")
    await chat.send("remera")
    await chat.send("Two groups are fighting near the bus park.")
    await chat.tap("More than 20")
    replies = await chat.tap("No, I am not safe")
    mine = [m for m in replies if m.address == "rep-4"]
    assert "☎" in "\n".join(m.text for m in mine)
    alerts = [m for m in replies if m.address == member.address]
    assert alerts and alerts[0].urgent and "Gasabo" in alerts[0].text
    assert not [m for m in replies if m.address == other.address]  # another country's committee
    for m in alerts:
        assert "rep-4" not in m.text
    await chat.tap(1)
    await chat.tap(1)
    async with app.db.reader() as conn:
        (report,) = await model.queue(conn, Scope(everything=True), model.Filters())
    assert report.danger and not report.reporter_safe


async def test_status_updates_reach_the_reporter_in_their_language(app: App, settings) -> None:
    chat = await make(app, "reporter", "rep-fr", lang=2)
    await chat.send("signaler")
    await chat.tap("Menace ou intimidation")
    await chat.tap("Aujourd'hui")
    await chat.tap("Burundi")
    await chat.tap(1)
    await chat.tap(1)
    await chat.send("Des jeunes menacent les commerçants au marché, appelez le +257 79 123 456.")
    await chat.tap("Je ne sais pas")
    await chat.tap("Oui, je suis en sécurité")
    await chat.tap("Seulement le comité")
    await chat.tap(1)
    ref = next(w.strip(".,") for w in chat.texts.split() if w.startswith("EW-"))
    catalogs = Catalogs.load(settings.locales_dir)
    reviewer = Reviewer("Marie", "committee", Scope.parse("BI"))
    async with app.db.transaction() as conn:
        report = await review.open_report(conn, reviewer, ref)
        assert "[phone]" in report.text_masked and "79 123 456" not in report.text_masked
        await review.claim_and_tell(conn, catalogs, _ew(app), reviewer, ref, utcnow())
        await review.change_status(conn, catalogs, reviewer, ref, "verified", "two sources", utcnow())
        rows = await conn.execute_fetchall("SELECT payload FROM outbox WHERE address = 'rep-fr' ORDER BY id")
    texts = [r[0] for r in rows]
    assert any("en cours d" in t for t in texts) and any("vérifié" in t for t in texts)


def _ew(app: App):  # type: ignore[no-untyped-def]
    from bot.reports.config import EarlyWarning

    return app.engine.services.get(EarlyWarning)


def test_the_real_console_in_kinyarwanda_with_open_reporting(tmp_path) -> None:
    """`python -m bot console` with REPORTS_OPEN=1: a learner of 18–24 reports in Kinyarwanda."""
    import os

    from bot.config import Settings
    from bot.i18n import Catalogs
    from bot.reports.config import TYPE_CONTEXT

    catalogs = Catalogs.load(Settings().locales_dir)

    def t(msgid: str, context: str | None = None) -> str:
        return catalogs.gettext("rw", msgid, context)

    typed = [
        "muraho", "1", "3", "1",  # Kinyarwanda, 18–24, I agree
        "raporo", t("Hate speech or incitement", TYPE_CONTEXT), t("◀ Back"),  # a change of mind
        t("Destruction of property", TYPE_CONTEXT), t("Yesterday"), "u Rwanda", "Huye", "Ngoma",
        "Abantu batwitse ibiti by'umuturanyi bijoro.", t("Nobody"), t("Yes, I am safe"),
        t("Only the committee"), t("✅ Send the report"), "raporo zanjye",
    ]  # fmt: skip
    env = os.environ | {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "REPORTS_OPEN": "1"}
    done = run_bot("console", "--user", "umunyamakuru", env=env, stdin="\n".join(typed) + "\n")
    assert done.returncode == 0, done.stderr
    assert "EW-" in done.stdout
    mine = done.stdout.split(t("Your reports:"))[-1]
    assert "EW-" in mine and t("received") in mine
