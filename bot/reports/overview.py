"""The overview's figures: reports per type per week, a table by area, the median time from a
report to its verification, and the share verified. Computed in SQL over an index, so the page
stays fast as reports grow."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime

from bot.reports.model import Filters, Scope, _where
from bot.storage.repo import Conn


@dataclass(frozen=True)
class Overview:
    weeks: list[str]
    per_type_week: dict[str, dict[str, int]]  # type → week → count
    by_area: list[
        tuple[str, str, int, int]
    ]  # country, area, reports, verified (areas under the minimum left out)
    hidden_areas: int
    total: int
    verified: int
    median_hours_to_verify: float | None

    @property
    def share_verified(self) -> float | None:
        return self.verified / self.total if self.total else None


async def overview(conn: Conn, scope: Scope, f: Filters, minimum: int) -> Overview:
    where, params = _where(scope, f)
    rows = await conn.execute_fetchall(
        f"SELECT r.type, substr(r.created_at, 1, 10) AS day, COUNT(*) AS n FROM reports r "
        f"WHERE {where} GROUP BY r.type, day",
        params,
    )
    per: dict[str, dict[str, int]] = {}
    weeks: set[str] = set()
    for r in rows:  # ISO weeks, counted here from at most one row per type and day
        year, week, _ = date.fromisoformat(r["day"]).isocalendar()
        label = f"{year}-W{week:02d}"
        per.setdefault(r["type"], {})[label] = per.get(r["type"], {}).get(label, 0) + r["n"]
        weeks.add(label)
    areas = await conn.execute_fetchall(
        f"SELECT r.country, r.area1, COUNT(*) AS n, COUNT(r.verified_at) AS v FROM reports r "
        f"WHERE {where} GROUP BY r.country, r.area1 ORDER BY n DESC",
        params,
    )
    shown = [(a["country"], a["area1"], a["n"], a["v"]) for a in areas if a["n"] >= minimum]
    total = sum(a["n"] for a in areas)
    verified = sum(a["v"] for a in areas)
    times = await conn.execute_fetchall(
        f"SELECT r.created_at, r.verified_at FROM reports r WHERE {where} AND r.verified_at IS NOT NULL",
        params,
    )
    hours = [
        (datetime.fromisoformat(t["verified_at"]) - datetime.fromisoformat(t["created_at"])).total_seconds()
        / 3600
        for t in times
    ]
    if 0 < total < minimum:
        # A filter down to one small area would show what the by-area table hides.
        return Overview([], {}, [], len(areas), 0, 0, None)
    return Overview(
        weeks=sorted(weeks)[-12:],
        per_type_week=per,
        by_area=shown,
        hidden_areas=len(areas) - len(shown),
        total=total,
        verified=verified,
        median_hours_to_verify=round(statistics.median(hours), 1) if hours else None,
    )
