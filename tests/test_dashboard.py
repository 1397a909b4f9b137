"""The staff dashboard: logins, CSRF, rate limit, scope, and the page in a real headless Chromium."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from bot.app import App
from bot.clubs import model as clubs
from bot.messages import utcnow
from bot.stats.dashboard.accounts import add_account
from bot.web.server import build_web
from tests.conftest import Chat

PASSWORD = "a long enough password"


async def seed(app: App) -> dict[str, clubs.Club]:
    async with app.db.transaction() as conn:
        huye = await clubs.create_club(conn, "Huye Club", "Huye", "rw", utcnow())
        nyabihu = await clubs.create_club(conn, "Nyabihu Club", "Nyabihu", "rw", utcnow())
        await add_account(conn, "staff", PASSWORD, None, utcnow())
        await add_account(conn, "keza", PASSWORD, [huye.id], utcnow())
    for n, club in enumerate([huye] * 6 + [nyabihu] * 2):
        chat = Chat(app, address=f"learner{n}")
        await chat.onboard()
        await chat.send(f"join {club.code}")
        for answer in ("2", "1"):  # Quizzes → the first quiz
            await chat.send(answer)
        for k in range(8):  # to its end, a third of the answers wrong: a hardest question exists
            await chat.answer(right=(k + n) % 3 != 0)
    return {"huye": huye, "nyabihu": nyabihu}


@pytest.fixture
async def web(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        yield client


async def login(web: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    form = await web.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return await web.post(
        "/dashboard/login", data={"csrf": csrf.group(1), "username": username, "password": password}
    )


async def test_without_a_login_you_are_sent_to_the_login_page(web: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard.csv"):
        response = await web.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    forged = await web.post("/dashboard/login", data={"csrf": "x", "username": "staff", "password": PASSWORD})
    assert forged.status_code == 403  # no CSRF token, no login


async def test_logins_are_checked_and_rate_limited(app: App, web: httpx.AsyncClient) -> None:
    await seed(app)
    for _ in range(5):
        assert (await login(web, "staff", "wrong password!")).status_code == 401
    blocked = await login(web, "staff")  # even the right password waits now
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text
    async with app.db.conn.execute("SELECT password_hash FROM dashboard_accounts") as cur:
        assert all(r[0].startswith("scrypt$") and PASSWORD not in r[0] for r in await cur.fetchall())


async def test_a_facilitator_login_sees_only_its_clubs(app: App, web: httpx.AsyncClient) -> None:
    seeded = await seed(app)
    assert (await login(web, "keza")).status_code == 303
    page = await web.get("/dashboard")
    assert "Huye Club" in page.text and "Nyabihu Club" not in page.text
    other = await web.get(f"/dashboard?club={seeded['nyabihu'].code}")
    assert "not one you can see" in other.text and "Nyabihu Club" not in other.text
    adults = await web.get("/dashboard?age=25p")
    assert adults.status_code == 200 and 'value="25p" selected' in adults.text
    csv_text = (await web.get("/dashboard.csv")).text
    assert csv_text.startswith("metric,key,value") and "signups,,6" in csv_text
    for text in (page.text, csv_text):
        assert "learner0" not in text  # addresses never appear


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver (.ci/run installs them)"
)
async def test_the_dashboard_in_headless_chromium(app: App, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    await seed(app)
    async with app.db.transaction() as conn:  # a past session of each club, for the RSVP chart
        await conn.execute(
            "INSERT INTO club_sessions (club_id, starts_at, place, topic, created_at) "
            "SELECT id, '2026-01-10T13:00:00+00:00', 'Hall', 'Dialogue', '2026-01-05T10:00:00+00:00' "
            "FROM clubs"
        )
        await conn.execute(
            "INSERT INTO invitations (session_id, user_id, delivery, rsvp, attended, created_at) "
            "SELECT s.id, m.user_id, 'delivered', 'yes', 1, '2026-01-05T10:00:00+00:00' "
            "FROM club_sessions s JOIN memberships m ON m.club_id = s.club_id"
        )
    server = uvicorn.Server(uvicorn.Config(build_web(app), host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=412,915"):
        options.add_argument(flag)  # a phone-sized window
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})

    def browse() -> dict[str, object]:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
        driver.implicitly_wait(10)  # pages load after each click
        try:
            driver.get(f"{base}/dashboard")
            assert driver.current_url.endswith("/dashboard/login")
            driver.find_element(By.NAME, "username").send_keys("staff")
            driver.find_element(By.NAME, "password").send_keys(PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            Select(driver.find_element(By.NAME, "district")).select_by_visible_text("Huye")
            driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
            WebDriverWait(driver, 10).until(lambda d: "district=Huye" in d.current_url)
            seen = {
                "url": driver.current_url,
                "bars": {
                    chart: len(driver.find_elements(By.CSS_SELECTOR, f"#{chart} svg rect.bar"))
                    for chart in ("active", "completion", "hardest")
                },
                "widths": [
                    float(r.get_attribute("width") or 0)
                    for r in driver.find_elements(By.CSS_SELECTOR, "#completion svg rect.bar")
                ],
            }
            driver.find_element(By.ID, "csv").click()
            for _ in range(50):
                if list(downloads.glob("*.csv")):
                    break
                threading.Event().wait(0.1)
            # On a phone (390 × 844), in each language: tables fit or scroll on their own, chart
            # text stays readable.
            driver.set_window_size(390, 844)
            for lang in ("en", "fr", "rw"):
                driver.get(f"{base}/dashboard?lang={lang}")
                driver.find_element(By.CSS_SELECTOR, "#modules table")
                seen[f"phone_{lang}"] = driver.execute_script(PHONE_CHECK)
            return seen
        finally:
            driver.quit()

    try:
        seen = await asyncio.to_thread(browse)
    finally:
        server.should_exit = True
        await task
    assert "district=Huye" in str(seen["url"])
    assert all(n > 0 for n in seen["bars"].values()), seen  # type: ignore[union-attr]
    assert max(seen["widths"]) > 0  # type: ignore[type-var]
    [csv_file] = list(downloads.glob("*.csv"))
    assert csv_file.read_text().startswith("metric,key,value")
    for lang in ("en", "fr", "rw"):
        phone: dict = seen[f"phone_{lang}"]  # type: ignore[assignment]
        assert phone["viewport"] <= 400, phone  # the window really is phone-sized
        assert phone["page"] <= phone["viewport"], phone  # nothing makes the whole page scroll sideways
        assert phone["tables"] >= 2 and not phone["wide"], phone  # each fits, or scrolls in its own box
        assert phone["rate"] <= phone["viewport"], phone  # the Modules table's last column is in view
        assert phone["texts"] >= 10 and phone["smallest"] >= 11, phone  # chart text in px, as rendered


# Run by WebDriver in the page (the policy forbids the page's own scripts, not these).
PHONE_CHECK = """
const viewport = document.documentElement.clientWidth;
const wide = [];
const tables = document.querySelectorAll('table');
for (const table of tables) {
  let box = table;  // the table itself, or the nearest box that scrolls it sideways
  for (let el = table.parentElement; el && el !== document.body; el = el.parentElement) {
    const overflow = getComputedStyle(el).overflowX;
    if (overflow === 'auto' || overflow === 'scroll') { box = el; break; }
  }
  const r = box.getBoundingClientRect();
  if (r.left < 0 || r.right > viewport) wide.push(box.outerHTML.slice(0, 80));
}
const sizes = [...document.querySelectorAll('svg.chart text')].map(t => {
  const svg = t.ownerSVGElement;
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return Math.min(parseFloat(getComputedStyle(t).fontSize) * scale, t.getBoundingClientRect().height);
});
const rate = document.querySelector('#modules table tr th:last-child').getBoundingClientRect().right;
return {viewport, page: document.documentElement.scrollWidth, tables: tables.length, wide,
        texts: sizes.length, smallest: Math.min(...sizes), rate};
"""
