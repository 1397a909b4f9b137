"""The committee's pages at /dashboard/reports: who may see what (a reports role, the login's
areas, CSRF on every form), the claim lock, the review actions and their audit trail, the admin's
logged look-up of a reporter, the overview's small-area rule, and a whole review in a real
headless Chromium. Reports are filed by driving the real bot through the chat."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from bot.app import App
from bot.config import Settings
from bot.messages import utcnow
from bot.reports import model
from bot.reports.dashboard.charts import heat_colour
from bot.stats.dashboard.accounts import add_account
from bot.storage import repo
from bot.web.server import build_web
from tests.conftest import Chat
from tests.test_dashboard import PASSWORD, login
from tests.test_dashboard_security import browser, csrf_of
from tests.test_reports_chat import file_one, make

BASE = "/dashboard/reports"
REPORTER = "reporter-uwase-0788"  # the reporter's chat address: no page may show it
NAME = "Uwase Claudine"  # nor the name their channel gave
TEMPLATES = Path(__file__).parent.parent / "bot" / "reports" / "dashboard" / "templates"
SHARED = {"share": "The committee, and people who can act"}
# Dashboard logins: (username, reports role, areas). "staff" sees the stats, not the reports.
LOGINS = (
    ("staff", None, "*"),
    ("amina", "committee", "RW/Gasabo"),
    ("bosco", "committee", "RW"),
    ("claude", "committee", "BI"),
    ("root", "admin", "*"),
)


async def reporter(app: App) -> Chat:
    chat = await make(app, "reporter", REPORTER)
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE users SET display_name = ? WHERE address = ?", (NAME, REPORTER))
    return chat


async def add_logins(app: App) -> None:
    async with app.db.transaction() as conn:
        for username, role, scope in LOGINS:
            await add_account(conn, username, PASSWORD, None if role is None else [], utcnow())
            await conn.execute(
                "UPDATE dashboard_accounts SET reports_role = ?, reports_scope = ? WHERE username = ?",
                (role, scope, username),
            )


@asynccontextmanager
async def logged_in(web: ASGIApp, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(web) as client:
        assert (await login(client, username)).status_code == 303
        yield client


async def act(client: httpx.AsyncClient, ref: str, action: str, **data: object) -> httpx.Response:
    """Post one of the report page's forms, with the token the page carries."""
    page = await client.get(f"{BASE}/{ref}")
    assert page.status_code == 200, page.text
    return await client.post(f"{BASE}/{ref}/{action}", data={"csrf": csrf_of(page), **data})  # type: ignore[arg-type]


async def report(app: App, ref: str) -> model.Report:
    async with app.db.reader() as conn:
        found = await model.get_report(conn, ref)
    assert found is not None
    return found


