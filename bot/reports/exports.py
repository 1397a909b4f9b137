"""Exports of reports: CSV (safe to open in a spreadsheet) and GeoJSON of area centroids. Neither
carries a reporter's identity or code, and an area with too few reports is not named."""

from __future__ import annotations

import csv
from collections import Counter
from typing import IO, Any

from bot.reports import model
from bot.reports.config import EarlyWarning
from bot.reports.model import Filters, Report, Scope
from bot.storage.repo import Conn

HIDDEN = "(fewer than {n})"


async def all_matching(conn: Conn, scope: Scope, f: Filters) -> list[Report]:
    return await model.queue(conn, scope, f, limit=1_000_000)


def cell(value: Any) -> str:
    """A spreadsheet runs a cell that starts with = + - @ (or a tab or CR before them) as a
    formula: such a cell is written with a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def visible_areas(
    reports: list[Report], minimum: int
) -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
    """The level-1 and level-2 areas with at least `minimum` reports in this set: only those are
    named, so a lone report does not point at the one person who could have sent it."""
    ones = Counter((r.country, r.area1) for r in reports)
    twos = Counter((r.country, r.area1, r.area2 or "") for r in reports)
    return {k for k, n in ones.items() if n >= minimum}, {k for k, n in twos.items() if n >= minimum}


def write_csv(out: IO[str], reports: list[Report], ew: EarlyWarning, with_text: bool = False) -> None:
    ones, twos = visible_areas(reports, ew.min_area_reports)
    hidden = HIDDEN.format(n=ew.min_area_reports)
    writer = csv.writer(out)
    header = [
        "ref",
        "type",
        "status",
        "urgency",
        "country",
        "area",
        "subarea",
        "happened_on",
        "filed_at",
        "verified_at",
        "people",
        "danger",
        "committee_only",
        "duplicate_of",
    ]
    writer.writerow(header + (["text_masked"] if with_text else []))
    for r in reports:
        row = [
            r.ref,
            r.type,
            r.status,
            r.urgency or "",
            r.country,
            r.area1 if (r.country, r.area1) in ones else hidden,
            (r.area2 or "") if (r.country, r.area1, r.area2 or "") in twos else hidden,
            r.happened_on,
            r.created_at[:16],
            (r.verified_at or "")[:16],
            r.people,
            int(r.danger),
            int(r.committee_only),
            r.duplicate_of or "",
        ]
        if with_text:
            row.append("" if r.committee_only else r.text_masked)
        writer.writerow([cell(v) for v in row])


def geojson(reports: list[Report], ew: EarlyWarning) -> dict[str, Any]:
    """One point per level-1 area, at its centroid (never where anything happened), with counts
    by type and status; areas under the minimum are left out."""
    ones, _ = visible_areas(reports, ew.min_area_reports)
    by_area: dict[tuple[str, str], list[Report]] = {}
    for r in reports:
        if (r.country, r.area1) in ones:
            by_area.setdefault((r.country, r.area1), []).append(r)
    features = []
    for (country, name), items in sorted(by_area.items()):
        found = ew.country(country)
        area = found.area(name) if found else None
        if area is None:
            continue
        lat, lon = area.centroid
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "country": country,
                    "area": name,
                    "reports": len(items),
                    "by_type": dict(sorted(Counter(r.type for r in items).items())),
                    "by_status": dict(sorted(Counter(r.status for r in items).items())),
                    "centroid": True,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
