"""The overview's figures: reports per type per week, a table by area, the median time from a
report to its verification, and the share verified.

They are read from `report_weekly`, running totals the database keeps per week, area and type
(see migration 0011), so the page reads a few thousand rows however many reports there are. The
time to verification is kept in ten buckets, so its median is interpolated within one ("about").
Filters the totals do not carry (a status, an urgency) are counted from the reports themselves.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from bot.reports.model import Filters, Scope, _where
from bot.storage.repo import Conn

# Bucket edges of report_weekly.h0 … h9, in hours (the last is open: counted as two more weeks).
EDGES = (0, 1, 3, 6, 12, 24, 48, 96, 168, 336, 672)


@dataclass(frozen=True)
class Overview:
    weeks: list[str]  # the Monday of each week shown
    per_type_week: dict[str, dict[str, int]]  # type → week → count
    by_area: list[tuple[str, str, int, int]]  # country, area, reports, verified (small areas left out)
    hidden_areas: int
    total: int
    verified: int
    median_hours_to_verify: float | None
    approximate: bool = False  # the median comes from buckets

    @property
    def share_verified(self) -> float | None:
        return self.verified / self.total if self.total else None


def monday(day: date) -> str:
    return (day - timedelta(days=day.weekday())).isoformat()


async def overview(conn: Conn, scope: Scope, f: Filters, minimum: int) -> Overview:
    if f.status or f.urgency:
        return await _counted(conn, scope, f, minimum)
    where, params = _where(scope, replace(f, since=None, until=None))
    if f.since:
        where += " AND r.week >= ?"
        params.append(monday(date.fromisoformat(f.since)))
    if f.until:
        where += " AND r.week <= ?"
        params.append(f.until)
    rows = await conn.execute_fetchall(
        "SELECT r.week, r.country, r.area1, r.type, r.n, r.verified, "
        "r.h0, r.h1, r.h2, r.h3, r.h4, r.h5, r.h6, r.h7, r.h8, r.h9 "
        f"FROM report_weekly r WHERE {where}",
        params,
    )
    per: dict[str, dict[str, int]] = {}
    areas: dict[tuple[str, str], list[int]] = {}
    buckets = [0] * 10
    for r in rows:
        per.setdefault(r["type"], {})
        per[r["type"]][r["week"]] = per[r["type"]].get(r["week"], 0) + r["n"]
        totals = areas.setdefault((r["country"], r["area1"]), [0, 0])
        totals[0] += r["n"]
        totals[1] += r["verified"]
        for i in range(10):
            buckets[i] += r[f"h{i}"]
    weeks = sorted({w for by_week in per.values() for w in by_week})
    return _finish(weeks, per, areas, minimum, _bucket_median(buckets), approximate=True)


def _bucket_median(buckets: list[int]) -> float | None:
    total = sum(buckets)
    if not total:
        return None
    half, seen = total / 2, 0
    for i, n in enumerate(buckets):
        if n and seen + n >= half:
            low, high = EDGES[i], EDGES[i + 1]
            return round(low + (high - low) * (half - seen) / n, 1)
        seen += n
    return None


async def _counted(conn: Conn, scope: Scope, f: Filters, minimum: int) -> Overview:
    """The same figures counted from the reports: for a status or an urgency filter."""
    where, params = _where(scope, f)
    rows = await conn.execute_fetchall(
        f"SELECT r.type, substr(r.created_at, 1, 10) AS day, r.country, r.area1, COUNT(*) AS n, "
        f"COUNT(r.verified_at) AS v FROM reports r WHERE {where} GROUP BY r.type, day, r.country, r.area1",
        params,
    )
    per: dict[str, dict[str, int]] = {}
    areas: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        week = monday(date.fromisoformat(r["day"]))
        per.setdefault(r["type"], {})
        per[r["type"]][week] = per[r["type"]].get(week, 0) + r["n"]
        totals = areas.setdefault((r["country"], r["area1"]), [0, 0])
        totals[0] += r["n"]
        totals[1] += r["v"]
    times = await conn.execute_fetchall(
        f"SELECT r.created_at, r.verified_at FROM reports r WHERE {where} AND r.verified_at IS NOT NULL",
        params,
    )
    hours = [
        (datetime.fromisoformat(t["verified_at"]) - datetime.fromisoformat(t["created_at"])).total_seconds()
        / 3600
        for t in times
    ]
    median = round(statistics.median(hours), 1) if hours else None
    weeks = sorted({w for by_week in per.values() for w in by_week})
    return _finish(weeks, per, areas, minimum, median, approximate=False)


def _finish(
    weeks: list[str],
    per: dict[str, dict[str, int]],
    areas: dict[tuple[str, str], list[int]],
    minimum: int,
    median: float | None,
    approximate: bool,
) -> Overview:
    total = sum(n for n, _ in areas.values())
    if 0 < total < minimum:
        # A filter down to one small area would show what the by-area table hides.
        return Overview([], {}, [], len(areas), 0, 0, None)
    shown = sorted(
        ((c, a, n, v) for (c, a), (n, v) in areas.items() if n >= minimum), key=lambda row: -row[2]
    )
    return Overview(
        weeks=weeks[-12:],
        per_type_week=per,
        by_area=shown,
        hidden_areas=len(areas) - len(shown),
        total=total,
        verified=sum(v for _, v in areas.values()),
        median_hours_to_verify=median,
        approximate=approximate,
    )
