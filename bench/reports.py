"""The early-warning review queue and overview at 10,000 and at 100,000 reports.

Reports are written in realistic proportions (every type, both countries, every status, a
share verified, urgencies, trusted reporters, audit events), then the committee's two pages are
timed over HTTP through the real web app, logged in as a committee member for all areas: the
queue (open reports, most urgent first, first page) and the overview (per type per week, by
area, median time to verification). The first load after start is "cold"; the best of the
following rounds is "warm". The data then grows to the large size and both are timed again,
in the same run. Goal: at most 5x the time for 10x the reports.

    python -m bench.reports
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from bot.app import App
from bot.config import Settings
from bot.messages import utcnow
from bot.reports.config import EarlyWarning
from bot.stats.dashboard.accounts import add_account
from bot.storage.repo import iso
from bot.web.server import build_web

PASSWORD = "bench password 1234"
STATUS_MIX = [
    ("received", 20),
    ("in_review", 10),
    ("verified", 25),
    ("unverifiable", 10),
    ("referred", 15),
    ("closed", 20),
]


async def grow(app: App, ew: EarlyWarning, target: int, rng: random.Random) -> int:
    """Add reports (with reporters and events) until there are `target`."""
    now = utcnow()
    async with app.db.transaction() as conn:
        have = (await conn.execute_fetchall("SELECT COUNT(*) FROM reports"))[0][0]
        reporters = (await conn.execute_fetchall("SELECT COUNT(*) FROM reporters"))[0][0]
        if reporters == 0:
            users = [
                ("bench", f"r{i}", f"bench-{i}", "2026-01-01T00:00:00", i % 20 == 0) for i in range(2000)
            ]
            await conn.executemany(
                "INSERT INTO users (channel, address, pseudonym, created_at) VALUES (?, ?, ?, ?)",
                [u[:4] for u in users],
            )
            await conn.executemany(
                "INSERT INTO reporters (code, user_id, trusted, created_at) "
                "SELECT ?, id, ?, ? FROM users WHERE address = ?",
                [(f"R-{i:04d}", int(u[4]), u[3], u[1]) for i, u in enumerate(users)],
            )
        rows, events = [], []
        statuses = [s for s, w in STATUS_MIX for _ in range(w)]
        areas = [(c.code, a.name, a.children) for c in ew.countries for a in c.areas]
        for n in range(have + 1, target + 1):
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
            status = rng.choice(statuses)
            verified = status in ("verified", "referred") or (status == "closed" and rng.random() < 0.5)
            country, area1, children = rng.choice(areas)
            urgency = rng.choice([None, None, "low", "medium", "high", "critical"])
            rows.append(
                (
                    f"EW-B-{n:07d}",
                    rng.randint(1, 2000),
                    rng.choice(ew.types).id,
                    created.date().isoformat(),
                    country,
                    area1,
                    rng.choice(children),
                    "Bench report text, with nothing personal in it.",
                    "Bench report text, with nothing personal in it.",
                    rng.choice(["none", "1_5", "6_20", "21p", "unknown"]),
                    int(rng.random() < 0.02),
                    status,
                    urgency,
                    iso(created),
                    iso(created),
                    iso(created + timedelta(hours=rng.uniform(1, 96))) if verified else None,
                )
            )
        await conn.executemany(
            "INSERT INTO reports (ref, reporter_id, type, happened_on, country, area1, area2, text, "
            "text_masked, people, danger, status, urgency, created_at, updated_at, verified_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        first = (await conn.execute_fetchall("SELECT MIN(id) FROM reports WHERE ref = ?", (rows[0][0],)))[0][
            0
        ]
        for i, row in enumerate(rows):
            events.append((first + i, row[13], "reporter", "filed", None))
            if row[11] != "received":
                events.append((first + i, row[14], "bench", "status", json.dumps({"to": row[11]})))
        await conn.executemany(
            "INSERT INTO report_events (report_id, at, actor, type, data) VALUES (?, ?, ?, ?, ?)", events
        )
    return target


async def login(web: httpx.AsyncClient) -> None:
    form = await web.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    done = await web.post(
        "/dashboard/login", data={"csrf": csrf.group(1), "username": "bench", "password": PASSWORD}
    )
    assert done.status_code == 303, done.text


async def time_pages(settings: Settings, rounds: int) -> dict[str, tuple[float, float]]:
    """(cold, warm) seconds per page, on a freshly started app (a cold cache)."""
    app = await App.create(settings)
    try:
        transport = httpx.ASGITransport(app=build_web(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as web:
            await login(web)
            times = {}
            for name, path in (("queue", "/dashboard/reports"), ("overview", "/dashboard/reports/overview")):
                start = time.perf_counter()
                response = await web.get(path)
                cold = time.perf_counter() - start
                assert response.status_code == 200, (path, response.status_code)
                warm = float("inf")
                for _ in range(rounds):
                    start = time.perf_counter()
                    await web.get(path)
                    warm = min(warm, time.perf_counter() - start)
                times[name] = (cold, warm)
            return times
    finally:
        await app.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="warm: the best of this many loads")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}")
        ew = EarlyWarning.load(settings.reports_file, settings.areas_dir)
        app = await App.create(settings)
        try:
            async with app.db.transaction() as conn:
                await add_account(conn, "bench", PASSWORD, [], utcnow())
                await conn.execute(
                    "UPDATE dashboard_accounts SET reports_role = 'committee', reports_scope = '*' "
                    "WHERE username = 'bench'"
                )
            await grow(app, ew, args.small, rng)
        finally:
            await app.close()
        small = await time_pages(settings, args.rounds)
        app = await App.create(settings)
        try:
            await grow(app, ew, args.large, rng)
        finally:
            await app.close()
        large = await time_pages(settings, args.rounds)
    print(f"reports: {args.small} then {args.large} ({args.large / args.small:.0f}x); goal: time ratio <= 5x")
    for page in ("queue", "overview"):
        for i, kind in enumerate(("cold", "warm")):
            a, b = small[page][i], large[page][i]
            print(f"{page:9} {kind}: {a * 1000:8.1f} ms -> {b * 1000:8.1f} ms   ratio {b / a:5.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
