"""Every metric on a small dataset built by hand, against exact numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.app import App
from bot.stats import metrics as stats
from tests.conftest import insert_id


def at(day: int, hour: int = 10) -> str:
    return datetime(2026, 11, day, hour, tzinfo=UTC).isoformat()


@pytest.fixture
async def data(app: App) -> dict[str, int]:
    conn = app.db.conn
    await conn.execute("BEGIN")
    clubs = {}
    for code, name, district in (("AAAAA", "Huye Club", "Huye"), ("BBBBB", "Nyabihu Club", "Nyabihu")):
        clubs[code] = await insert_id(
            conn,
            "INSERT INTO clubs (code, name, district, language, created_at) VALUES (?, ?, ?, 'rw', ?)",
            (code, name, district, at(1)),
        )
    users = {}
    for pseudonym, age, club in (("p1", "18_24", "AAAAA"), ("p2", "16_17", "AAAAA"), ("p3", "25p", "BBBBB")):
        users[pseudonym] = await insert_id(
            conn,
            "INSERT INTO users (channel, address, pseudonym, age_band, created_at) "
            "VALUES ('console', ?, ?, ?, ?)",
            (pseudonym, pseudonym, age, at(1)),
        )
        await conn.execute(
            "INSERT INTO memberships (club_id, user_id, joined_at) VALUES (?, ?, ?)",
            (clubs[club], users[pseudonym], at(1)),
        )
    events = [
        # p4 deleted their data: their pseudonymous events still count in totals.
        *[("user_created", p, d, None, None, None) for p, d in (("p1", 1), ("p2", 1), ("p3", 2), ("p4", 1))],
        *[("message_in", "p1", d, None, None, None) for d in (1, 2, 9, 30)],
        ("message_in", "p2", 1, None, None, None),
        *[("message_in", "p3", d, None, None, None) for d in (2, 3)],
        ("message_in", "p4", 1, None, None, None),
        ("module_started", "p1", 1, "q", None, None),
        ("module_started", "p2", 1, "q", None, None),
        ("module_started", "p3", 2, "x", None, None),
        ("module_completed", "p1", 1, "q", None, {"score": 3, "max_score": 4, "passed": True}),
        ("module_completed", "p1", 2, "q", None, {"score": 4, "max_score": 4, "passed": True}),
        ("module_completed", "p3", 2, "x", None, {"score": 5, "max_score": None, "passed": None}),
        ("quiz_answer", "p1", 1, "q", "q1", {"correct": True, "retry": False}),
        ("quiz_answer", "p2", 1, "q", "q1", {"correct": False, "retry": False}),
        ("quiz_answer", "p1", 2, "q", "q1", {"correct": False, "retry": True}),
        ("quiz_answer", "p1", 1, "q", "q2", {"correct": True, "retry": False}),
        ("free_text", "p3", 2, "x", "practice", {"rubric_hits": 1, "length": 30}),
        ("free_text", "p3", 3, "x", "practice", {"rubric_hits": 0, "length": 12}),
        ("badge", "p1", 1, "q", None, {"badge": "first_quiz"}),
        ("badge", "p3", 2, "x", None, {"badge": "first_exercise"}),
    ]
    await conn.executemany(
        "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
        "VALUES (?, ?, ?, 'console', 'rw', ?, ?, ?)",
        [
            (at(d), p, t, dlg, step, json.dumps(extra) if extra else None)
            for t, p, d, dlg, step, extra in events
        ],
    )
    session = await insert_id(
        conn,
        "INSERT INTO club_sessions (club_id, starts_at, place, topic, created_at) "
        "VALUES (?, ?, 'Hall', 'T', ?)",
        (clubs["AAAAA"], at(20), at(10)),
    )
    for user, rsvp, attended, status in (("p1", "yes", 1, "delivered"), ("p2", "no", None, "sent")):
        outbox_id = await insert_id(
            conn,
            "INSERT INTO outbox (user_id, channel, address, payload, status, created_at, updated_at) "
            "VALUES (?, 'console', ?, '{}', ?, ?, ?)",
            (users[user], user, status, at(10), at(10)),
        )
        await conn.execute(
            "INSERT INTO invitations (session_id, user_id, outbox_id, rsvp, attended, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (session, users[user], outbox_id, rsvp, attended, at(10)),
        )
    await conn.execute("COMMIT")
    return clubs


async def test_every_metric_on_a_hand_built_dataset(app: App, data: dict[str, int]) -> None:
    conn, everyone = app.db.conn, stats.Filters()
    assert await stats.active_learners(conn, everyone, "day") == [
        ("2026-11-01", 3),
        ("2026-11-02", 2),
        ("2026-11-03", 1),
        ("2026-11-09", 1),
        ("2026-11-30", 1),
    ]
    assert await stats.active_learners(conn, everyone, "month") == [("2026-11", 4)]
    assert await stats.signups(conn, everyone) == 4
    assert await stats.funnel(conn, everyone) == [
        {"module": "q", "started": 2, "completed": 1, "rate": 0.5},
        {"module": "x", "started": 1, "completed": 1, "rate": 1.0},
    ]
    [quiz] = await stats.quiz_scores(conn, everyone)
    assert (quiz["quiz"], quiz["attempts"], quiz["mean"]) == ("q", 2, 87.5)
    assert quiz["bands"] == {"0-19": 0, "20-39": 0, "40-59": 0, "60-79": 1, "80-100": 1}
    assert await stats.hardest_questions(conn, everyone) == [
        {"quiz": "q", "question": "q1", "answers": 2, "correct": 1, "rate": 0.5},
        {"quiz": "q", "question": "q2", "answers": 1, "correct": 1, "rate": 1.0},
    ]
    assert await stats.free_text(conn, everyone) == {"answers": 2, "learners": 1}
    assert await stats.badges(conn, everyone) == {"first_exercise": 1, "first_quiz": 1}
    assert await stats.sessions(conn, everyone) == {
        "sessions": 1,
        "invited": 2,
        "sent": 2,
        "delivered": 1,
        "rsvp_yes": 1,
        "attended": 1,
        "attendance_rate": 1.0,
    }
    assert await stats.retention(conn, everyone) == {"cohort": 4, "week_1": 0.25, "week_4": 0.25}


async def test_breakdowns_by_club_district_age_and_dates(app: App, data: dict[str, int]) -> None:
    conn = app.db.conn
    huye = stats.Filters(club_ids=(data["AAAAA"],))
    assert await stats.active_learners(conn, huye, "day") == [
        ("2026-11-01", 2),
        ("2026-11-02", 1),
        ("2026-11-09", 1),
        ("2026-11-30", 1),
    ]
    assert await stats.signups(conn, huye) == 2
    assert await stats.free_text(conn, huye) == {"answers": 0, "learners": 0}
    nyabihu = stats.Filters(district="Nyabihu")
    assert await stats.funnel(conn, nyabihu) == [{"module": "x", "started": 1, "completed": 1, "rate": 1.0}]
    assert (await stats.sessions(conn, nyabihu))["sessions"] == 0
    assert await stats.signups(conn, stats.Filters(age_band="25p")) == 1
    early = stats.Filters(until=datetime(2026, 11, 2, tzinfo=UTC))
    assert await stats.active_learners(conn, early, "day") == [("2026-11-01", 3)]
    assert await stats.signups(conn, stats.Filters(club_ids=())) == 0  # a facilitator of no club sees nothing


def test_small_counts_are_hidden() -> None:
    assert [stats.suppress(n) for n in (0, 1, 4, 5, 120)] == [0, "<5", "<5", 5, 120]


async def test_demo_data_is_marked_and_cleared_exactly(app: App) -> None:
    from bot.messages import utcnow
    from bot.stats import demo
    from bot.storage import repo
    from tests.conftest import Chat

    real = Chat(app, address="real-learner")
    await real.onboard()
    async with app.db.exclusive() as conn:
        made = await repo.in_thread(conn, demo.seed, 200, utcnow())
    assert made["users"] == 200 and made["events"] > 200 * 5 and made["sessions"] > 0
    summary = await stats.summary(app.db.conn, stats.Filters())
    assert (
        summary.signups >= 200
        and summary.funnel
        and summary.hardest_questions
        and summary.sessions["invited"]
    )
    async with app.db.exclusive() as conn:
        assert await repo.in_thread(conn, demo.clear) == 200
    async with app.db.conn.execute(
        "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM clubs), "
        "(SELECT COUNT(*) FROM events WHERE actor LIKE 'demo%')"
    ) as cur:
        assert tuple(await cur.fetchone()) == (1, 0, 0)  # only the real learner is left
