"""Staff-dashboard findings of the issue "Everything a new user tripped over" (16–21), each seen
first as a failing test: module titles and questions instead of ids, in the staff member's
language, and rates as percentages; charts and tables that fit a phone; hidden rates that say so
and go last; each club's RSVP bars together; demo data made from the real curriculum; no hidden
count beside an exact small count of the same people. The page in a real phone-sized browser is
in tests/test_dashboard.py."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App, load_checked_content
from bot.config import Settings
from bot.content.models import QuestionStep, context
from bot.i18n import Catalogs
from bot.messages import utcnow
from bot.stats import demo
from bot.stats import metrics as stats
from bot.stats.dashboard import charts
from bot.stats.dashboard.accounts import add_account
from bot.storage import repo
from bot.web.server import build_web
from tests.conftest import insert_id
from tests.test_dashboard import PASSWORD, login

SVG = "{http://www.w3.org/2000/svg}"
TEMPLATES = Path(__file__).parent.parent / "bot" / "stats" / "dashboard" / "templates"


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with app.db.transaction() as conn:
        await add_account(conn, "staff", PASSWORD, None, utcnow())
    transport = httpx.ASGITransport(app=build_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as web:
        assert (await login(web, "staff")).status_code == 303
        yield web


def at(day: int) -> str:
    return datetime(2026, 11, day, 10, tzinfo=UTC).isoformat()


async def add_events(app: App, events: list[tuple[str, str, str | None, str | None, dict | None]]) -> None:
    """(type, actor, module, step, data) events, as a learner's turns write them."""
    async with app.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
            "VALUES (?, ?, ?, 'console', 'rw', ?, ?, ?)",
            [
                (at(2), who, kind, module, step, json.dumps(data) if data else None)
                for kind, who, module, step, data in events
            ],
        )


def answers(module: str, step: str, right: int, wrong: int, prefix: str = "p") -> list:
    return [
        ("quiz_answer", f"{prefix}{n}", module, step, {"correct": n < right, "retry": False})
        for n in range(right + wrong)
    ]


def started(module: str, n: int, completed: int) -> list:
    return [("module_started", f"p{i}", module, None, None) for i in range(n)] + [
        ("module_completed", f"p{i}", module, None, {"score": 1}) for i in range(completed)
    ]


def section(page: str, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', page, re.DOTALL)
    assert found is not None, name
    return found.group(1)


def chart(page: str, name: str) -> list[tuple[str, str]]:
    """A bar chart's rows, as (label, value) in the order drawn."""
    svg = re.search(r"<svg.*?</svg>", section(page, name), re.DOTALL)
    assert svg is not None, name
    rows = []
    for row in ET.fromstring(svg.group(0)).iter(f"{SVG}g"):
        label = " ".join(t.text or "" for t in row.iter(f"{SVG}tspan"))
        [value] = [t.text or "" for t in row.iter(f"{SVG}text") if t.get("class") == "value"]
        rows.append((label, value))
    return rows


def table(page: str, name: str) -> list[list[str]]:
    cells = []
    for row in re.findall(r"<tr>(.*?)</tr>", section(page, name), re.DOTALL)[1:]:
        cells.append([html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.DOTALL)])
    return cells


# -- 16. titles, questions and percentages, in the staff member's language ------------------------


async def test_modules_and_questions_are_named_in_the_chosen_language(
    app: App, client: httpx.AsyncClient
) -> None:
    await add_events(app, started("interests_positions", 8, 6) + answers("interests_positions", "q1", 2, 6))
    quiz = app.engine.content.get("interests_positions")
    assert quiz is not None
    tr = app.engine.catalogs.gettext
    for lang in ("en", "fr"):
        page = (await client.get(f"/dashboard?lang={lang}")).text
        title = tr(lang, quiz.title, context(quiz.id, "meta", "title"))
        question = tr(lang, quiz.step("q1").text, context(quiz.id, "q1", "text"))
        if lang == "fr":
            assert title == "Intérêts ou positions ?" and question != quiz.step("q1").text
        percent = {"en": "{}%", "fr": "{}\N{NO-BREAK SPACE}%"}[lang].format  # as each language writes it
        assert table(page, "modules") == [[title, "8", "6", percent(75)]]
        [(label, value)] = chart(page, "hardest")
        assert value == percent(25)
        assert label == (question if len(question) <= 60 else question[:59].rstrip() + "…")
        assert len(label) <= 60
        assert chart(page, "completion") == [(title, percent(75))]
        assert "interests_positions" not in page  # no module id, nor "interests_positions/q1"
        assert not re.search(r"\b0\.\d+\b", page)  # no rate as a fraction
        assert f'<html lang="{lang}">' in page