def section(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', page.text, re.DOTALL)
    return found.group(1) if found else ""


def trail(page: httpx.Response) -> list[tuple[str, str, str]]:
    """The audit trail's rows: (who, what, details)."""
    rows = re.findall(
        r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", section(page, "trail")
    )
    return [(who, what, details) for who, what, details in rows]


# -- who may see what -----------------------------------------------------------------------------


async def test_without_a_login_you_are_sent_to_the_login_page(app: App) -> None:
    async with browser(build_web(app)) as client:
        for path in (BASE, f"{BASE}/overview", f"{BASE}/EW-2026-0001"):
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["Cache-Control"] == "no-store"
        posted = await client.post(f"{BASE}/EW-2026-0001/claim", data={"csrf": "x"})
        assert posted.status_code == 303 and posted.headers["location"] == "/dashboard/login"


async def test_a_login_without_a_reports_role_gets_403(app: App) -> None:
    await add_logins(app)
    async with logged_in(build_web(app), "staff") as client:
        assert (await client.get("/dashboard")).status_code == 200  # the stats are still theirs
        for path in (BASE, f"{BASE}/overview", f"{BASE}/EW-2026-0001"):
            response = await client.get(path)
            assert response.status_code == 403 and "no access to early-warning reports" in response.text
            assert response.headers["X-Frame-Options"] == "DENY"


async def test_a_committee_of_another_area_sees_neither_the_report_nor_it_in_the_queue(app: App) -> None:
    await add_logins(app)
    ref = await file_one(await reporter(app))  # Rwanda, Gasabo
    web = build_web(app)
    async with logged_in(web, "claude") as burundi, logged_in(web, "amina") as gasabo:
        assert ref in (await gasabo.get(BASE)).text
        queue = await burundi.get(BASE)
        assert queue.status_code == 200 and ref not in queue.text and "No report matches" in queue.text
        assert ref not in (await burundi.get(f"{BASE}?status=")).text
        theirs, unknown = await burundi.get(f"{BASE}/{ref}"), await burundi.get(f"{BASE}/EW-1999-0001")
        assert theirs.status_code == unknown.status_code == 404  # the same answer for both
        assert theirs.text.replace(ref, "EW-1999-0001") == unknown.text
        # Nor can a form reach it.
        csrf = csrf_of(await burundi.get(BASE))
        claimed = await burundi.post(f"{BASE}/{ref}/claim", data={"csrf": csrf})
        assert claimed.status_code == 404
        assert ref not in (await burundi.get(f"{BASE}/overview")).text
    assert (await report(app, ref)).claimed_by is None


async def test_a_form_without_its_csrf_token_is_refused(app: App) -> None:
    await add_logins(app)
    ref = await file_one(await reporter(app))
    web = build_web(app)
    async with logged_in(web, "amina") as amina, logged_in(web, "bosco") as bosco:
        assert (await amina.post(f"{BASE}/{ref}/claim")).status_code == 403
        assert (await amina.post(f"{BASE}/{ref}/claim", data={"csrf": "made up"})).status_code == 403
        token_of_bosco = csrf_of(await bosco.get(f"{BASE}/{ref}"))
        stolen = await amina.post(f"{BASE}/{ref}/note", data={"csrf": token_of_bosco, "note": "hello"})
        assert stolen.status_code == 403
    found = await report(app, ref)
    assert found.claimed_by is None and found.status == "received"
    async with app.db.reader() as conn:
        assert [e["type"] for e in await model.events_of(conn, found.id)] == ["filed"]


@pytest.mark.parametrize("secret", [None, "a secret that outlives the process"])
async def test_the_pages_share_the_staff_dashboards_login_and_logout(
    settings: Settings, secret: str | None
) -> None:
    app = await App.create(replace(settings, dashboard_secret=secret))
    try:
        await add_logins(app)
        async with logged_in(build_web(app), "amina") as amina:
            page = await amina.get(BASE)
            assert page.status_code == 200 and "Logged in as amina (committee) · areas RW/Gasabo" in page.text
            out = await amina.post("/dashboard/logout", data={"csrf": csrf_of(page)})  # the header's form
            assert out.status_code == 303
            assert (await amina.get(BASE)).status_code == 303  # the session ended for these pages too
    finally:
        await app.close()


# -- the review ----------------------------------------------------------------------------------


async def test_a_claim_locks_the_report_to_its_reviewer(app: App) -> None:
    await add_logins(app)
    chat = await reporter(app)
    ref = await file_one(chat)
    web = build_web(app)
    async with logged_in(web, "amina") as amina, logged_in(web, "bosco") as bosco:
        claimed = await act(amina, ref, "claim")
        assert claimed.status_code == 303 and claimed.headers["location"] == f"{BASE}/{ref}?done=claimed"
        page = await amina.get(claimed.headers["location"])
        assert "You claimed this report" in page.text and "Release it" in page.text
        refused = await act(bosco, ref, "claim")
        assert refused.status_code == 409 and f"{ref} is being reviewed by amina" in refused.text
        status = await act(bosco, ref, "status", status="verified", reason="I called the chief")
        assert status.status_code == 409 and "being reviewed by amina" in status.text
        urgency = await act(bosco, ref, "urgency", urgency="low")
        assert urgency.status_code == 409 and "being reviewed by amina" in urgency.text
        assert "being reviewed by amina" in (await bosco.get(BASE)).text
        # Once amina releases it, bosco may take it.
        assert (await act(amina, ref, "release")).status_code == 303
        assert (await act(bosco, ref, "claim")).status_code == 303
    found = await report(app, ref)
    assert found.claimed_by == "bosco" and found.status == "in_review" and found.urgency is None


async def test_an_impossible_status_change_says_why(app: App) -> None:
    await add_logins(app)
    ref = await file_one(await reporter(app))
    async with logged_in(build_web(app), "amina") as amina:
        no_reason = await act(amina, ref, "status", status="verified", reason=" ")
        assert no_reason.status_code == 409 and "a status change needs a reason" in no_reason.text
        assert (await act(amina, ref, "status", status="verified", reason="two sources")).status_code == 303
        wrong = await act(amina, ref, "status", status="unverifiable", reason="changed my mind")
        assert wrong.status_code == 409
        assert f"{ref} is verified; it can go to referred, closed, not unverifiable" in wrong.text
        sneaky = await act(amina, ref, "status", status="referred", reason="skip the referral form")
        assert sneaky.status_code == 409 and "record a referral" in sneaky.text
        # The page offers only the statuses the report can go to (a referral has its own form).
        offered = re.findall(
            r'<option value="(\w+)">', section(await amina.get(f"{BASE}/{ref}"), "set-status")
        )
        assert offered == ["closed"]
        # Text in a refused form comes back escaped.
        note = await act(amina, ref, "duplicate", original="<b>EW-1</b>")
        assert (
            note.status_code == 409
            and "<b>EW-1</b>" not in note.text
            and "&lt;B&gt;EW-1&lt;/B&gt;" in note.text
        )
    assert (await report(app, ref)).status == "verified"


async def test_a_committee_only_report_cannot_be_referred(app: App) -> None:
    await add_logins(app)
    ref = await file_one(await reporter(app))  # "Only the committee"
    async with logged_in(build_web(app), "amina") as amina:
        assert (await act(amina, ref, "status", status="verified", reason="seen it")).status_code == 303
        page = await amina.get(f"{BASE}/{ref}")
        assert "The reporter asked: never shared beyond the committee." in page.text
        assert f"{ref}/referral" not in page.text  # no form offered
        refused = await act(amina, ref, "referral", to="Local leaders", when="today")
        assert refused.status_code == 409
        assert f"the reporter asked that {ref} is never shared beyond the committee" in refused.text
    assert (await report(app, ref)).status == "verified"


async def test_the_audit_trail_lists_every_change_with_who(app: App) -> None:
    await add_logins(app)
    chat = await reporter(app)
    first = await file_one(chat, **SHARED)
    ref = await file_one(chat, "Stones again at the market, the same youths.", **SHARED)
    web = build_web(app)
    async with logged_in(web, "amina") as amina, logged_in(web, "bosco") as bosco:
        page = await amina.get(f"{BASE}/{ref}")
        assert first in section(page, "duplicates")  # same type, same area, within 48 hours
        assert (await act(amina, ref, "claim")).status_code == 303
        checked = await act(amina, ref, "checklist", done=["second_source", "local_leader"])
        assert checked.status_code == 303
        unknown = await act(amina, ref, "checklist", done=["bribed_someone"])
        assert unknown.status_code == 409 and "not on the checklist: bribed_someone" in unknown.text
        assert (await act(amina, ref, "urgency", urgency="high")).status_code == 303
        assert (await act(amina, ref, "note", note="The chief <b>knows</b>.")).status_code == 303
        assert (await act(amina, ref, "duplicate", original=first)).status_code == 303
        assert (await act(amina, ref, "status", status="verified", reason="two sources")).status_code == 303
        assert (await act(amina, ref, "referral", to="Local leaders", when="today")).status_code == 303
        assert (await act(amina, ref, "release")).status_code == 303
        assert (await act(bosco, ref, "note", note="Followed up.")).status_code == 303
        page = await bosco.get(f"{BASE}/{ref}")
    rows = trail(page)
    assert rows[0] == ("reporter", "filed", "status: received")
    assert [(who, what) for who, what, _ in rows[1:]] == [
        ("amina", "claimed"),
        ("amina", "status"),  # received → in review, with the claim
        ("amina", "checklist"),
        ("amina", "urgency"),
        ("amina", "note"),
        ("amina", "duplicate"),
        ("amina", "status"),
        ("amina", "referral"),
        ("amina", "status"),
        ("amina", "released"),
        ("bosco", "note"),
    ]
    details = [d for _, _, d in rows]
    assert "received → in review: claimed for review" in details
    assert "second_source, local_leader" in details or "local_leader, second_source" in details
    assert "none → high" in details and f"of {first}" in details and "to Local leaders, today" in details
    assert "The chief &lt;b&gt;knows&lt;/b&gt;." in details  # notes are escaped
    assert "verified → referred: referred to Local leaders" in details
    assert re.search(rf'Duplicate of</th><td><a href="{BASE}/{first}">', page.text)
    assert 'id="status">referred<' in page.text and 'id="urgency">high<' in page.text


async def test_a_reporter_with_enough_verified_reports_can_be_marked_trusted(app: App) -> None:
    await add_logins(app)
    ref = await file_one(await reporter(app))
    async with logged_in(build_web(app), "amina") as amina:
        assert f"{ref}/trusted" not in (await amina.get(f"{BASE}/{ref}")).text  # 0 verified of 5
        async with app.db.transaction() as conn:
            user = await repo.find_user(conn, "console", REPORTER)
            assert user is not None
            reporter_id, code = await model.reporter_code(conn, user.id, utcnow())
            for n in range(5):
                draft = model.Draft(
                    type="threat",
                    happened_on=utcnow().date().isoformat(),
                    country="RW",
                    area1="Gasabo",
                    text=f"Threats, number {n}.",
                    safe=True,
                )
                filed = await model.file_report(conn, draft, reporter_id, "console", "en", utcnow())
                await conn.execute("UPDATE reports SET verified_at = created_at WHERE id = ?", (filed.id,))
        page = await amina.get(f"{BASE}/{ref}")
        assert f"{ref}/trusted" in page.text and "6 filed · 83% verified" in page.text
        assert (await act(amina, ref, "trusted")).headers["location"] == f"{BASE}/{ref}?done=trusted"
        page = await amina.get(f"{BASE}/{ref}")
        assert "83% verified · trusted" in page.text and f"{ref}/trusted" not in page.text
    async with app.db.reader() as conn:
        rows = await conn.execute_fetchall("SELECT trusted FROM reporters WHERE code = ?", (code,))
        events = await conn.execute_fetchall(
            "SELECT actor FROM report_events WHERE type = 'reporter_trusted'"
        )
    assert rows[0]["trusted"] == 1 and [e["actor"] for e in events] == ["amina"]


async def test_only_an_admin_can_see_who_a_reporter_is_and_it_is_logged(app: App) -> None:
    await add_logins(app)
    ref = await file_one(await reporter(app), "Stones thrown, my neighbour saw it: call +250 788 123 456.")
    web = build_web(app)
    async with logged_in(web, "amina") as amina, logged_in(web, "root") as root:
        page = await amina.get(f"{BASE}/{ref}")
        assert "/reveal" not in page.text and "Original text" not in page.text
        assert "[phone]" in page.text and "788 123 456" not in page.text
        refused = await act(amina, ref, "reveal", reason="curious")
        assert refused.status_code == 403 and REPORTER not in refused.text
        admin_page = await root.get(f"{BASE}/{ref}")
        assert f"{ref}/reveal" in admin_page.text
        assert "Original text" in admin_page.text and "+250 788 123 456" in admin_page.text
        no_reason = await act(root, ref, "reveal", reason="  ")
        assert no_reason.status_code == 409 and REPORTER not in no_reason.text
        shown = await act(root, ref, "reveal", reason="the reporter is in danger; the police asked")
        assert shown.status_code == 200 and "location" not in shown.headers
        assert f"console:{REPORTER}" in shown.text and "This lookup was logged" in shown.text
        assert REPORTER not in str(shown.url)
    code = (await report(app, ref)).reporter_code
    async with app.db.reader() as conn:
        rows = await conn.execute_fetchall("SELECT admin, code, reason FROM reporter_lookups")
    assert [tuple(r) for r in rows] == [("root", code, "the reporter is in danger; the police asked")]


async def test_the_overview_hides_an_area_with_fewer_reports_than_the_minimum(app: App) -> None:
    await add_logins(app)
    chat = await reporter(app)
    for n in range(3):
        await file_one(chat, f"Stones thrown at the market, day {n}.")
    await file_one(chat, "A fight near the stadium.", area1="Huye", area2="Tumba")
    async with logged_in(build_web(app), "root") as root:
        page = await root.get(f"{BASE}/overview")
        areas = section(page, "areas")
        assert page.status_code == 200 and "Gasabo" in areas and "Huye" not in areas
        assert "1 area with fewer than 3 reports is not shown" in areas
        assert re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', areas) == [
            "#14532d"
        ]  # one per row, the darkest
        assert re.search(r"<b>4</b>reports", page.text)  # still counted in the total
        assert "Destruction of property" in section(page, "weeks")
        only_huye = await root.get(f"{BASE}/overview?area=RW/Huye")
        assert "Huye" not in section(only_huye, "areas")
        bad = await root.get(f"{BASE}/overview?since=yesterday&area=XX/Nowhere")
        assert bad.status_code == 200 and "is not a date" in bad.text and "is not an area we know" in bad.text


