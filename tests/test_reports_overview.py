"""The overview's running totals (kept by triggers) agree with counting the reports themselves,
through filing, status changes and verification."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from bot.app import App
from bot.messages import utcnow
from bot.reports import model
from bot.reports.model import Filters, Scope
from bot.reports.overview import _bucket_median, _counted, overview
from bot.storage.repo import iso


async def test_the_running_totals_match_the_reports(app: App) -> None:
    rng = random.Random(3)
    now = utcnow()
    async with app.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO users (channel, address, pseudonym, created_at) VALUES ('console', 'r', 'p', ?)",
            (iso(now),),
        )
        for n in range(300):
            created = now - timedelta(hours=rng.randint(0, 24 * 120))
            area = rng.choice(["Gasabo", "Huye", "Musanze"])
            await conn.execute(
                "INSERT INTO reports (ref, type, happened_on, country, area1, text, text_masked, people, "
                "created_at, updated_at) VALUES (?, ?, ?, 'RW', ?, 't', 't', 'none', ?, ?)",
                (f"EW-T-{n}", rng.choice(["violence", "peace", "rumour"]), created.date().isoformat(), area,
                 iso(created), iso(created)),
            )  # fmt: skip
        reports = await model.queue(conn, Scope(everything=True), Filters(), limit=1000)
        for report in rng.sample(reports, 120):
            await model.set_status(conn, report, "in_review", "look", "tester", now)
            if rng.random() < 0.7:
                fresh = await model.get_report(conn, report.ref)
                assert fresh is not None
                at = datetime.fromisoformat(fresh.created_at) + timedelta(hours=rng.uniform(0, 200))
                await model.set_status(conn, fresh, "verified", "two sources", "tester", at)
    async with app.db.reader() as conn:
        everything = Scope(everything=True)
        fast = await overview(conn, everything, Filters(), 3)
        exact = await _counted(conn, everything, Filters(), 3)
        assert (fast.total, fast.verified) == (exact.total, exact.verified) == (300, fast.verified)
        assert fast.by_area == exact.by_area and fast.per_type_week == exact.per_type_week
        assert fast.approximate and not exact.approximate
        assert fast.median_hours_to_verify is not None and exact.median_hours_to_verify is not None
        # The buckets around the true median hold the interpolated one.
        edges = (0, 1, 3, 6, 12, 24, 48, 96, 168, 336, 672)
        below = max(e for e in edges if e <= exact.median_hours_to_verify)
        above = min(e for e in edges if e > exact.median_hours_to_verify)
        assert below <= fast.median_hours_to_verify <= above
        counts = await model.count_by_status(conn, everything)
        direct = await conn.execute_fetchall("SELECT status, COUNT(*) FROM reports GROUP BY status")
        assert {s: n for s, n in counts.items() if n} == {r[0]: r[1] for r in direct}
        area = await overview(conn, Scope.parse("RW/Huye"), Filters(), 3)
        assert {a for _, a, _, _ in area.by_area} == {"Huye"}


def test_the_bucket_median() -> None:
    assert _bucket_median([0] * 10) is None
    assert _bucket_median([0, 0, 0, 0, 4, 0, 0, 0, 0, 0]) == 18.0  # the middle of 12–24 h
