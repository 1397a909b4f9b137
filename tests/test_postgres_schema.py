"""The PostgreSQL migrations build the schema the SQLite ones build, and their triggers keep the same rows.

SQLite's schema comes from the real `Database.open` on a file in a temporary directory;
PostgreSQL's from `migrate_postgres` on a database created for this module on the server at
TEST_POSTGRES_URL, and dropped afterwards. Both are read back from the databases' own catalogs
(bot/storage/schema.py) and compared table by table. Then the same rows go into both, and the
rows the triggers keep (daily/weekly/monthly activity, report counts and weeks, the queue's rank,
invitations' delivery) must read the same through the same SELECT.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from bot.storage import db, schema
from bot.storage.db import Database

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed: pip install 'psycopg[binary]'")

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def sqlite_tables() -> list[str]:
    conn = sqlite3.connect(":memory:")
    for number, _, sql in db.migrations():
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;")
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name"
        )
    ]
    conn.close()
    return names


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """A SQLite database migrated by the bot's own Database.open, then a plain connection to it."""
    path = tmp_path_factory.mktemp("sqlite") / "clubspeak.db"

    async def migrate() -> None:
        await (await Database.open(path)).close()

    asyncio.run(migrate())
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    yield conn
    conn.close()


@contextmanager
def new_database() -> Iterator[str]:
    """The URL of a new, empty database on the server at TEST_POSTGRES_URL, dropped afterwards."""
    try:
        admin = psycopg.connect(URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        shown = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", URL)  # no password in the report
        pytest.skip(
            f"no PostgreSQL server reachable at TEST_POSTGRES_URL={shown}: {' '.join(str(exc).split())}"
        )
    name = f"clubspeak_schema_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield psycopg.conninfo.make_conninfo(URL, dbname=name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    """A new database on the server at TEST_POSTGRES_URL, migrated, dropped at the end."""
    with new_database() as url, psycopg.connect(url, autocommit=True) as conn:
        schema.migrate_postgres(conn)
        yield conn


@pytest.fixture(scope="module")
def schemas(lite: sqlite3.Connection, pg: Any) -> tuple[schema.Schema, schema.Schema]:
    return schema.describe_sqlite(lite), schema.describe_postgres(pg)


def test_the_same_migrations_exist_for_both() -> None:
    assert [name for _, name, _ in schema.postgres_migrations()] == [name for _, name, _ in db.migrations()]


def test_the_version_is_recorded_as_on_sqlite(lite: sqlite3.Connection, pg: Any) -> None:
    (sqlite_version,) = lite.execute("PRAGMA user_version").fetchone()
    assert pg.execute(schema.VERSION_QUERY).fetchone() == (sqlite_version,)
    applied = pg.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert applied == [(number, name) for number, name, _ in db.migrations()]
    assert schema.migrate_postgres(pg) == []  # up to date: nothing to do, nothing done twice


def test_workers_starting_together_migrate_once() -> None:
    def migrate(url: str) -> list[str]:
        with psycopg.connect(url, autocommit=True) as conn:
            return schema.migrate_postgres(conn)

    with new_database() as url, ThreadPoolExecutor(3) as pool:
        done = list(pool.map(migrate, [url] * 3))
        with psycopg.connect(url) as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert sorted(name for names in done for name in names) == [name for _, name, _ in db.migrations()]
    assert versions == [number for number, _, _ in db.migrations()]


def test_the_same_tables(schemas: tuple[schema.Schema, schema.Schema]) -> None:
    lite, pg = schemas
    assert sorted(pg.tables) == sorted(lite.tables)


@pytest.mark.parametrize("table", sqlite_tables())
def test_each_table_is_equivalent(schemas: tuple[schema.Schema, schema.Schema], table: str) -> None:
    lite, pg = schemas
    mine = schema.Schema({table: lite.tables[table]})
    theirs = schema.Schema({table: pg.tables[table]} if table in pg.tables else {})
    unexpected, _ = schema.unintended(schema.compare(mine, theirs))
    assert not unexpected, f"{table} differs on PostgreSQL:\n" + "\n".join(map(str, unexpected))


def test_every_intended_difference_still_occurs(schemas: tuple[schema.Schema, schema.Schema]) -> None:
    _, stale = schema.unintended(schema.compare(*schemas))
    assert not stale, "no longer different, take out of schema.INTENDED:\n" + "\n".join(
        str(i.mismatch) for i in stale
    )


def test_the_comparison_sees_a_difference(schemas: tuple[schema.Schema, schema.Schema]) -> None:
    """The comparison is not blind: a column, an index predicate, a check and a trigger each show."""
    lite, pg = schemas
    broken = schema.Schema(dict(pg.tables))
    outbox = broken.tables["outbox"] = replace(pg.tables["outbox"])
    outbox.columns = {**outbox.columns, "status": replace(outbox.columns["status"], nullable=True)}
    users = broken.tables["users"] = replace(pg.tables["users"])
    users.columns = {**users.columns, "role": replace(users.columns["role"], default="'member'")}
    events = broken.tables["events"] = replace(pg.tables["events"])
    events.indexes = {**events.indexes, "events_badge": replace(events.indexes["events_badge"], where=None)}
    events.triggers = {k: v for k, v in events.triggers.items() if k != "daily_active_delete"}
    reports = broken.tables["reports"] = replace(pg.tables["reports"])
    reports.checks = reports.checks[1:]
    found = {(m.table, m.what) for m in schema.unintended(schema.compare(lite, broken))[0]}
    assert found == {
        ("outbox", "column status"),
        ("users", "column role"),
        ("events", "index events_badge"),
        ("events", "trigger daily_active_delete"),
        ("reports", "checks"),
    }


# ---------------------------------------------------------------------------------------------
# The triggers, by what they do


class Both:
    """Run the same statement on both databases (`?` placeholders), and read both back."""

    def __init__(self, lite: sqlite3.Connection, pg: Any):
        self.lite, self.pg = lite, pg

    def run(self, sql: str, *params: Any) -> None:
        self.lite.execute(sql, params)
        self.pg.execute(sql.replace("?", "%s"), params or None)

    def many(self, sql: str, rows: list[tuple]) -> None:
        for row in rows:
            self.run(sql, *row)

    def read(self, sql: str) -> tuple[list[tuple], list[tuple]]:
        return [tuple(r) for r in self.lite.execute(sql)], [tuple(r) for r in self.pg.execute(sql)]

    def refused(self, sql: str) -> None:
        with pytest.raises(sqlite3.IntegrityError):
            self.lite.execute(sql)
        with pytest.raises(psycopg.IntegrityError):
            self.pg.execute(sql)


def same(both: Both, sql: str) -> list[tuple]:
    lite, pg = both.read(sql)
    # JSON numbers come back as int or float from SQLite and as Decimal from numeric: equal values
    # compare equal in Python.
    assert pg == lite, f"{sql}\n  sqlite:   {lite}\n  postgres: {pg}"
    return lite


def message(
    at: str, actor: str | None, channel: str | None = "telegram", language: str | None = "rw"
) -> tuple:
    return (at, actor, "message_in", channel, language, None, None, None)


EVENT = (
    "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# Times as the bot writes them (repo.py: isoformat with microseconds, UTC), and a few as others do.
MESSAGES = [
    message("2025-12-28T23:59:59.000000+00:00", "P-A"),  # Sunday: ISO 2025-W52
    message("2025-12-29T08:00:00.000000+00:00", "P-A"),  # Monday: ISO 2026-W01
    message("2025-12-31T10:00:00.000000+00:00", "P-A"),
    message("2026-01-01T09:00:00.000000+00:00", "P-A"),  # a new month, the same ISO week
    message("2026-01-01T07:30:00.000000+00:00", "P-A"),  # earlier than the first: moves first_at
    message("2026-01-01T21:15:00.000000+00:00", "P-A"),
    message("2026-01-01T12:00:00.000000+00:00", "P-A", "whatsapp", "fr"),
    message("2026-01-01T12:00:00.000000+00:00", "P-B", None, None),  # no channel, no language yet
    message("2027-01-01T10:00:00.000000+00:00", "P-B"),  # a Friday in ISO 2026-W53
    message("2027-01-04T10:00:00.000000+00:00", "P-B"),  # ISO 2027-W01
    message("2026-02-10T10:00:00", "P-C", "console", "en"),
    message("2026-02-10T10:00:00", None),  # no actor: no day
]


def event(
    minute: int, actor: str, type: str, dialog: str | None, step: str | None, data: str | None
) -> tuple:
    return (f"2026-01-01T09:{minute:02d}:00.000000+00:00", actor, type, "telegram", "rw", dialog, step, data)


ANSWERS = [
    event(1, "P-A", "quiz_answer", "batna", "q1", '{"option": "a", "correct": true, "retry": false}'),
    event(2, "P-A", "quiz_answer", "batna", "q1", '{"option": "b", "correct": false, "retry": true}'),
    event(3, "P-B", "quiz_answer", "batna", "q2", '{"option": "c", "correct": false, "retry": false}'),
    event(4, "P-B", "quiz_answer", "batna", "q2", '{"option": "c"}'),
    event(5, "P-A", "module_completed", "batna", None, '{"score": 3, "max_score": 4, "passed": true}'),
    event(6, "P-B", "module_completed", "water", None, '{"score": null, "max_score": null, "passed": null}'),
    event(7, "P-C", "module_completed", "batna", None, '{"score": 2.5, "max_score": 4, "passed": false}'),
    event(8, "P-A", "badge", "batna", None, '{"badge": "first_quiz"}'),
    event(9, "P-A", "menu", None, None, None),
    event(10, "P-A", "choice", "x", "s", '{"choice": "a", "score": 1}'),
]


def test_the_triggers_keep_the_same_rows(lite: sqlite3.Connection, pg: Any) -> None:
    both = Both(lite, pg)
    # Users, a club, a session and its invitations, each with the outbox row that carried it.
    both.many(
        "INSERT INTO users (channel, address, pseudonym, created_at) VALUES (?, ?, ?, ?)",
        [("telegram", str(n), f"P-{c}", "2025-12-01T00:00:00.000000+00:00") for n, c in enumerate("ABCD", 1)],
    )
    both.run(
        "INSERT INTO clubs (code, name, district, created_at) VALUES ('K7Q2', 'Club', 'Gasabo', '2025-12-01')"
    )
    both.run(
        "INSERT INTO club_sessions (club_id, starts_at, place, topic, created_at) "
        "VALUES (1, '2026-01-10T14:00:00+00:00', 'School', 'Listening', '2025-12-01')"
    )
    both.many(
        "INSERT INTO outbox (user_id, channel, address, payload, status, created_at, updated_at) "
        "VALUES (?, 'telegram', ?, '{}', ?, '2025-12-02', '2025-12-02')",
        [(1, "1", "delivered"), (2, "2", "read"), (3, "3", "failed"), (4, "4", "queued")],
    )
    both.many(
        "INSERT INTO invitations (session_id, user_id, outbox_id, created_at) VALUES (1, ?, ?, '2025-12-02')",
        [(n, n) for n in range(1, 5)],
    )
    both.run("DELETE FROM outbox WHERE id IN (1, 3)")  # pruning
    both.run("DELETE FROM users WHERE id = 2")  # an erasure: its outbox row goes by the cascade
    invitations = same(both, "SELECT id, user_id, outbox_id, delivery FROM invitations ORDER BY id")
    assert invitations == [(1, 1, None, "delivered"), (3, 3, None, "failed"), (4, 4, 4, None)]
    assert same(both, "SELECT id, status FROM outbox ORDER BY id") == [(4, "queued")]

    # Events: messages make days, weeks and months; answers their generated columns.
    both.many(EVENT, MESSAGES + ANSWERS)
    same(both, "SELECT id, type, correct, retry, score, max_score, passed, badge FROM events ORDER BY id")
    same(
        both,
        "SELECT dialog_id, step_id, COUNT(*), SUM(correct) FROM events WHERE type = 'quiz_answer' "
        "AND COALESCE(retry, 0) = 0 GROUP BY dialog_id, step_id ORDER BY dialog_id, step_id",
    )
    rollups = (
        "SELECT day, actor, channel, language, first_at, last_at FROM daily_active ORDER BY 1, 2, 3, 4",
        "SELECT week, actor, channel, language FROM weekly_active ORDER BY 1, 2, 3, 4",
        "SELECT month, actor, channel, language FROM monthly_active ORDER BY 1, 2, 3, 4",
    )
    days, weeks, _ = (same(both, sql) for sql in rollups)
    assert (
        "2026-01-01",
        "P-A",
        "telegram",
        "rw",
        "2026-01-01T07:30:00.000000+00:00",
        "2026-01-01T21:15:00.000000+00:00",
    ) in days
    assert {w[0] for w in weeks} == {"2025-W52", "2026-W01", "2026-W53", "2027-W01", "2026-W07"}

    # Messages taken away: the first of a day, the last of its week, the only one of its month.
    both.run("DELETE FROM events WHERE at = '2026-01-01T07:30:00.000000+00:00'")
    both.run("DELETE FROM events WHERE at IN ('2025-12-28T23:59:59.000000+00:00', '2026-02-10T10:00:00')")
    both.run("DELETE FROM events WHERE actor = 'P-A' AND at LIKE '2025-12-%'")  # two days at once
    # An event edited: moved to another day, and a message that stops being one.
    both.run(
        "UPDATE events SET at = '2026-01-05T10:00:00+00:00' WHERE at = '2027-01-04T10:00:00.000000+00:00'"
    )
    both.run("UPDATE events SET type = 'note' WHERE at = '2026-01-01T21:15:00.000000+00:00'")
    for sql in rollups:
        same(both, sql)

    # Reports: the queue's rank and trust, the counts per status, the weeks and how long
    # verification took, for reports filed, copied in verified, and verified later.
    both.many(
        "INSERT INTO reporters (code, user_id, trusted, created_at) VALUES (?, ?, ?, '2025-12-01')",
        [("R-1", 1, 1), ("R-3", 3, 0)],
    )
    report = (
        "INSERT INTO reports (ref, reporter_id, type, happened_on, country, area1, text, text_masked, "
        "people, danger, urgency, status, created_at, updated_at, verified_at) "
        "VALUES (?, ?, ?, '2026-01-01', ?, ?, 't', 't', 'few', ?, ?, ?, ?, ?, ?)"
    )
    created = [
        "2026-01-05T00:30:00.000000+02:00",  # Sunday 22:30 UTC: the week before, as date() reads it
        "2026-01-05T10:00:00.000000+00:00",
        "2026-01-07T10:00:00",
        "2026-01-11T23:59:59.999999+00:00",
    ]
    took = [
        None,
        "2026-01-05T10:30:00.000000+00:00",
        "2026-01-05T11:00:00.000000+00:00",
        "2026-01-05T13:00:00.000000+00:00",
        "2026-01-05T15:54:00.000000+00:00",
        "2026-01-05T22:00:00.000000+00:00",
        "2026-01-06T16:00:00.000000+00:00",
        "2026-01-09T14:00:00.000000+00:00",
        "2026-01-13T18:00:00.000000+00:00",
        "2026-01-21T10:00:00.000000+00:00",
    ]
    rows = [
        (f"EW-{n}", [1, 2, None][n % 3], ["violence", "land"][n % 2], "RW", ["Gasabo", "Huye"][n % 2], n % 2)
        + ([None, "low", "medium", "high", "critical"][n % 5], "verified" if verified else "received")
        + ((created[1], created[1], verified) if verified else (created[0], created[0], None))
        for n, verified in enumerate(took)
    ]
    for n, at in enumerate(created):
        rows.append((f"EW-late-{n}", 2, "land", "BI", "Bujumbura", 0, "high", "received", at, at, None))
    both.many(report, rows)
    both.run("UPDATE reports SET status = 'in_review' WHERE ref LIKE 'EW-late-%'")
    both.run("UPDATE reports SET status = 'in_review' WHERE ref = 'EW-late-0'")  # no change: no count
    both.run(
        "UPDATE reports SET status = 'verified', verified_at = '2026-01-07T09:00:00+00:00', "
        "updated_at = '2026-01-07' WHERE ref IN ('EW-late-0', 'EW-late-2')"
    )
    # Verified once only: a second date changes no count.
    both.run("UPDATE reports SET verified_at = '2026-01-08T00:00:00+00:00' WHERE ref = 'EW-late-0'")
    both.run("UPDATE reports SET danger = 1, urgency = 'critical' WHERE ref = 'EW-late-1'")
    both.run("UPDATE reports SET urgency = NULL WHERE ref = 'EW-3'")
    both.run("UPDATE reporters SET trusted = 1 WHERE code = 'R-3'")
    both.run("UPDATE reporters SET trusted = 0 WHERE code = 'R-1'")
    queue = same(
        both, "SELECT ref, rank, trusted FROM reports ORDER BY rank DESC, trusted DESC, created_at DESC, ref"
    )
    assert queue[0] == ("EW-late-1", 12, 1)  # danger and critical, by R-3 now trusted
    same(both, "SELECT country, area1, status, n FROM report_status_counts ORDER BY 1, 2, 3")
    weekly = same(both, "SELECT * FROM report_weekly ORDER BY week, country, area1, type")
    # 23:59:59.999999 on a Sunday is next week's: SQLite's date modifiers round to milliseconds.
    assert {w[0] for w in weekly} == {"2025-12-29", "2026-01-05", "2026-01-12"}

    # The audit trail and the lookup log cannot be edited, on either.
    both.run(
        "INSERT INTO report_events (report_id, at, actor, type, data) "
        "VALUES (1, '2026-01-05', 'C-1', 'filed', '{}')"
    )
    both.run(
        "INSERT INTO reporter_lookups (at, admin, code, reason) VALUES ('2026-01-05', 'admin', 'R-1', 'why')"
    )
    for table in ("report_events", "reporter_lookups"):
        both.refused(f"UPDATE {table} SET at = 'x'")
        both.refused(f"DELETE FROM {table}")
        same(both, f"SELECT id, at FROM {table} ORDER BY id")