async def test_no_page_shows_the_reporters_address_or_name(app: App) -> None:
    await add_logins(app)
    chat = await reporter(app)
    ref = await file_one(chat, **SHARED)
    other = await file_one(chat)
    web = build_web(app)
    async with logged_in(web, "amina") as amina, logged_in(web, "root") as root:
        await act(amina, ref, "claim")
        await act(amina, ref, "status", status="verified", reason="two sources")
        pages = []
        for client in (amina, root):
            for path in (BASE, f"{BASE}?status=", f"{BASE}/overview", f"{BASE}/{ref}", f"{BASE}/{other}"):
                response = await client.get(path)
                assert response.status_code == 200, path
                pages.append(response.text)
    async with app.db.reader() as conn:
        rows = await conn.execute_fetchall("SELECT pseudonym FROM users WHERE address = ?", (REPORTER,))
    code = (await report(app, ref)).reporter_code
    for text in pages:
        assert REPORTER not in text and NAME not in text and rows[0]["pseudonym"] not in text
    assert code and all(code in text for text in pages if ref in text and "Reporter</th>" in text)


async def test_the_queue_filters_and_pages(app: App) -> None:
    await add_logins(app)
    chat = await reporter(app)
    danger = await file_one(chat, "Two groups are fighting now.", safe="No, I am not safe")
    async with app.db.transaction() as conn:  # many more reports, quicker than through the chat
        user = await repo.find_user(conn, "console", REPORTER)
        assert user is not None
        reporter_id, _ = await model.reporter_code(conn, user.id, utcnow())
        for n in range(54):
            draft = model.Draft(
                type="rumour",
                happened_on=utcnow().date().isoformat(),
                country="RW",
                area1="Gasabo",
                area2="Remera",
                text=f"Rumour number {n}.",
                people="unknown",
                safe=True,
                committee_only=True,
            )
            await model.file_report(
                conn, draft, reporter_id, "console", "en", utcnow() - timedelta(hours=n + 1)
            )
    async with logged_in(build_web(app), "amina") as amina:
        first = await amina.get(BASE)
        refs = re.findall(r'<td><a href="/dashboard/reports/(EW-[\d-]+)">', first.text)
        assert len(refs) == 50 and refs[0] == danger  # danger first
        assert "⚠ danger" in section(first, "queue").split("</tr>")[1]
        assert 'href="?status=open&amp;page=2"' in first.text and "Newer page" not in first.text
        second = await amina.get(f"{BASE}?status=open&page=2")
        assert len(re.findall(r'<td><a href="/dashboard/reports/EW-', second.text)) == 5
        rumours = await amina.get(f"{BASE}?type=rumour&status=")
        assert danger not in rumours.text
        closed = await amina.get(f"{BASE}?status=closed")
        assert "No report matches" in closed.text
        burundi = await amina.get(f"{BASE}?area=BI")
        assert "No report matches" in burundi.text  # in the filter, but outside amina's areas
        weird = await amina.get(f"{BASE}?status=nonsense&urgency=extreme&until=2026-13-01")
        assert weird.status_code == 200 and weird.text.count('class="error"') == 3