async def test_the_dashboards_own_words_are_translated(
    app: App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until the catalogs have them, a pseudo-translation shows every label goes through gettext."""
    original = Catalogs.gettext

    def pseudo(self: Catalogs, lang: str, msgid: str, context: str | None = None) -> str:
        return f"⟦{msgid}⟧" if lang == "fr" and context is None else original(self, lang, msgid, context)

    monkeypatch.setattr(Catalogs, "gettext", pseudo)
    await add_events(app, started("interests_positions", 2, 1) + answers("interests_positions", "q1", 1, 1))
    page = html.unescape((await client.get("/dashboard?lang=fr")).text)
    for label in (
        "Club",
        "District",
        "Learners' language",
        "Channel",
        "Age",
        "All",
        "under 16",
        "From",
        "To",
        "Dashboard language",
        "Apply",
        "Download CSV",
        "new learners",
        "Active learners per day",
        "Completion per module",
        "Hardest questions (share right at the first try)",
        "RSVP and attendance per club",
        "Invited",
        "Said yes",
        "Came",
        "Modules",
        "Module",
        "Started",
        "Completed",
        "Rate",
        "too few learners",
        "too few answers",
        "Log out staff",  # "Log out {username}"
    ):
        assert f"⟦{label}⟧" in page, label
    assert "<title>Club Speak · ⟦Dashboard⟧</title>" in page
    assert 'name="lang"' in page and '<option value="fr" selected>Français</option>' in page
    for english in (">Started<", ">Rate<", ">Apply<", "Completion per module</h2>"):
        assert english not in page
    # The login page too, and the language goes through the login to the dashboard.
    form = html.unescape((await client.get("/dashboard/login?lang=fr")).text)
    assert "⟦Staff login⟧" in form and "⟦Password⟧" in form and 'name="lang" value="fr"' in form


async def test_the_login_keeps_the_chosen_language(app: App) -> None:
    async with app.db.transaction() as conn:
        await add_account(conn, "staff", PASSWORD, None, utcnow())
    transport = httpx.ASGITransport(app=build_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as web:
        form = await web.get("/dashboard/login?lang=fr")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        done = await web.post(
            "/dashboard/login",
            data={"csrf": csrf.group(1), "username": "staff", "password": PASSWORD, "lang": "fr"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/dashboard?lang=fr"
        assert (await login(web, "staff")).headers["location"] == "/dashboard"  # English by default


# -- 17. on a phone -----------------------------------------------------------------------------


def test_charts_are_drawn_for_a_phone() -> None:
    """Drawn about a phone wide with labels above the bars: at 390 px the chart is at least
    326 px wide (the page's margins), so text of FONT units shows at FONT × 326 / width px."""
    long = "Which of these is an interest, not a position, in the story of the two brothers?"
    for svg in (
        charts.bars([(long, 40), ("Short", 90), ("Hidden", "too few answers")], "%"),
        charts.columns([("2026-11-01", 3), ("2026-11-02", 12)]),
    ):
        root = ET.fromstring(svg)
        width = float((root.get("viewBox") or "").split()[2])
        assert width <= 360 and float(root.get("font-size") or 0) * 326 / width >= 12
    style = (TEMPLATES / "base.html").read_text()
    found = re.search(r"\.chart \{[^}]*font-size: (\d+)px", style)
    assert found is not None and int(found.group(1)) * 326 / charts.WIDTH >= 12
    root = ET.fromstring(charts.bars([(long, 40)], "%"))
    [label] = [t for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    [bar] = root.iter(f"{SVG}rect")
    lines = list(label.iter(f"{SVG}tspan"))
    assert len(lines) == 2 and all(float(t.get("y") or 0) < float(bar.get("y") or 0) for t in lines)
    assert float(bar.get("x") or 1) == 0  # the bar starts under its label, not beside it


def test_every_dashboard_table_can_scroll_on_its_own() -> None:
    page = (TEMPLATES / "dashboard.html").read_text()
    assert page.count("<table>") == page.count('<div class="scroll"><table>') > 0
    assert re.search(r"\.scroll \{[^}]*overflow-x: auto", (TEMPLATES / "base.html").read_text())


# -- 18. a hidden rate says so, and goes last ------------------------------------------------------


async def test_hidden_rates_say_too_few_and_go_last(app: App, client: httpx.AsyncClient) -> None:
    await add_events(
        app,
        started("interests_positions", 6, 3)
        + started("abunzi", 2, 0)
        + answers("interests_positions", "q2", 2, 4)
        + answers("interests_positions", "q1", 0, 2)  # 2 answers, none right: hidden, not "hardest"
        + answers("abunzi", "check1", 0, 3),
    )
    page = (await client.get("/dashboard")).text
    assert "&lt;5%" not in page and "<5%" not in page
    rows = chart(page, "hardest")
    assert [value for _, value in rows] == ["33%", "too few answers", "too few answers"]
    quiz = app.engine.content.get("interests_positions")
    assert quiz is not None and rows[0][0] == " ".join(quiz.step("q2").text.split())[:59].rstrip() + "…"
    modules = table(page, "modules")
    assert [m[3] for m in modules] == ["50%", "too few learners"]
    assert modules[-1][:2] == ["Abunzi, mediation near you", "<5"]
    assert [value for _, value in chart(page, "completion")] == ["50%", "too few learners"]


async def test_questions_too_few_answered_never_push_out_a_hard_one(app: App) -> None:
    events = answers("batna", "q1", 5, 5, prefix="x")  # 10 answers, half right
    for n in range(12):  # twelve questions 2 learners got wrong: no rate can be shown for them
        events += answers(f"m{n}", "q1", 0, 2)
    await add_events(app, events)
    hardest = await stats.hardest_questions(app.db.conn, stats.Filters())
    assert hardest[0] == {"quiz": "batna", "question": "q1", "answers": 10, "correct": 5, "rate": 0.5}
    assert len(hardest) == 10


# -- 19. each club's RSVP bars together ----------------------------------------------------------


async def add_sessions(app: App, clubs: dict[str, tuple[int, int, int]]) -> None:
    """Per club name: (invited, said yes, came), in one past session."""
    async with app.db.transaction() as conn:
        for code, (name, (invited, yes, came)) in zip(
            ("AAAAA", "BBBBB", "CCCCC"), clubs.items(), strict=False
        ):
            club = await insert_id(
                conn,
                "INSERT INTO clubs (code, name, district, language, created_at) "
                "VALUES (?, ?, 'Huye', 'rw', ?)",
                (code, name, at(1)),
            )
            session = await insert_id(
                conn,
                "INSERT INTO club_sessions (club_id, starts_at, place, topic, created_at) "
                "VALUES (?, ?, 'Hall', 'T', ?)",
                (club, at(20), at(10)),
            )
            for n in range(invited):
                user_id = await insert_id(
                    conn,
                    "INSERT INTO users (channel, address, pseudonym, created_at) VALUES ('console', ?, ?, ?)",
                    (f"{code}{n}", f"{code}{n}", at(1)),
                )
                await conn.execute(
                    "INSERT INTO invitations (session_id, user_id, delivery, rsvp, attended, created_at) "
                    "VALUES (?, ?, 'delivered', ?, ?, ?)",
                    (session, user_id, "yes" if n < yes else "no", int(n < came), at(10)),
                )


async def test_each_clubs_rsvp_bars_are_side_by_side(app: App, client: httpx.AsyncClient) -> None:
    await add_sessions(app, {"Huye Club": (12, 8, 6), "Nyabihu Club": (20, 10, 7)})
    page = html.unescape((await client.get("/dashboard")).text)
    assert chart(page, "rsvp") == [
        ("Huye Club: said yes", "8"),
        ("Huye Club: came", "6"),
        ("Nyabihu Club: said yes", "10"),
        ("Nyabihu Club: came", "7"),
    ]


# -- 20. demo data from the real curriculum --------------------------------------------------------


async def test_demo_data_is_made_from_the_real_curriculum_and_is_consistent(app: App) -> None:
    content, _ = load_checked_content(Settings())
    modules = {d.id: d for d in content.dialogs.values() if d.kind != "system"}
    async with app.db.exclusive() as conn:
        made = await repo.in_thread(
            conn, demo.seed, 300, utcnow()
        )  # as `demo-data` and bench/stats.py call it
    assert made["users"] == 300 and made["sessions"] > 0

    async def query(sql: str) -> list[Any]:
        async with app.db.conn.execute(sql) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    started = await query("SELECT DISTINCT dialog_id FROM events WHERE type = 'module_started'")
    assert {m for (m,) in started} == set(modules)  # every module, and only real ones
    steps = await query(
        "SELECT type, dialog_id, step_id, data FROM events "
        "WHERE type IN ('quiz_answer', 'choice', 'free_text')"
    )
    assert {t for t, *_ in steps} == {"quiz_answer", "choice", "free_text"}
    for kind, module, step_id, data in steps:
        step = modules[module].step(step_id)  # a real step of that module
        if kind == "quiz_answer":
            assert isinstance(step, QuestionStep)
            answer = json.loads(data)
            assert answer["correct"] == (answer["option"] == step.correct)
            assert answer["option"] in {o.id for o in step.options}
    for row in await query(
        # The JSON's max_score, as the column of migration 0012 (a number on both backends).
        "SELECT dialog_id, max_score FROM events WHERE type = 'module_completed' AND max_score IS NOT NULL"
    ):
        assert row[1] == len(modules[row[0]].questions)
    shown = stats.present(await stats.summary(app.db.conn, stats.Filters()))
    assert {q["quiz"] for q in shown["hardest_questions"]} <= {m for m, d in modules.items() if d.questions}

    # Invitations: a delivery status each, as real sending leaves it; answers only where it arrived.
    sessions = await stats.sessions(app.db.conn, stats.Filters())
    failed = await query("SELECT COUNT(*) FROM invitations WHERE delivery = 'failed'")
    assert sessions["invited"] > 0 and sessions["sent"] + failed[0][0] == sessions["invited"]
    assert 0 < sessions["delivered"] <= sessions["sent"]
    assert sessions["attended"] <= sessions["invited"] and sessions["rsvp_yes"] <= sessions["sent"]
    assert await query(
        "SELECT COUNT(*) FROM invitations WHERE (rsvp IS NOT NULL AND delivery = 'failed') "
        "OR ((rsvp IS NULL) != (rsvp_at IS NULL)) OR (attended IS NOT NULL AND rsvp IS NULL)"
    ) == [(0,)]
    # Nobody joins a club before they exist, nor is invited before they join.
    assert await query(
        "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id "
        "JOIN invitations i ON i.user_id = u.id JOIN club_sessions s ON s.id = i.session_id "
        "WHERE m.joined_at < u.created_at OR i.created_at < m.joined_at OR s.club_id != m.club_id"
    ) == [(0,)]
    async with app.db.exclusive() as conn:
        assert await repo.in_thread(conn, demo.clear) == 300


# -- 21. no hidden count beside an exact small count of the same people ----------------------------


# A count of people, and the counts of some of those same people shown beside it.
PARTS = {
    "started": ("completed",),
    "answers": ("correct",),
    "attempts": ("bands",),
    "learners": ("answers",),
    "invited": ("sent", "delivered", "rsvp_yes", "yes", "attended"),
    "cohort": ("week_1", "week_4"),
}


def check_suppressed(shown: Any, where: str = "") -> None:
    """No count of 1–4 people is shown, and a part of a hidden count is hidden too (not even an
    exact 0 beside it). The number of sessions counts sessions, not people."""
    if isinstance(shown, dict):
        for key, value in shown.items():
            small = isinstance(value, int) and not isinstance(value, bool) and 0 < value < stats.SMALL
            assert not (small and key != "sessions"), (where, key, shown)
            check_suppressed(value, f"{where}.{key}")
        for total, parts in PARTS.items():
            if shown.get(total) == "<5":
                for part in parts:
                    value = shown.get(part, "<5")
                    values = value.values() if isinstance(value, dict) else [value]
                    assert all(v == "<5" for v in values), (where, total, part, shown)
    elif isinstance(shown, list | tuple):
        for value in shown:
            check_suppressed(value, where)


counts = st.integers(min_value=0, max_value=12)


@st.composite
def summaries(draw: st.DrawFn) -> stats.Summary:
    s = stats.Summary(stats.Filters())
    started = draw(counts)
    completed = draw(st.integers(0, started))
    s.funnel = [
        {
            "module": "m",
            "started": started,
            "completed": completed,
            "rate": completed / started if started else None,
        }
    ]
    n = draw(counts)
    right = draw(st.integers(0, n))
    if n:
        s.hardest_questions = [
            {"quiz": "q", "question": "q1", "answers": n, "correct": right, "rate": right / n}
        ]
        bands = [draw(st.integers(0, n)) for _ in range(4)]
        s.quiz_scores = [
            {"quiz": "q", "attempts": n, "mean": 50.0, "bands": dict(zip("abcd", bands, strict=True))}
        ]
    learners = draw(counts)
    s.free_text = {"learners": learners, "answers": learners + draw(counts) if learners else 0}
    invited = draw(counts)
    sent = draw(st.integers(0, invited))
    yes = draw(st.integers(0, sent))
    came = draw(st.integers(0, yes))
    s.sessions = {
        "sessions": draw(st.integers(1, 3)) if invited else 0,
        "invited": invited,
        "sent": sent,
        "delivered": draw(st.integers(0, sent)),
        "rsvp_yes": yes,
        "attended": came,
        "attendance_rate": came / yes if yes else None,
    }
    cohort = draw(counts)
    s.retention = {"cohort": cohort, "week_1": 0.5 if cohort else None, "week_4": 0.0 if cohort else None}
    s.signups = cohort
    s.badges = {"first_quiz": draw(st.integers(1, 12))}
    s.active_by_day = [("2026-11-01", draw(st.integers(1, 12)))]
    return s


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(summaries())
def test_no_hidden_count_sits_beside_an_exact_small_one(summary: stats.Summary) -> None:
    shown = stats.present(summary)
    check_suppressed(shown)
    json.dumps(shown)  # the --format json output


def test_the_example_of_the_issue() -> None:
    s = stats.Summary(stats.Filters())
    s.hardest_questions = [{"quiz": "q", "question": "q1", "answers": 3, "correct": 0, "rate": 0.0}]
    s.sessions = {"sessions": 1, "invited": 3, "sent": 2, "delivered": 0, "rsvp_yes": 0, "attended": 0}
    shown = stats.present(s)
    assert shown["hardest_questions"][0]["correct"] == "<5"
    assert {k: shown["sessions"][k] for k in ("invited", "sent", "delivered", "rsvp_yes", "attended")} == {
        "invited": "<5",
        "sent": "<5",
        "delivered": "<5",
        "rsvp_yes": "<5",
        "attended": "<5",
    }


async def test_the_per_club_figures_hide_a_part_of_a_hidden_count(app: App) -> None:
    await add_sessions(app, {"Huye Club": (3, 0, 0), "Nyabihu Club": (9, 9, 2)})
    per_club = await stats.sessions_by_club(app.db.conn, stats.Filters())
    assert per_club == [
        {"club": "Huye Club", "invited": "<5", "yes": "<5", "attended": "<5"},
        {"club": "Nyabihu Club", "invited": 9, "yes": 9, "attended": "<5"},
    ]
    check_suppressed(per_club)
