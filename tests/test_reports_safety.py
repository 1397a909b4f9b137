"""Early warning's safety: who may do what (the authorisation matrix, in the chat and on the
command line), no identity in anything a committee member sees, exports safe to open, and a fuzz
of every free-text step."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from bot.app import App
from bot.authz import ReportAction, report_allowed
from bot.config import Settings
from bot.core.engine import APOLOGY
from bot.messages import utcnow
from bot.reports import model
from bot.reports.exports import cell
from bot.reports.model import Filters, Scope, mask
from bot.stats.dashboard.accounts import add_account
from tests.conftest import Chat, database_env
from tests.run_bot import run_bot
from tests.test_reports_chat import file_one, make

REPORTER_ADDRESS = "reporter-0788123456"
REPORTER_NAME = "Amina Uwase"
PASSWORD = "a long enough password"


# -- the matrix, as a table ------------------------------------------------------------------

ROLES = {
    "learner": set(),
    "reporter": {"reporter"},
    "committee": {"committee"},
    "admin": {"admin"},
}
# (role, action, covers the report's area) → allowed
EXPECTED = {
    ("learner", ReportAction.FILE): False,
    ("reporter", ReportAction.FILE): True,
    ("committee", ReportAction.FILE): False,
    ("admin", ReportAction.FILE): True,
    ("learner", ReportAction.VIEW_QUEUE): False,
    ("reporter", ReportAction.VIEW_QUEUE): False,
    ("committee", ReportAction.VIEW_QUEUE): True,
    ("admin", ReportAction.VIEW_QUEUE): True,
    ("learner", ReportAction.REVIEW): False,
    ("reporter", ReportAction.REVIEW): False,
    ("committee", ReportAction.REVIEW): True,
    ("admin", ReportAction.REVIEW): True,
    ("learner", ReportAction.EXPORT): False,
    ("reporter", ReportAction.EXPORT): False,
    ("committee", ReportAction.EXPORT): True,
    ("admin", ReportAction.EXPORT): True,
    ("learner", ReportAction.TRUST_REPORTER): False,
    ("reporter", ReportAction.TRUST_REPORTER): False,
    ("committee", ReportAction.TRUST_REPORTER): True,
    ("admin", ReportAction.TRUST_REPORTER): True,
    ("learner", ReportAction.RESOLVE_REPORTER): False,
    ("reporter", ReportAction.RESOLVE_REPORTER): False,
    ("committee", ReportAction.RESOLVE_REPORTER): False,
    ("admin", ReportAction.RESOLVE_REPORTER): True,
    ("learner", ReportAction.GRANT): False,
    ("reporter", ReportAction.GRANT): False,
    ("committee", ReportAction.GRANT): False,
    ("admin", ReportAction.GRANT): True,
}


@pytest.mark.parametrize(("role", "action"), sorted(EXPECTED))
def test_the_authorisation_matrix(role: str, action: ReportAction) -> None:
    assert report_allowed(ROLES[role], action) is EXPECTED[(role, action)]
    if role == "committee" and EXPECTED[(role, action)]:
        # A committee member of another area may see their own queue, never this report.
        assert report_allowed(ROLES[role], action, covers_area=False) is False
    assert report_allowed(ROLES[role], ReportAction.FILE, open_to_all=True) is True


# -- the same matrix through the real chat ----------------------------------------------------------


async def seeded(app: App) -> dict[str, Chat]:
    """A reporter who filed one report in Gasabo, and one of each other role."""
    people = {
        "reporter": await make(app, "reporter", REPORTER_ADDRESS),
        "committee": await make(app, "committee", "committee-rw", scope="RW/Gasabo", on_duty=True),
        "other_area": await make(app, "committee", "committee-bi", scope="BI", on_duty=True),
        "learner": Chat(app, "learner-plain"),
        "admin": Chat(app, "admin-1"),
    }
    await people["learner"].onboard()
    await people["admin"].onboard()
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE users SET role = 'admin' WHERE address = 'admin-1'")
        await conn.execute(
            "UPDATE users SET display_name = ? WHERE address = ?", (REPORTER_NAME, REPORTER_ADDRESS)
        )
    await file_one(people["reporter"], text="Men threatened the shopkeepers; call me on 0788 123 456.")
    return people


async def test_who_reaches_what_in_the_chat(app: App) -> None:
    people = await seeded(app)
    async with app.db.reader() as conn:
        (report,) = await model.queue(conn, Scope(everything=True), Filters())
    outcomes = {}
    for who, chat in people.items():
        await chat.send("report")
        may_file = "What do you want to report?" in chat.texts
        await chat.send("menu")
        await chat.send("reports")
        queue = chat.last[-1]
        sees_report = any(report.ref in c.label for c in queue.choices)
        outcomes[who] = (may_file, "Reports in your areas" in chat.texts, sees_report)
        await chat.send("menu")
    assert outcomes == {
        "reporter": (True, False, False),
        "committee": (False, True, True),
        "other_area": (False, True, False),
        "learner": (False, False, False),
        "admin": (True, True, True),
    }


async def test_a_committee_member_reviews_in_the_chat_and_never_sees_an_identity(app: App) -> None:
    people = await seeded(app)
    member = people["committee"]
    seen: list[str] = []
    seen += [m.text for m in await member.send("reports")]
    seen += [m.text for m in await member.tap(1)]  # open the report
    assert "[phone]" in member.texts and "0788 123 456" not in member.texts
    seen += [m.text for m in await member.tap("Claim it for 15 minutes")]
    assert "Being reviewed by" in member.texts
    seen += [m.text for m in await member.tap("Mark: verified")]
    seen += [m.text for m in await member.send("A local leader confirmed it.")]
    assert "the reporter is told" in member.texts
    async with app.db.reader() as conn:
        (report,) = await model.queue(conn, Scope(everything=True), Filters())
        rows = await conn.execute_fetchall(
            "SELECT payload FROM outbox WHERE address = ? ORDER BY id", (REPORTER_ADDRESS,)
        )
        events = await model.events_of(conn, report.id)
    assert report.status == "verified"
    assert [e["type"] for e in events] == ["filed", "claimed", "status", "status"]
    updates = [json.loads(r[0])["text"] for r in rows]
    assert any("being reviewed" in u for u in updates) and any("it is now verified" in u for u in updates)
    # Everything the committee member was sent, alerts included.
    async with app.db.reader() as conn:
        alerts = await conn.execute_fetchall("SELECT payload FROM outbox WHERE address LIKE 'committee-%'")
    seen += [json.loads(r[0])["text"] for r in alerts]
    for text in seen:
        for secret in (REPORTER_ADDRESS, REPORTER_NAME, "0788123456", "0788 123 456"):
            assert secret not in text


# -- the command line, as the operators run it ------------------------------------------------------


def cli(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | database_env(settings) | {"DIALOGS_DIR": str(settings.dialogs_dir)}
    return run_bot("reports", *args, env=env, stdin=stdin)


def test_the_command_line_holds_each_login_to_its_role_and_areas(settings: Settings, tmp_path: Path) -> None:
    async def seed() -> str:
        app = await App.create(settings)
        try:
            people = await seeded(app)
            reporter = people["reporter"]
            await file_one(
                reporter,
                text='=HYPERLINK("http://evil.example","click") stones were thrown',
                share="The committee, and people who can act",
            )
            async with app.db.transaction() as conn:
                for name, role, scope in (
                    ("marie", "committee", "RW/Gasabo"),
                    ("jean", "committee", "BI"),
                    ("grace", "admin", "*"),
                ):
                    await add_account(conn, name, PASSWORD, [], utcnow())
                    await conn.execute(
                        "UPDATE dashboard_accounts SET reports_role = ?, reports_scope = ? "
                        "WHERE username = ?",
                        (role, scope, name),
                    )
                await add_account(conn, "staff", PASSWORD, None, utcnow())
                (_, report) = await model.queue(conn, Scope(everything=True), Filters())  # the older
            return report.ref
        finally:
            await app.close()

    ref = asyncio.run(seed())
    outputs: list[str] = []

    listed = cli(settings, "list", "--as", "marie")
    assert listed.returncode == 0 and ref in listed.stdout
    other = cli(settings, "list", "--as", "jean")
    assert other.returncode == 0 and ref not in other.stdout
    assert cli(settings, "show", ref, "--as", "jean").returncode == 2  # not in their areas: not found
    staff = cli(settings, "list", "--as", "staff")
    assert staff.returncode == 2 and "not a committee login" in staff.stderr
    shown = cli(settings, "show", ref, "--as", "marie")
    assert shown.returncode == 0 and "[phone]" in shown.stdout
    outputs += [listed.stdout, other.stdout, shown.stdout]

    bad = cli(settings, "set-status", ref, "referred", "--reason", "x", "--as", "marie")
    assert bad.returncode == 2  # argparse refuses: a referral is recorded, not set
    done = cli(settings, "set-status", ref, "verified", "--reason", "two sources", "--as", "marie")
    assert done.returncode == 0, done.stderr
    again = cli(settings, "set-status", ref, "verified", "--reason", "again", "--as", "marie")
    assert again.returncode == 2 and "can go to" in again.stderr

    csv_out = cli(settings, "export", "--as", "marie", "--with-text")
    geo = cli(settings, "export", "--as", "grace", "--format", "geojson")
    assert csv_out.returncode == 0 and geo.returncode == 0
    outputs += [csv_out.stdout, geo.stdout]
    rows = list(csv.reader(io.StringIO(csv_out.stdout)))
    assert rows[0][0] == "ref" and len(rows) == 3
    # Two reports in Gasabo: under the minimum of three, the area is not named.
    assert all(r[5] == "(fewer than 3)" for r in rows[1:])
    assert any(r[-1].startswith("'=HYPERLINK") for r in rows[1:])  # not a formula in a spreadsheet
    assert json.loads(geo.stdout)["features"] == []  # the same rule for the map

    refused = cli(settings, "who", "R-XXXX", "--as", "marie", "--reason", "curious")
    assert refused.returncode == 2 and "only an admin" in refused.stderr
    code = next(
        line.split()[1].rstrip(":") for line in shown.stdout.splitlines() if line.startswith("reporter ")
    )
    who = cli(settings, "who", code, "--as", "grace", "--reason", "the reporter is in danger")
    assert who.returncode == 0 and REPORTER_ADDRESS in who.stdout

    for text in outputs:
        for secret in (REPORTER_ADDRESS, REPORTER_NAME, "0788123456", "0788 123 456"):
            assert secret not in text

    async def lookups() -> list[tuple[str, str]]:
        app = await App.create(settings)
        try:
            async with app.db.reader() as conn:
                rows = await conn.execute_fetchall("SELECT admin, reason FROM reporter_lookups")
            return [tuple(r) for r in rows]
        finally:
            await app.close()

    assert asyncio.run(lookups()) == [("grace", "the reporter is in danger")]


# -- small pieces, checked on their own ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call +250 788 123 456 now", "call [phone] now"),
        ("0788-123-456 or (0788)123456", "[phone] or [phone]"),
        ("write to a.b+c@mail.example.org", "write to [e-mail]"),
        ("40 people at 3 pm on 25/11", "40 people at 3 pm on 25/11"),
        ("on 25/11/2026 about 1500 people", "on 25/11/2026 about 1500 people"),
        ("Burundi: 79 123 456", "Burundi: [phone]"),
    ],
)
def test_phone_numbers_and_emails_are_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


@given(st.text(max_size=40))
def test_no_exported_cell_is_a_formula(value: str) -> None:
    assert cell(value)[:1] not in ("=", "+", "-", "@", "\t", "\r")


async def test_the_audit_trail_cannot_be_edited(app: App) -> None:
    await seeded(app)
    # Each in a transaction of its own: after an error PostgreSQL takes no more statements in one.
    with pytest.raises(Exception, match="cannot be edited"):
        async with app.db.transaction() as conn:
            await conn.execute("UPDATE report_events SET actor = 'someone else'")
    with pytest.raises(Exception, match="cannot be edited"):
        async with app.db.transaction() as conn:
            await conn.execute("DELETE FROM report_events")


# -- fuzz: whatever is typed at a free-text step, the reporter gets an answer, never a crash ----------


@hyp_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    step=st.sampled_from(["date", "area1", "area2", "text", "people", "confirm", "change", "reason"]),
    typed=st.text(min_size=1, max_size=300),
)
def test_any_text_at_any_step_gets_an_answer(
    settings: Settings, tmp_path: Path, step: str, typed: str
) -> None:
    async def walk() -> None:
        db = tmp_path / f"fuzz-{abs(hash((step, typed)))}.db"
        app = await App.create(Settings(database_url=f"sqlite:///{db}", dialogs_dir=settings.dialogs_dir))
        try:
            if step == "reason":
                people = await seeded(app)
                member = people["committee"]
                await member.send("reports")
                await member.tap(1)
                await member.tap("Mark: verified")
                replies = await member.send(typed)
            else:
                chat = await make(app, "reporter", "fuzz")
                await chat.send("report")
                await chat.tap("Violence or clash")
                script = {
                    "date": ["Another day"],
                    "area1": ["Today", "Rwanda"],
                    "area2": ["Today", "Rwanda", "Huye"],
                }
                taps = script.get(step, ["Today", "Rwanda", "Huye", 1])
                for label in taps:
                    await (chat.send(label) if label == "Huye" else chat.tap(label))
                if step in ("people", "confirm", "change"):
                    await chat.send("Something happened at the market.")
                    if step != "people":
                        await chat.tap("Nobody")
                        await chat.tap("Yes, I am safe")
                        await chat.tap("Only the committee")
                    if step == "change":
                        await chat.tap("✏ Change something")
                replies = await chat.send(typed)
            assert replies, "every message gets an answer"
            assert all(APOLOGY not in m.text for m in replies)
        finally:
            await app.close()

    asyncio.run(walk())
    for path in tmp_path.glob("fuzz-*"):
        path.unlink()
