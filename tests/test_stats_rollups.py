"""The dashboard's figures read from roll-ups (migration 0012) are the figures the events give.

Realistic activity (the demo generator, which walks the real curriculum, and real chat turns at
chosen times, with club members, a learner who erases their data and learners pseudonymised
for inactivity) is measured with `metrics.summary` under every filter the dashboard offers, and
compared with the queries the metrics ran before the roll-ups, kept here as the reference. The
roll-ups are also compared with what they roll up, after messages are added, deleted and
edited, and when the migration fills them for events that were already there.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.care import queries as care_queries
from bot.messages import Outbound
from bot.stats import demo
from bot.stats import metrics as stats
from bot.storage import repo
from bot.storage.db import Database, migrations
from tests.conftest import Chat, column_names

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ROLLUP = 12  # the migration that adds the roll-ups
# When each chat learner writes again after signing up (their quizzes are within two days).
RETURNS = [
    timedelta(days=7),  # the first moment of "week 1" (days 7 to 14)
    timedelta(days=7) - timedelta(milliseconds=1),  # just before it
    timedelta(days=14) - timedelta(milliseconds=1),  # the last moment of week 1
    timedelta(days=14),  # just after it
    timedelta(days=10),
    timedelta(days=28),  # "week 4" (days 28 to 35)
    timedelta(days=35) - timedelta(milliseconds=1),
    timedelta(days=35),
    timedelta(days=3),
    timedelta(days=30, hours=23),
]


# -- the reference: the metrics' queries before the roll-ups, as they were ---------------------
# (In SQL both backends run: a JSON value compared as text, as json_extract gives a number on
# SQLite and text on PostgreSQL; counts of a condition with FILTER, as PostgreSQL has no SUM of
# booleans; a score's band by its bounds.)


def number(key: str) -> str:
    return f"CAST(json_extract(e.data, '$.{key}') AS DOUBLE PRECISION)"


def flag(key: str) -> str:
    return f"CAST(json_extract(e.data, '$.{key}') AS TEXT)"


async def old_active_by_period(conn: Any, f: stats.Filters) -> dict[str, list[tuple[str, int]]]:
    where, params = f.where()
    rows = await conn.execute_fetchall(
        "WITH d AS MATERIALIZED (SELECT DISTINCT substr(e.at, 1, 10) AS day, e.actor FROM events e "
        f"WHERE e.type = 'message_in' AND {where}) "
        "SELECT 'day', day, COUNT(*) FROM d GROUP BY 2 "
        f"UNION ALL SELECT 'week', {stats._ISO_WEEK}, COUNT(DISTINCT actor) FROM d GROUP BY 2 "
        "UNION ALL SELECT 'month', substr(day, 1, 7), COUNT(DISTINCT actor) FROM d GROUP BY 2",
        params,
    )
    out: dict[str, list[tuple[str, int]]] = {"day": [], "week": [], "month": []}
    for period, key, n in rows:
        out[period].append((key, n))
    return {period: sorted(counts) for period, counts in out.items()}


async def old_quiz_scores(conn: Any, f: stats.Filters) -> list[dict[str, Any]]:
    where, params = f.where()
    lows = range(0, 100, 20)
    rows = await conn.execute_fetchall(
        "SELECT dialog_id, COUNT(*), SUM(pct), "
        + ", ".join(
            f"COUNT(*) FILTER (WHERE pct >= {lo}{f' AND pct < {lo + 20}' if lo < 80 else ''})" for lo in lows
        )
        + " FROM (SELECT e.dialog_id, "
        f"100.0 * {number('score')} / {number('max_score')} AS pct "
        "FROM events e WHERE e.type = 'module_completed' AND json_extract(e.data, '$.passed') IS NOT NULL "
        f"AND {number('max_score')} > 0 AND {where}) AS scored GROUP BY dialog_id ORDER BY dialog_id",
        params,
    )
    return [
        {
            "quiz": quiz,
            "attempts": attempts,
            "mean": round(total / attempts, 1),
            "bands": {f"{lo}-{lo + 19 if lo < 80 else 100}": n for lo, n in zip(lows, bands, strict=True)},
        }
        for quiz, attempts, total, *bands in rows
    ]


async def old_hardest_questions(conn: Any, f: stats.Filters, limit: int = 10) -> list[dict[str, Any]]:
    where, params = f.where()
    rows = await conn.execute_fetchall(
        "SELECT e.dialog_id, e.step_id, COUNT(*), "
        f"COUNT(*) FILTER (WHERE {flag('correct')} IN ('1', 'true')) "
        f"FROM events e WHERE e.type = 'quiz_answer' AND COALESCE({flag('retry')}, '0') IN ('0', 'false') "
        f"AND {where} GROUP BY e.dialog_id, e.step_id",
        params,
    )
    out = [
        {
            "quiz": r[0],
            "question": r[1],
            "answers": r[2],
            "correct": r[3] or 0,
            "rate": round((r[3] or 0) / r[2], 3),
        }
        for r in rows
    ]
    return sorted(out, key=lambda q: (q["answers"] < stats.SMALL, q["rate"], q["quiz"], q["question"]))[
        :limit
    ]


async def old_badges(conn: Any, f: stats.Filters) -> dict[str, int]:
    where, params = f.where()
    rows = await conn.execute_fetchall(
        "SELECT json_extract(e.data, '$.badge'), COUNT(DISTINCT e.actor) FROM events e "
        f"WHERE e.type = 'badge' AND {where} GROUP BY 1 ORDER BY 1",
        params,
    )
    return {r[0]: r[1] for r in rows}


async def old_retention(conn: Any, f: stats.Filters) -> dict[str, Any]:
    where, params = f.where()

    def back(first: int, last: int) -> str:
        return (
            "COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM events x WHERE x.actor = c.actor "
            "AND x.type = 'message_in' "
            f"AND julianday(x.at) - julianday(c.created) >= {first} "
            f"AND julianday(x.at) - julianday(c.created) < {last}))"
        )

    rows = await conn.execute_fetchall(
        "WITH c AS (SELECT e.actor, MIN(e.at) AS created FROM events e "
        f"WHERE e.type = 'user_created' AND {where} GROUP BY e.actor) "
        f"SELECT COUNT(*), {back(7, 14)}, {back(28, 35)} FROM c",
        params,
    )
    cohort, week_1, week_4 = rows[0][0], rows[0][1] or 0, rows[0][2] or 0
    return {
        "cohort": cohort,
        "week_1": round(week_1 / cohort, 3) if cohort else None,
        "week_4": round(week_4 / cohort, 3) if cohort else None,
    }


async def old_summary(conn: Any, f: stats.Filters) -> stats.Summary:
    active = await old_active_by_period(conn, f)
    return stats.Summary(
        filters=f,
        active_by_day=active["day"],
        active_by_week=active["week"],
        active_by_month=active["month"],
        signups=await stats.signups(conn, f),  # these four read the events as they always did
        funnel=await stats.funnel(conn, f),
        quiz_scores=await old_quiz_scores(conn, f),
        hardest_questions=await old_hardest_questions(conn, f),
        free_text=await stats.free_text(conn, f),
        badges=await old_badges(conn, f),
        sessions=await stats.sessions(conn, f),
        retention=await old_retention(conn, f),
    )


# -- realistic activity ---------------------------------------------------------------------------


class TimedChat(Chat):
    """A learner whose messages arrive at `at` (which the test moves on)."""

    def __init__(self, app: App, address: str, at: datetime):
        super().__init__(app, address=address)
        self.at = at

    async def send(self, text: str | None = None, payload: str | None = None, **extra: Any) -> list[Outbound]:
        extra.setdefault("received_at", self.at)
        return await super().send(text, payload, **extra)


async def quiz(chat: TimedChat, answers: tuple[int, int, int]) -> None:
    """Menu → Quizzes → the sample quiz (three questions), answered by button, in any language."""
    await chat.send("menu")
    await chat.tap(2)  # Quizzes
    await chat.tap(1)  # Interests or positions?
    for answer in answers:
        await chat.tap(answer)


async def activity(app: App) -> dict[str, Any]:
    """Demo learners over 60 days (Telegram and WhatsApp), then learners in the chat (the
    console): ten who sign up, take a quiz (some twice), come back once (RETURNS, some at the
    edges of the retention windows, to the millisecond), some in clubs; one erases their data,
    and those silent for 40 days are pseudonymised."""
    content = demo.curriculum(app.settings)
    async with app.db.exclusive() as conn:
        await repo.in_thread(conn, demo.seed, 400, NOW - timedelta(days=1), 60, 11, content)
    codes = [r[0] for r in await app.db.conn.execute_fetchall("SELECT code FROM clubs ORDER BY id")]
    start = NOW - timedelta(days=45, hours=3, microseconds=-123_456)
    chats = []
    for i, back in enumerate(RETURNS):
        chat = TimedChat(app, f"learner-{i}", start + timedelta(hours=5 * i, minutes=7 * i))
        signed_up = chat.at
        await chat.onboard(language=1 + i % 3, age=2 + i % 3)
        if i % 3 == 0:
            await chat.send(f"join {codes[i % len(codes)]}")
        chat.at += timedelta(minutes=2)
        await quiz(chat, (1 + i % 2, 2, 1 + i % 3))
        if i % 2:
            chat.at = signed_up + timedelta(days=2)
            await quiz(chat, (1, 2, 1))
        chat.at = signed_up + back
        await chat.send("menu")
        chats.append(chat)
    # One learner erases everything: the events stay, under a pseudonym that leads nowhere.
    leaver = chats[4]
    leaver.at += timedelta(hours=1)
    await leaver.send("delete")
    await leaver.tap(1)  # Yes, erase it
    # Those silent for 40 days lose their address and name (retention).
    async with app.db.transaction() as conn:
        retired = await care_queries.pseudonymise_inactive(conn, NOW - timedelta(days=40))
    assert retired > 0
    users = await app.db.conn.execute_fetchall("SELECT COUNT(*) FROM users WHERE channel = 'console'")
    assert users[0][0] == len(chats) - 1  # the one who erased is gone; the retired are kept
    return {"codes": codes, "chats": chats}


def filters(app_clubs: list[int]) -> list[stats.Filters]:
    midnight = datetime(2026, 1, 20, tzinfo=UTC)
    return [
        stats.Filters(),
        stats.Filters(club_ids=(app_clubs[0],)),
        stats.Filters(club_ids=tuple(app_clubs[:3])),
        stats.Filters(club_ids=()),
        stats.Filters(district="Huye"),
        stats.Filters(language="fr"),
        stats.Filters(language="en", channel="console"),
        stats.Filters(channel="whatsapp"),
        stats.Filters(age_band="16_17"),
        stats.Filters(since=midnight),
        stats.Filters(until=midnight),
        stats.Filters(since=midnight - timedelta(days=10), until=midnight + timedelta(days=9)),
        stats.Filters(since=midnight, until=midnight),
        # Not whole days: the active learners are counted from the messages themselves.
        stats.Filters(since=midnight + timedelta(hours=6), until=midnight + timedelta(days=3, hours=6)),
        stats.Filters(district="Gisagara", language="rw", since=midnight - timedelta(days=30)),
        stats.Filters(club_ids=(app_clubs[1],), age_band="18_24", channel="telegram", until=midnight),
    ]


async def assert_same_figures(conn: Any, clubs: list[int]) -> None:
    for f in filters(clubs):
        new, old = await stats.summary(conn, f), await old_summary(conn, f)
        assert asdict(new) == asdict(old), f
        assert stats.present(new) == stats.present(old)


# -- the roll-ups against what they roll up --------------------------------------------------------


def iso_week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


async def assert_rollups_match_events(conn: Any) -> None:
    daily = await conn.execute_fetchall(
        "SELECT substr(at, 1, 10), actor, COALESCE(channel, ''), COALESCE(language, ''), MIN(at), MAX(at) "
        "FROM events WHERE type = 'message_in' AND actor IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    kept = await conn.execute_fetchall("SELECT * FROM daily_active ORDER BY 1, 2, 3, 4")
    assert [tuple(r) for r in kept] == [tuple(r) for r in daily]
    weekly = sorted({(iso_week(r[0]), *r[1:4]) for r in daily})
    assert [
        tuple(r) for r in await conn.execute_fetchall("SELECT * FROM weekly_active ORDER BY 1, 2, 3, 4")
    ] == (weekly)
    monthly = sorted({(r[0][:7], *r[1:4]) for r in daily})
    assert [
        tuple(r) for r in await conn.execute_fetchall("SELECT * FROM monthly_active ORDER BY 1, 2, 3, 4")
    ] == monthly


async def club_ids(conn: Any) -> list[int]:
    return [r[0] for r in await conn.execute_fetchall("SELECT id FROM clubs ORDER BY id")]


# -- tests ---------------------------------------------------------------------------------------------


async def test_the_dashboard_figures_are_those_the_events_give(app: App) -> None:
    await activity(app)
    conn = app.db.conn
    await assert_rollups_match_events(conn)
    # Real answers: right and wrong first answers, none a retry (the columns read the JSON).
    answers = await conn.execute_fetchall(
        "SELECT correct, retry, COUNT(*) FROM events WHERE type = 'quiz_answer' AND actor NOT LIKE 'demo%' "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    assert [tuple(r[:2]) for r in answers] == [(0, 0), (1, 0)]
    await assert_same_figures(conn, await club_ids(conn))
    # And through the dashboard's own reader connection.
    async with app.db.reader() as reader:
        await assert_same_figures(reader, await club_ids(reader))


async def test_retention_counts_to_the_millisecond_at_the_edges_of_its_windows(app: App) -> None:
    await activity(app)
    chat_learners = stats.Filters(channel="console")  # the demo's learners use Telegram and WhatsApp
    got = await stats.retention(app.db.conn, chat_learners)
    assert got == {"cohort": 10, "week_1": 0.3, "week_4": 0.3}  # RETURNS: 3 in each window
    assert got == await old_retention(app.db.conn, chat_learners)


async def test_the_roll_ups_follow_deleted_and_edited_messages(app: App) -> None:
    await activity(app)
    clubs = await club_ids(app.db.conn)
    async with app.db.transaction() as conn:
        # The first and the last message of some learner's busiest day (the day stays, its times
        # move), a lone message (its day, week and month go), one moved to another day and
        # language, and another event edited into a message.
        busiest = await conn.execute_fetchall(
            "SELECT actor, substr(at, 1, 10) FROM events WHERE type = 'message_in' "
            "GROUP BY 1, 2 ORDER BY COUNT(*) DESC, 1, 2 LIMIT 1"
        )
        actor, day = busiest[0]
        for order in ("at", "at DESC"):
            await conn.execute(
                "DELETE FROM events WHERE id = (SELECT id FROM events WHERE type = 'message_in' "
                f"AND actor = ? AND substr(at, 1, 10) = ? ORDER BY {order} LIMIT 1)",
                (actor, day),
            )
        await conn.execute(
            "INSERT INTO events (at, actor, type, channel, language) "
            "VALUES ('2025-06-15T08:00:00.000000+00:00', 'lonely', 'message_in', 'telegram', 'rw')"
        )
        await assert_rollups_match_events(conn)
        await conn.execute("DELETE FROM events WHERE actor = 'lonely'")
        await conn.execute(
            "UPDATE events SET at = '2026-02-20T23:59:59.999999+00:00', language = 'fr' WHERE id = "
            "(SELECT MAX(id) FROM events WHERE type = 'message_in' AND actor LIKE 'demo%')"
        )
        await conn.execute(
            "UPDATE events SET type = 'message_in' "
            "WHERE id = (SELECT MIN(id) FROM events WHERE type = 'choice')"
        )
        await assert_rollups_match_events(conn)
        await assert_same_figures(conn, clubs)
    # `demo-data --clear` removes the demo's events, and their days, weeks and months with them.
    async with app.db.exclusive() as writer:
        await repo.in_thread(writer, demo.clear)
    conn = app.db.conn
    left = await conn.execute_fetchall("SELECT COUNT(*) FROM daily_active WHERE actor LIKE 'demo%'")
    assert left[0][0] == 0
    await assert_rollups_match_events(conn)
    await assert_same_figures(conn, await club_ids(conn) or [0, 0])


async def test_an_erased_learner_counts_as_the_events_say_in_the_roll_ups_too(app: App) -> None:
    """Erasure keeps the events under the pseudonym and removes the user: the roll-ups hold the
    same pseudonym and nothing else, so they count the learner exactly where the events do (in
    totals; no longer under a club, district or age band), before and after."""
    conn = app.db.conn
    chat = TimedChat(app, "erasing", NOW - timedelta(days=20))
    await chat.onboard(age=3)
    async with app.db.transaction() as writer:
        await writer.execute(
            "INSERT INTO clubs (code, name, district, language, created_at) "
            "VALUES ('ERASE', 'Erase club', 'Huye', 'rw', ?)",
            (repo.iso(NOW - timedelta(days=30)),),
        )
    await chat.send("join ERASE")
    chat.at += timedelta(days=8)
    await chat.send("menu")
    pseudonym = (await conn.execute_fetchall("SELECT pseudonym FROM users WHERE address = 'erasing'"))[0][0]
    club = await club_ids(conn)
    by_club = stats.Filters(club_ids=tuple(club))
    before = await stats.summary(conn, by_club)
    assert before.retention == {"cohort": 1, "week_1": 1.0, "week_4": 0.0}
    assert sum(n for _, n in before.active_by_day) == 2
    chat.at += timedelta(hours=1)
    await chat.send("delete")
    await chat.tap("Yes, erase it")
    assert await conn.execute_fetchall("SELECT * FROM users WHERE pseudonym = ?", (pseudonym,)) == []
    rolled = await conn.execute_fetchall("SELECT DISTINCT actor FROM daily_active")
    assert [tuple(r) for r in rolled] == [(pseudonym,)]  # the pseudonym only, as in the events
    after = await stats.summary(conn, by_club)
    assert after.active_by_day == [] and after.retention["cohort"] == 0
    everyone = await stats.summary(conn, stats.Filters())
    assert sum(n for _, n in everyone.active_by_day) == 2
    for f in (by_club, stats.Filters(), stats.Filters(district="Huye"), stats.Filters(age_band="18_24")):
        assert asdict(await stats.summary(conn, f)) == asdict(await old_summary(conn, f))


@pytest.mark.sqlite_only(
    "SQLite's migration 0012 on a file at version 11, filled through ATTACH; "
    "PostgreSQL's twin is held to it by test_postgres_schema"
)
async def test_the_migration_fills_the_roll_ups_for_the_events_already_there(
    app: App, tmp_path: Path
) -> None:
    """A database of the version before, holding the same events (the demo's and the chat's),
    migrated: its roll-ups are those the triggers kept, and its figures the same."""
    await activity(app)
    path = tmp_path / "before.db"
    db = await Database.open(path, migrate=False)
    try:
        for number, _, sql in migrations():
            if number < ROLLUP:
                await db.conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;")
        await db.conn.execute("ATTACH DATABASE ? AS live", (str(app.db.path),))
        await db.conn.execute("BEGIN")
        for table in ("clubs", "users", "memberships", "club_sessions", "invitations", "outbox"):
            columns = [r[1] for r in await db.conn.execute_fetchall(f"PRAGMA main.table_info({table})")]
            names = ", ".join(columns)
            await db.conn.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM live.{table}")
        names = "id, at, actor, type, channel, language, dialog_id, step_id, data"
        await db.conn.execute(f"INSERT INTO main.events ({names}) SELECT {names} FROM live.events")
        await db.conn.execute("COMMIT")
        await db.conn.execute("DETACH DATABASE live")
        assert await db.version() == ROLLUP - 1
        assert ROLLUP in [number for number, _, _ in migrations()]
        await db.migrate()
        await assert_rollups_match_events(db.conn)
        for table in ("daily_active", "weekly_active", "monthly_active"):
            mine = await db.conn.execute_fetchall(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
            kept = await app.db.conn.execute_fetchall(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
            assert [tuple(r) for r in mine] == [tuple(r) for r in kept]
        await assert_same_figures(db.conn, await club_ids(db.conn))
    finally:
        await db.close()


def test_whole_days_are_what_the_roll_up_can_filter_by() -> None:
    day = datetime(2026, 1, 20, tzinfo=UTC)
    assert stats.Filters().days() == (None, None)
    assert stats.Filters(since=day, until=day + timedelta(days=1)).days() == ("2026-01-20", "2026-01-21")
    assert stats.Filters(since=day.replace(tzinfo=None)).days() == ("2026-01-20", None)
    assert stats.Filters(since=day + timedelta(hours=1)).days() is None
    assert stats.Filters(until=day + timedelta(microseconds=1)).days() is None
    # Midnight in Kigali is not midnight UTC, and `at` is written in UTC.
    assert stats.Filters(since=day.replace(tzinfo=timezone(timedelta(hours=2)))).days() is None


@pytest.mark.parametrize("table", ["daily_active", "weekly_active", "monthly_active"])
async def test_the_roll_ups_hold_no_more_than_the_events_do(app: App, table: str) -> None:
    """A pseudonym, a period, a channel and a language: nothing that names anyone."""
    columns = set(await column_names(app, table))
    assert columns <= {"day", "week", "month", "actor", "channel", "language", "first_at", "last_at"}
    with pytest.raises(sqlite3.IntegrityError):
        await app.db.conn.execute(f"INSERT INTO {table} (actor) VALUES ('x')")