def test_the_heat_goes_from_light_to_dark() -> None:
    shades = [heat_colour(n, 10) for n in range(11)]
    assert shades[0] == "#dcfce7" and shades[-1] == "#14532d" and heat_colour(3, 0) == "#dcfce7"
    greens = [int(shade[3:5], 16) for shade in shades]
    assert greens == sorted(greens, reverse=True) and len(set(shades)) == 11


def test_the_templates_have_nothing_the_policy_would_block() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "<script" not in text and not re.search(r"\son\w+=", text), template.name
        assert " style=" not in text and "<style" not in text, template.name
        assert '{% extends "base.html" %}' in text or "reports_layout.html" in text or "<section>" in text


# -- the whole review in a real browser ----------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver (.ci/run installs them)"
)
async def test_a_committee_member_reviews_a_report_in_headless_chromium(app: App) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    await add_logins(app)
    ref = await file_one(await reporter(app), **SHARED)
    server = uvicorn.Server(uvicorn.Config(build_web(app), host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=412,915"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    def browse() -> dict[str, object]:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
        driver.implicitly_wait(10)
        wait = WebDriverWait(driver, 10)

        def submit(section: str, done: str) -> None:
            driver.find_element(By.CSS_SELECTOR, f"#{section} button.primary").click()
            wait.until(lambda d: f"done={done}" in d.current_url)

        try:
            driver.get(f"{base}{BASE}")
            assert driver.current_url.endswith("/dashboard/login")
            driver.find_element(By.NAME, "username").send_keys("amina")
            driver.find_element(By.NAME, "password").send_keys(PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait.until(lambda d: d.current_url.endswith("/dashboard"))
            driver.get(f"{base}{BASE}")
            driver.find_element(By.LINK_TEXT, ref).click()
            wait.until(lambda d: d.current_url.endswith(f"{BASE}/{ref}"))
            submit("claim", "claimed")
            for item in ("second_source", "local_leader"):
                driver.find_element(By.CSS_SELECTOR, f"#checklist input[value={item}]").click()
            submit("checklist", "checklist")
            Select(driver.find_element(By.CSS_SELECTOR, "#set-urgency select")).select_by_visible_text("high")
            submit("set-urgency", "urgency")
            Select(driver.find_element(By.CSS_SELECTOR, "#set-status select")).select_by_visible_text(
                "verified"
            )
            driver.find_element(By.CSS_SELECTOR, "#set-status input[name=reason]").send_keys(
                "two sources agree"
            )
            submit("set-status", "status")
            driver.find_element(By.CSS_SELECTOR, "#referral input[name=to]").send_keys("Local leaders")
            driver.find_element(By.CSS_SELECTOR, "#referral input[name=when]").send_keys("today")
            submit("referral", "referral")
            return {
                "status": driver.find_element(By.ID, "status").text,
                "ticked": len(driver.find_elements(By.CSS_SELECTOR, "#checklist input:checked")),
                "colour": driver.find_element(By.TAG_NAME, "header").value_of_css_property(
                    "background-color"
                ),
                "console": [entry["message"] for entry in driver.get_log("browser")],
            }
        finally:
            driver.quit()

    try:
        seen = await asyncio.to_thread(browse)
    finally:
        server.should_exit = True
        await task
    assert seen["status"] == "referred" and seen["ticked"] == 2
    assert seen["colour"] == "rgba(22, 101, 52, 1)"  # base.html's stylesheet applied under the policy
    assert not [m for m in seen["console"] if "Content Security Policy" in m], seen["console"]  # type: ignore[union-attr]
    found = await report(app, ref)
    assert (found.status, found.urgency, found.checklist) == (
        "referred",
        "high",
        ("local_leader", "second_source"),
    )
    async with app.db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT payload FROM outbox WHERE address = ? ORDER BY id", (REPORTER,)
        )
    updates = "\n".join(json.loads(r["payload"])["text"] for r in rows)
    for words in ("being reviewed", "verified", "passed on to people who can act"):
        assert f"Update on your report {ref}: it is now {words}." in updates, words
