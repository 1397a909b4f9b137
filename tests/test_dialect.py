"""SQLite's SQL as PostgreSQL's (bot/storage/dialect.py): each rule, and what it leaves alone."""

from __future__ import annotations

from bot.storage.dialect import ISO_WEEK, to_postgres


def test_placeholders_outside_literals_and_percent_signs() -> None:
    sql = "SELECT '?', \"a?b\" FROM t WHERE x = ? AND y LIKE 'retired:%' AND z = 'it''s ?'"
    assert to_postgres(sql) == (
        "SELECT '?', \"a?b\" FROM t WHERE x = %s AND y LIKE 'retired:%%' AND z = 'it''s ?'"
    )
    # Without parameters psycopg reads no placeholders: a % stays single.
    assert to_postgres("SELECT 1 WHERE 'a' LIKE '%'", parameters=False) == "SELECT 1 WHERE 'a' LIKE '%'"


def test_begin_immediate_is_a_plain_begin() -> None:
    assert to_postgres("BEGIN IMMEDIATE", parameters=False) == "BEGIN"
    assert to_postgres("  begin immediate", parameters=False) == "BEGIN"


def test_json_extract_is_the_value_as_text() -> None:
    assert to_postgres("SELECT json_extract(o.payload, '$.args.id') FROM outbox o", parameters=False) == (
        "SELECT (o.payload::jsonb #>> '{args,id}') FROM outbox o"
    )


def test_planner_hints_go_and_dates_move_by_days() -> None:
    assert to_postgres("SELECT 1 FROM events e INDEXED BY events_badge WHERE e.type = ?") == (
        "SELECT 1 FROM events e WHERE e.type = %s"
    )
    assert to_postgres("SELECT date(d, '+7 days') AS d7", parameters=False) == (
        "SELECT to_char(CAST(d AS date) + 7, 'YYYY-MM-DD') AS d7"
    )


def test_the_iso_week_is_migration_0012s_function() -> None:
    assert to_postgres(f"SELECT {ISO_WEEK} FROM d", parameters=False) == "SELECT iso_week(day) FROM d"
