"""The few places where SQLite's SQL and PostgreSQL's differ, as one translation of SQLite's text.

The code writes SQLite's SQL; a PostgreSQL connection (bot/storage/postgres.py) passes each
statement through `to_postgres` once (it is cached: the SQL is written in the code). Where a
portable form exists the call sites use it instead (`INSERT … ON CONFLICT DO NOTHING`,
`RETURNING id`, `CASE` for a two-argument MAX, `COALESCE(x, 0) = 0` for `NOT x`), so what is
left here is what has no portable spelling:

- placeholders: `?` becomes `%s`, and a literal `%` becomes `%%` (psycopg reads `%` everywhere);
- `BEGIN IMMEDIATE` (SQLite's "take the write lock now") is a plain `BEGIN`: PostgreSQL locks rows;
- `json_extract(x, '$.a.b')` becomes `(x::jsonb #>> '{a,b}')`, the value as text;
- `INDEXED BY name` (a hint SQLite's planner needs) is dropped: PostgreSQL's chooses for itself;
- `date(x, '+N days')` becomes the same ISO day through a date;
- the ISO week of a day (`ISO_WEEK`) becomes `iso_week(day)`, a function of migration 0012.
"""

from __future__ import annotations

import functools
import re

# The ISO week of the column `day` ("2026-W05"): the year and week of that week's Thursday.
# Migration 0012 (both backends) writes `weekly_active` with the same weeks.
_THURSDAY = "date(day, '-3 days', 'weekday 4')"
ISO_WEEK = f"strftime('%Y', {_THURSDAY}) || '-W' || printf('%02d', (strftime('%j', {_THURSDAY}) - 1) / 7 + 1)"

_INDEXED_BY = re.compile(r"\s+INDEXED BY \w+", re.IGNORECASE)
_JSON_EXTRACT = re.compile(r"json_extract\(\s*([\w.]+)\s*,\s*'\$\.([\w.]+)'\s*\)", re.IGNORECASE)
_DATE_PLUS = re.compile(r"\bdate\(\s*([\w.]+)\s*,\s*'\+(\d+) days'\s*\)", re.IGNORECASE)
_BEGIN_IMMEDIATE = re.compile(r"^\s*BEGIN\s+IMMEDIATE\b", re.IGNORECASE)


def _json_path(match: re.Match[str]) -> str:
    return f"({match[1]}::jsonb #>> '{{{','.join(match[2].split('.'))}}}')"


def _placeholders(sql: str) -> str:
    """`?` outside string literals and quoted names becomes `%s`; every `%` becomes `%%`."""
    out = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str, parameters: bool = True) -> str:
    """SQLite's statement as PostgreSQL's. Without parameters psycopg reads no placeholders, so
    a `%` stays as it is."""
    sql = _BEGIN_IMMEDIATE.sub("BEGIN", sql)
    sql = sql.replace(ISO_WEEK, "iso_week(day)")
    sql = _INDEXED_BY.sub("", sql)
    sql = _JSON_EXTRACT.sub(_json_path, sql)
    sql = _DATE_PLUS.sub(lambda m: f"to_char(CAST({m[1]} AS date) + {m[2]}, 'YYYY-MM-DD')", sql)
    return _placeholders(sql) if parameters else sql
