"""The dashboard resists attack: per-client login backoff (never an account lock), X-Forwarded-For
only from a trusted proxy, no timing difference for unknown usernames, scrypt off the event loop
and outside transactions, server-side sessions, CSRF tokens only the server issued, security
headers, and a login throttle that forgets. Against the real app through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from bot.app import App
from bot.config import ConfigError, Settings
from bot.messages import utcnow
from bot.stats.dashboard.accounts import LoginThrottle, add_account, hashed
from bot.storage.db import Database
from bot.web.server import build_web

PASSWORD = "a long enough password"
TEMPLATES = Path(__file__).parent.parent / "bot" / "stats" / "dashboard" / "templates"


@asynccontextmanager
async def running(settings: Settings, **changes: object) -> AsyncIterator[App]:
    """The bot with some settings changed, and a staff login."""
    app = await App.create(replace(settings, **changes))
    try:
        async with app.db.transaction() as conn:
            await add_account(conn, "staff", PASSWORD, None, utcnow())
        yield app
    finally:
        await app.close()


@pytest.fixture
async def staffed(app: App) -> App:
    async with app.db.transaction() as conn:
        await add_account(conn, "staff", PASSWORD, None, utcnow())
    return app


@asynccontextmanager
async def browser(web: ASGIApp, address: str = "198.51.100.7") -> AsyncIterator[httpx.AsyncClient]:
    """One browser, connecting from `address`."""
    transport = httpx.ASGITransport(app=web, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def login(
    client: httpx.AsyncClient, username: str = "staff", password: str = PASSWORD, forwarded: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    csrf = csrf_of(await client.get("/dashboard/login", headers=headers))
    return await client.post(
        "/dashboard/login",
        data={"csrf": csrf, "username": username, "password": password},
        headers=headers,
    )


# -- 1. per-client backoff, not an account lock --------------------------------------------------


async def test_wrong_passwords_slow_down_their_client_not_the_account(
    staffed: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.stats.dashboard.web")
    web = build_web(staffed)
    async with browser(web, "198.51.100.7") as attacker, browser(web, "203.0.113.9") as staff:
        for _ in range(5):
            assert (await login(attacker, password="guess number one")).status_code == 401
        # The real user, elsewhere, is not locked out...
        assert (await login(staff)).status_code == 303
        assert (await staff.get("/dashboard")).status_code == 200
        # ...while the guessing client waits, even with the right password.
        refused = await login(attacker)
        assert refused.status_code == 429 and "Too many attempts" in refused.text
        assert int(refused.headers["Retry-After"]) > 0
    failed = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    assert len(failed) == 5 and all("'staff'" in m and "198.51.100.7" in m for m in failed)
    assert "guess number one" not in caplog.text


async def test_the_wait_grows_with_each_failure_and_has_a_ceiling(settings: Settings) -> None:
    clock, client = Clock(), "198.51.100.7"
    db = await Database.open(settings.database_url)
    try:
        throttle = LoginThrottle(db, clock=clock)
        assert await throttle.begin(client) == 0.0
        assert await throttle.begin(client) > 0  # one attempt at a time: parallel guesses wait their turn
        await throttle.end(client, failed=False)
        waits = []
        for _ in range(12):
            assert await throttle.begin(client) == 0.0
            await throttle.end(client, failed=True)
            wait = await throttle.begin(client)
            if wait == 0.0:
                await throttle.end(client, failed=False)  # it was free to try: close that attempt unused
            waits.append(wait)
            clock.now += wait  # wait it out
        assert waits == [0.0] * 4 + [15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 900.0]
        # Another worker, on the same database, counts the same failures.
        other = LoginThrottle(await Database.open(settings.database_url), clock=clock)
        await other.begin(client)
        assert await other.end(client, failed=True) == 13
        await other.db.close()
    finally:
        await db.close()


async def test_a_login_holds_on_every_worker_and_across_restarts(settings: Settings) -> None:
    """Without DASHBOARD_SECRET, the workers share a key kept in the database."""
    async with running(settings) as first, browser(build_web(first)) as user:
        assert (await login(user)).status_code == 303
        other = await App.create(settings)  # another worker, or this one restarted
        try:
            cookies = dict(user.cookies)
            async with browser(build_web(other)) as same_user:
                same_user.cookies.update(cookies)
                page = await same_user.get("/dashboard")
                assert page.status_code == 200 and "login" not in str(page.url)
        finally:
            await other.close()


# -- 2. X-Forwarded-For only from a trusted proxy ------------------------------------------------


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(settings: Settings) -> None:
    async with running(settings) as app:  # FORWARDED_ALLOW_IPS empty: nobody's header counts
        web = build_web(app)
        async with browser(web, "198.51.100.7") as attacker:
            for n in range(5):  # a new made-up address each time does not reset the count
                assert (
                    await login(attacker, password="wrong password", forwarded=f"10.9.0.{n}")
                ).status_code == 401
            assert (await login(attacker, forwarded="10.9.0.99")).status_code == 429
    # (The count is kept in the database: 198.51.100.7 is still held back after a restart.)
    async with running(settings, forwarded_allow_ips=("10.0.0.1",)) as app:
        web = build_web(app)
        async with browser(web, "10.0.0.1") as proxy:  # every browser arrives through the proxy
            assert (await login(proxy, forwarded="198.51.100.7")).status_code == 429
            for _ in range(5):
                assert (
                    await login(proxy, password="wrong password", forwarded="198.51.100.8")
                ).status_code == 401
            # The attacker writes its own header; the proxy appends the address it saw.
            spoofed = await login(proxy, forwarded="203.0.113.9, 198.51.100.8")
            assert spoofed.status_code == 429
            # Someone else behind the same proxy is not held up by the attacker.
            assert (await login(proxy, forwarded="203.0.113.9")).status_code == 303


def test_forwarded_allow_ips_is_parsed_like_the_other_settings(tmp_path: Path) -> None:
    def parsed(**env: str) -> Settings:
        return Settings.from_env(env, env_file=tmp_path / "none.env")

    assert parsed().forwarded_allow_ips == ()
    assert parsed(FORWARDED_ALLOW_IPS="10.0.0.1, 192.168.0.0/24").forwarded_allow_ips == (
        "10.0.0.1/32",
        "192.168.0.0/24",
    )
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        parsed(FORWARDED_ALLOW_IPS="*")


# -- 3 and 4. the same scrypt for unknown users; off the event loop, outside transactions ------


@dataclass
class Scrypt:
    """Records each hashlib.scrypt call (the standard library's, not ours): its cost parameters,
    the thread it ran on, and whether a write transaction was open meanwhile."""

    app: App
    calls: list[tuple[tuple[int, int, int], int, bool]]
    real: Callable[..., bytes]

    def __call__(self, password: bytes, **kw: int) -> bytes:
        self.calls.append(((kw["n"], kw["r"], kw["p"]), threading.get_ident(), self.app.db.writing))
        return self.real(password, **kw)  # type: ignore[arg-type]


@pytest.fixture
def scrypt(staffed: App, monkeypatch: pytest.MonkeyPatch) -> Scrypt:
    spy = Scrypt(staffed, [], hashlib.scrypt)
    monkeypatch.setattr(hashlib, "scrypt", spy)
    return spy


async def test_an_unknown_username_costs_the_same_scrypt_as_a_wrong_password(
    staffed: App, scrypt: Scrypt
) -> None:
    async with browser(build_web(staffed)) as client:
        assert (await login(client, "nobody-by-this-name", "wrong password")).status_code == 401
        unknown, scrypt.calls[:] = list(scrypt.calls), []
        assert (await login(client, "staff", "wrong password")).status_code == 401
        known = list(scrypt.calls)
    assert len(unknown) == len(known) == 1
    assert unknown[0][0] == known[0][0]  # the same n, r, p: the same work


async def test_password_hashing_runs_in_a_thread_outside_any_transaction(
    staffed: App, scrypt: Scrypt
) -> None:
    loop_thread = threading.get_ident()
    async with browser(build_web(staffed)) as client:
        assert (await login(client)).status_code == 303
    password = await hashed("another long password")  # as `users add-staff` should: hash, then write
    async with staffed.db.transaction() as conn:
        await add_account(conn, "amina", password, None, utcnow())
    assert len(scrypt.calls) == 2
    assert all(thread != loop_thread and not writing for _, thread, writing in scrypt.calls)
    async with browser(build_web(staffed)) as client:
        assert (await login(client, "amina", "another long password")).status_code == 303


# -- 5. sessions on the server -------------------------------------------------------------------


async def test_logging_out_ends_the_session_on_the_server(settings: Settings) -> None:
    async with running(settings, dashboard_secret="a secret that outlives the process") as app:
        async with browser(build_web(app)) as one, browser(build_web(app)) as two:
            assert (await login(one)).status_code == 303 and (await login(two)).status_code == 303
            old, kept = one.cookies["cs_session"], two.cookies["cs_session"]
            page = await one.get("/dashboard")
            out = await one.post("/dashboard/logout", data={"csrf": csrf_of(page)})
            assert out.status_code == 303
        # Another process (a restart) with the same secret: the kept session works, the old one never.
        async with browser(build_web(app)) as thief:
            thief.cookies.set("cs_session", old)
            replay = await thief.get("/dashboard")
            assert replay.status_code == 303 and replay.headers["location"] == "/dashboard/login"
            thief.cookies.set("cs_session", kept)
            assert (await thief.get("/dashboard")).status_code == 200
        # Resetting the password (`users add-staff` again) ends that login's sessions.
        async with app.db.transaction() as conn:
            await add_account(conn, "staff", await hashed("a brand new password"), None, utcnow())
        async with browser(build_web(app)) as owner:
            owner.cookies.set("cs_session", kept)
            assert (await owner.get("/dashboard")).status_code == 303


async def test_expired_sessions_are_refused_and_pruned(staffed: App) -> None:
    web = build_web(staffed)
    async with browser(web) as client:
        assert (await login(client)).status_code == 303
        async with staffed.db.transaction() as conn:
            await conn.execute(
                "UPDATE dashboard_sessions SET expires_at = '2000-01-01T00:00:00.000000+00:00'"
            )
        assert (await client.get("/dashboard")).status_code == 303
    async with browser(web) as client:
        assert (await login(client)).status_code == 303
    async with staffed.db.conn.execute("SELECT expires_at FROM dashboard_sessions") as cur:
        rows = await cur.fetchall()
    assert len(rows) == 1 and rows[0][0] > "2001"  # the expired one went at this login


# -- 6. CSRF tokens the server issued ------------------------------------------------------------


async def test_a_csrf_token_for_a_nonce_the_client_chose_is_refused(staffed: App) -> None:
    web = build_web(staffed)
    chosen = "chosen-by-the-attacker"
    async with browser(web) as attacker:
        form = await attacker.get("/dashboard/login", headers={"Cookie": f"cs_nonce={chosen}"})
        assert attacker.cookies["cs_nonce"] != chosen  # the server issues its own nonce
        token = csrf_of(form)
    async with browser(web) as victim:  # a planted cookie and the token made for it
        forged = await victim.post(
            "/dashboard/login",
            data={"csrf": token, "username": "staff", "password": PASSWORD},
            headers={"Cookie": f"cs_nonce={chosen}"},
        )
        assert forged.status_code == 403


async def test_a_logout_token_belongs_to_its_session(staffed: App) -> None:
    web = build_web(staffed)
    async with browser(web) as one, browser(web) as two:
        assert (await login(one)).status_code == 303 and (await login(two)).status_code == 303
        token_of_two = csrf_of(await two.get("/dashboard"))
        assert (await one.post("/dashboard/logout", data={"csrf": token_of_two})).status_code == 403
        assert (await one.get("/dashboard")).status_code == 200  # still logged in
        mine = csrf_of(await one.get("/dashboard"))
        assert (await one.post("/dashboard/logout", data={"csrf": mine})).status_code == 303


# -- 7. security headers -------------------------------------------------------------------------


async def test_every_dashboard_response_carries_the_security_headers(staffed: App) -> None:
    async with browser(build_web(staffed)) as client:
        responses = [
            await client.get("/dashboard"),  # the redirect to the login
            await client.get("/dashboard/login"),
            await login(client, password="wrong password"),
            await client.post("/dashboard/logout", data={"csrf": "made up"}),
            await login(client),
            await client.get("/dashboard"),
            await client.get("/dashboard.csv"),
        ]
    assert [r.status_code for r in responses] == [303, 200, 401, 403, 303, 200, 200]
    for response in responses:
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "script-src" not in csp  # no script may run
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


def test_the_templates_have_nothing_the_policy_would_block() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "<script" not in text and not re.search(r"\son\w+=", text), template.name
        assert " style=" not in text, template.name  # style attributes are blocked; use the sheet
    assert (TEMPLATES / "base.html").read_text().count("<style>") == 1  # the one the CSP hash allows


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver (.ci/run installs them)"
)
async def test_chromium_applies_the_stylesheet_under_the_policy(staffed: App) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    server = uvicorn.Server(uvicorn.Config(build_web(staffed), host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    def browse() -> tuple[str, list[str]]:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
        driver.implicitly_wait(10)
        try:
            driver.get(f"{base}/dashboard/login")
            driver.find_element(By.NAME, "username").send_keys("staff")
            driver.find_element(By.NAME, "password").send_keys(PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            driver.find_element(By.CSS_SELECTOR, "form.filters")  # the dashboard page loaded
            colour = driver.find_element(By.TAG_NAME, "header").value_of_css_property("background-color")
            return colour, [entry["message"] for entry in driver.get_log("browser")]
        finally:
            driver.quit()

    try:
        colour, console = await asyncio.to_thread(browse)
    finally:
        server.should_exit = True
        await task
    assert colour == "rgba(22, 101, 52, 1)"  # #166534: the inline stylesheet was allowed
    assert not [m for m in console if "Content Security Policy" in m], console


# -- 8. the throttle forgets and stays small -----------------------------------------------------


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_login_throttle_forgets_old_clients_and_has_a_size_cap(settings: Settings) -> None:
    clock = Clock()
    db = await Database.open(settings.database_url)
    try:
        throttle = LoginThrottle(db, size=100, clock=clock)
        for n in range(300):  # many addresses, or one attacker's many usernames: one entry per address
            client = f"198.51.{n // 256}.{n % 256}"
            assert await throttle.begin(client) == 0.0
            await throttle.end(client, failed=True)
            clock.now += 0.001
        assert await throttle.count() == 100  # the stalest went first
        assert await throttle.begin("198.51.1.43") == 0.0  # the newest are remembered
        assert await throttle.end("198.51.1.43", failed=True) == 2
        clock.now += throttle.forget + 1
        assert await throttle.begin("203.0.113.9") == 0.0 and await throttle.count() == 1  # all forgotten
        await throttle.end("203.0.113.9", failed=False)
        assert await throttle.count() == 0  # a success adds nothing
    finally:
        await db.close()
