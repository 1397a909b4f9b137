"""Learning gain (issue #14, deliverable 5): the share right on a module's pre-test items before
its content and again at its end, per module, in `stats`, the chat stats and the dashboard.

Learners take two small quizzes through the real engine, at chosen times, in English and French,
some in a club: "Listening first" (gain_a) by five learners, hand-computed below, and "Fair
shares" (gain_b) by four, which must stay hidden. The demo data, made from fixture modules with a
pre-test and a route step, must show the table too.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po, write_po

from bot.app import App
from bot.config import PROJECT_ROOT, Settings
from bot.content.loader import load_content
from bot.content.models import EndStep, RouteStep, context
from bot.i18n import Catalogs
from bot.messages import Outbound, utcnow
from bot.stats import cli as cli_stats
from bot.stats import demo
from bot.stats import metrics as stats
from bot.stats.dashboard.accounts import add_account
from bot.storage import repo
from bot.web.server import build_web
from tests.conftest import Chat, insert_id, on_backend
from tests.test_dashboard import PASSWORD, login


def quiz(dialog_id: str, title: str, theme: str) -> str:
    """A five-question quiz whose first two questions are its pre-test; every question's right
    option is `good` and its wrong one `bad`."""
    steps = []
    for n in range(1, 6):
        steps.append(
            f"""- id: q{n}
  type: question
  text: {title}, question {n}?
  correct: good
  options:
  - {{id: good, label: The fair way {n}, explanation: It meets both needs {n}.}}
  - {{id: bad, label: The quick way {n}, explanation: It leaves one side out {n}.}}
  next: {"q" + str(n + 1) if n < 5 else "end"}"""
        )
    return f"""id: {dialog_id}
kind: quiz
theme: {theme}
title: {title}
pass_mark: 60
pretest: [q1, q2]
steps:
{chr(10).join(steps)}
- id: end
  type: end
  text: {title} is done.
"""


# An exercise whose ending depends on the score (a route step), for the demo data.
EXERCISE = """id: gain_route
kind: exercise
theme: community
title: The queue
steps:
- id: first
  type: choices
  text: Two families want the tap first. What do you do?
  choices:
  - {id: push, label: Push ahead, next: loud, feedback: The other family pushes back.}
  - {id: ask, label: Ask what each needs, next: calm, score: 2, feedback: Asking opens the talk.}
- id: loud
  type: say
  text: Voices rise at the tap.
  next: which
- id: calm
  type: say
  text: They agree on turns.
  next: which
- id: which
  type: route
  routes:
  - {min_score: 2, next: end_good}
  next: end_hard
- id: end_good
  type: end
  text: The families share the mornings.
- id: end_hard
  type: end
  text: The families still argue at dawn.
"""

MODULES = {
    "gain_a.yaml": quiz("gain_a", "Listening first", "dialogue"),
    "gain_b.yaml": quiz("gain_b", "Fair shares", "negotiation"),
    "gain_route.yaml": EXERCISE,
}
FRENCH_TITLES = {
    "Listening first": "Écouter d'abord",
    "Fair shares": "Partager juste",
    "The queue": "La file",
}
# The dashboard's new words, in French as /tmp/tr/stats_ui.json gives them (the catalogs may not
# have them yet): the French page must show these, so they go through gettext with `lang`.
FRENCH_UI = {
    "Learning gain (the same questions, before and after)": "Progrès (les mêmes questions, avant et après)",
    "Learners (both times)": "Apprenants (les deux fois)",
    "Right answers before": "Bonnes réponses avant",
    "Right answers after": "Bonnes réponses après",
    "Gain": "Progrès",
}
FRENCH_POINTS = ("{n} point", "{n} points")


def put(catalog: Any, msgid: Any, string: Any, ctx: str | None = None) -> None:
    """Set a translation, whatever the catalog has (Catalog.add keeps an existing entry's string)."""
    catalog.add(msgid, string, context=ctx)
    message = catalog.get(msgid, context=ctx)
    message.string = string
    message.flags.discard("fuzzy")


def locales(dialogs_dir: Path, target: Path) -> Path:
    """The real catalogs, plus every fixture text (fr: the French title, else the English; rw: the
    English) and the French of the dashboard's new words."""
    content, _ = load_content(dialogs_dir, Catalogs({}))
    for lang in ("rw", "fr", "en"):
        with (PROJECT_ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for d in content.dialogs.values():
            if d.kind == "system":
                continue
            for step_id, field, text in d.texts():
                french = FRENCH_TITLES.get(text, text) if lang == "fr" else text
                put(catalog, text, french, context(d.id, step_id, field))
        if lang == "fr":
            for msgid, french in FRENCH_UI.items():
                put(catalog, msgid, french)
            put(catalog, FRENCH_POINTS, FRENCH_POINTS)
        out = target / lang / "LC_MESSAGES" / "messages.po"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            write_po(fh, catalog, width=100)
    return target


@pytest.fixture
def gain_settings(tmp_path: Path, settings: Settings) -> Settings:
    dialogs = tmp_path / "dialogs"
    for name in ("system/welcome.yaml", "system/help.yaml"):
        (dialogs / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dialogs" / name, dialogs / name)
    (dialogs / "modules").mkdir()
    for name, text in MODULES.items():
        (dialogs / "modules" / name).write_text(text, encoding="utf-8")
    own = Settings(
        database_url=f"sqlite:///{tmp_path / 'gain.db'}",
        dialogs_dir=dialogs,
        locales_dir=locales(dialogs, tmp_path / "locales"),
    )
    return on_backend(own, settings)


@pytest.fixture
async def app(gain_settings: Settings) -> AsyncIterator[App]:
    app = await App.create(gain_settings)
    try:
        yield app
    finally:
        await app.close()


# Within the chat stats' last 30 days: day 0 is 20 days ago, at midnight UTC.
DAY0 = (utcnow() - timedelta(days=20)).replace(hour=0, minute=0, second=0, microsecond=0)


def day(n: int, hour: int = 9) -> datetime:
    return DAY0 + timedelta(days=n, hours=hour)


class Learner(Chat):
    """A learner whose messages arrive at `at` (moved on a minute a message)."""

    def __init__(self, app: App, address: str, at: datetime):
        super().__init__(app, address=address)
        self.at = at

    async def send(self, text: str | None = None, payload: str | None = None, **extra: Any) -> list[Outbound]:
        self.at += timedelta(minutes=1)
        extra.setdefault("received_at", self.at)
        return await super().send(text, payload, **extra)

    async def pick(self, suffix: str) -> list[Outbound]:
        """Tap the button whose id ends with `.suffix`, whatever its place (they are shuffled)."""
        prompt = next(m for m in reversed(self.last) if m.choices)
        return await self.send(payload=next(c.id for c in prompt.choices if c.id.endswith(f".{suffix}")))


def answers(*right: bool) -> list[str]:
    return ["good" if r else "bad" for r in right]


async def take(chat: Learner, module: str, pre: tuple[bool, bool], post: tuple[bool, bool] | None) -> None:
    """Menu → Quizzes → the module: the two pre-test items, the five questions (all right), and the
    two items again (`post`; None: the learner leaves after the pre-test)."""
    await chat.send("menu")
    await chat.pick("quiz")
    await chat.pick(module)
    for option in answers(*pre):
        await chat.pick(option)
    if post is None:
        await chat.send("menu")
        return
    for option in answers(*[True] * 5, *post):
        await chat.pick(option)
    assert "is done." in chat.texts


async def learner(app: App, name: str, at: datetime, language: int = 3) -> Learner:
    chat = Learner(app, name, at)
    await chat.onboard(language=language)
    return chat


@pytest.fixture
async def taken(app: App) -> dict[str, int]:
    """Who answered what, before → after (share right of the two items):

    gain_a  L1 en club day 1   0 → 1    (and again on day 6: 1 → 1, which must not count)
            L2 en club day 5  .5 → 1
            L3 en club day 5   0 → .5
            L4 fr      day 1   1 → 1
            L5 fr      day 5  .5 → 0
            L6 en      day 5   1 → (left after the pre-test: not counted)
    gain_b  B1–B4 en   day 3   0 → 1    (four learners: hidden)

    All five: before (0 + .5 + 0 + 1 + .5) / 5 = .4, after (1 + 1 + .5 + 1 + 0) / 5 = .7,
    gain (1 + .5 + .5 + 0 - .5) / 5 = .3."""
    l1 = await learner(app, "gain-l1", day(1))
    await take(l1, "gain_a", (False, False), (True, True))
    l2 = await learner(app, "gain-l2", day(5))
    await take(l2, "gain_a", (True, False), (True, True))
    l3 = await learner(app, "gain-l3", day(5, 11))
    await take(l3, "gain_a", (False, False), (True, False))
    l4 = await learner(app, "gain-l4", day(1, 12), language=2)
    await take(l4, "gain_a", (True, True), (True, True))
    l5 = await learner(app, "gain-l5", day(5, 13), language=2)
    await take(l5, "gain_a", (False, True), (False, False))
    l6 = await learner(app, "gain-l6", day(5, 14))
    await take(l6, "gain_a", (True, True), None)
    l1.at = day(6)
    await take(l1, "gain_a", (True, True), (True, True))
    for n in range(4):
        b = await learner(app, f"gain-b{n}", day(3, 8 + n))
        await take(b, "gain_b", (False, False), (True, True))
    async with app.db.transaction() as conn:
        club = await insert_id(
            conn,
            "INSERT INTO clubs (code, name, district, language, created_at) "
            "VALUES ('GAINA', 'Huye Club', 'Huye', 'rw', ?)",
            (day(0).isoformat(),),
        )
        await conn.execute(
            "INSERT INTO memberships (club_id, user_id, joined_at) SELECT ?, id, ? FROM users "
            "WHERE address IN ('gain-l1', 'gain-l2', 'gain-l3')",
            (club, day(0).isoformat()),
        )
    return {"club": club}


def gain(module: str, learners: int, pre: float, post: float, change: float) -> dict[str, Any]:
    return {
        "module": module,
        "learners": learners,
        "pre": round(pre, 3),
        "post": round(post, 3),
        "gain": round(change, 3),
    }


async def test_the_engine_writes_what_the_gain_reads(app: App, taken: dict[str, int]) -> None:
    rows = await app.db.conn.execute_fetchall(
        "SELECT e.step_id, json_extract(e.data, '$.phase'), e.correct FROM events e "
        "JOIN users u ON u.pseudonym = e.actor WHERE u.address = 'gain-l5' AND e.type = 'pretest' "
        "ORDER BY e.id"
    )
    assert [tuple(r) for r in rows] == [
        ("q1", "pre", 0),
        ("q2", "pre", 1),
        ("q1", "post", 0),
        ("q2", "post", 0),
    ]


async def test_the_mean_gain_per_module_and_the_small_one_hidden(app: App, taken: dict[str, int]) -> None:
    conn = app.db.conn
    got = await stats.learning_gain(conn, stats.Filters())
    assert got == [gain("gain_a", 5, 0.4, 0.7, 0.3), gain("gain_b", 4, 0.0, 1.0, 1.0)]
    assert stats.present_gain(got) == [
        {"module": "gain_a", "learners": 5, "pre": 0.4, "post": 0.7, "gain": 0.3},
        {"module": "gain_b", "learners": "<5", "pre": "<5", "post": "<5", "gain": "<5"},
    ]
    assert (await stats.shown(conn, stats.Filters()))["learning_gain"] == stats.present_gain(got)


async def test_the_filters_pick_the_learners(app: App, taken: dict[str, int]) -> None:
    conn = app.db.conn

    async def of(f: stats.Filters) -> list[dict[str, Any]]:
        return [g for g in await stats.learning_gain(conn, f) if g["module"] == "gain_a"]

    assert await of(stats.Filters(language="fr")) == [gain("gain_a", 2, 0.75, 0.5, -0.25)]  # L4, L5
    assert await of(stats.Filters(club_ids=(taken["club"],))) == [gain("gain_a", 3, 0.5 / 3, 2.5 / 3, 2 / 3)]
    assert await of(stats.Filters(district="Huye", age_band="18_24")) == [
        gain("gain_a", 3, 0.5 / 3, 2.5 / 3, 2 / 3)
    ]
    assert await of(stats.Filters(age_band="u16")) == []
    # By the day of the answers after: L2, L3 and L5 from day 4 (L1's second try is not theirs to
    # count: their gain is that of their first answers, on day 1); L1 and L4 before it.
    assert await of(stats.Filters(since=day(4, 0))) == [gain("gain_a", 3, 1 / 3, 0.5, 0.5 / 3)]
    assert await of(stats.Filters(until=day(4, 0))) == [gain("gain_a", 2, 0.5, 1.0, 0.5)]
    assert await of(stats.Filters(channel="telegram")) == []
    assert await of(stats.Filters(club_ids=())) == []


async def test_stats_on_the_command_line(
    app: App, taken: dict[str, int], gain_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = dict(club=None, district=None, language=None, channel=None, age_band=None, since=None, until=None)
    assert await cli_stats.run(gain_settings, argparse.Namespace(command="stats", format="json", **args)) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["learning_gain"] == [
        {"module": "gain_a", "learners": 5, "pre": 0.4, "post": 0.7, "gain": 0.3},
        {"module": "gain_b", "learners": "<5", "pre": "<5", "post": "<5", "gain": "<5"},
    ]
    assert (
        await cli_stats.run(gain_settings, argparse.Namespace(command="stats", format="table", **args)) == 0
    )
    table = capsys.readouterr().out
    assert re.search(r"^learning_gain +gain_a\.gain +0\.3$", table, re.MULTILINE)
    assert re.search(r"^learning_gain +gain_b\.pre +<5$", table, re.MULTILINE)
    fr = dict(args, language="fr")
    assert await cli_stats.run(gain_settings, argparse.Namespace(command="stats", format="csv", **fr)) == 0
    assert "learning_gain,gain_a.learners,<5" in capsys.readouterr().out.splitlines()


async def test_stats_in_the_chat(app: App, taken: dict[str, int]) -> None:
    staff = Chat(app, "gain-staff")
    await staff.onboard()
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE users SET role = 'staff' WHERE address = 'gain-staff'")
    await staff.send("stats")
    text = staff.texts
    assert "Learning gain (the same questions, before → after):" in text
    assert "Listening first: 40% → 70%, +30 points (5 learners)" in text
    assert "Fair shares" not in text and "gain_" not in text  # hidden, and never an id


@pytest.fixture
async def web(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with app.db.transaction() as conn:
        await add_account(conn, "staff", PASSWORD, None, utcnow())
    transport = httpx.ASGITransport(app=build_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        assert (await login(client, "staff")).status_code == 303
        yield client


def gain_table(page: str) -> tuple[list[str], list[list[str]]]:
    found = re.search(r'<section id="gain">(.*?)</section>', page, re.DOTALL)
    assert found is not None
    heads = re.findall(r"<th>(.*?)</th>", found.group(1))
    rows = [
        [html.unescape(c) for c in re.findall(r"<td(?: colspan=\"3\")?>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.DOTALL)[1:]
    ]
    return [html.unescape(h) for h in heads], rows


async def test_the_dashboard_shows_the_table_in_english_and_french(
    app: App, taken: dict[str, int], web: httpx.AsyncClient
) -> None:
    en = (await web.get("/dashboard")).text
    heads, rows = gain_table(en)
    assert heads == ["Module", "Learners (both times)", "Right answers before", "Right answers after", "Gain"]
    # "Fair shares" comes first by title, but too few learners took it: it goes last.
    assert rows == [
        ["Listening first", "5", "40%", "70%", "+30 points"],
        ["Fair shares", "<5", "too few learners"],
    ]

    fr = (await web.get("/dashboard?lang=fr")).text
    heads, rows = gain_table(fr)
    assert heads == [
        "Module",
        "Apprenants (les deux fois)",
        "Bonnes réponses avant",
        "Bonnes réponses après",
        "Progrès",
    ]
    too_few = app.engine.catalogs.gettext("fr", "too few learners")
    assert too_few != "too few learners"
    assert rows == [
        ["Écouter d'abord", "5", "40\N{NO-BREAK SPACE}%", "70\N{NO-BREAK SPACE}%", "+30 points"],
        ["Partager juste", "<5", too_few],
    ]
    assert "Progrès (les mêmes questions, avant et après)" in html.unescape(fr)

    # The filters of the page apply: the club's three learners are too few to show.
    _, rows = gain_table((await web.get("/dashboard?club=GAINA")).text)
    assert rows == [["Listening first", "<5", "too few learners"]]
    _, rows = gain_table((await web.get("/dashboard?language=fr&lang=en")).text)
    assert rows == [["Listening first", "<5", "too few learners"]]
    # No learner is named, nor their pseudonym.
    pseudonyms = [r[0] for r in await app.db.conn.execute_fetchall("SELECT pseudonym FROM users")]
    assert all(p not in en for p in pseudonyms) and "gain-l1" not in en
    # The CSV has the figures too, with the same suppression.
    csv = (await web.get("/dashboard.csv")).text.splitlines()
    assert "learning_gain,gain_a.gain,0.3" in csv and "learning_gain,gain_b.gain,<5" in csv


async def test_the_dashboard_says_when_there_is_no_gain_yet(app: App, web: httpx.AsyncClient) -> None:
    found = re.search(r'<section id="gain">(.*?)</section>', (await web.get("/dashboard")).text, re.DOTALL)
    assert found is not None and "<table>" not in found.group(1)
    assert "No learner has answered a module&#39;s questions both before and after yet." in found.group(1)


async def test_the_demo_data_shows_the_gain_follows_routes_and_retries(app: App) -> None:
    content = app.engine.content
    async with app.db.exclusive() as conn:
        await repo.in_thread(conn, demo.seed, 300, utcnow(), 60, 7, content)
    conn = app.db.conn

    async def query(sql: str) -> list[tuple]:
        return [tuple(r) for r in await conn.execute_fetchall(sql)]

    shown = (await stats.shown(conn, stats.Filters()))["learning_gain"]
    assert [g["module"] for g in shown] == ["gain_a", "gain_b"]
    for g in shown:
        assert g["learners"] >= 30 and 0.1 <= g["gain"] <= 0.5 and g["post"] > g["pre"], g
    # Every pair of a learner's pre and post answers is of the module's pre-test items.
    assert await query(
        "SELECT DISTINCT dialog_id, step_id, json_extract(data, '$.phase') FROM events "
        "WHERE type = 'pretest' ORDER BY 1, 2, 3"
    ) == [(m, q, p) for m in ("gain_a", "gain_b") for q in ("q1", "q2") for p in ("post", "pre")]

    # The exercise's ending is the one its route picks for the choices made.
    exercise = content.get("gain_route")
    assert exercise is not None
    route = exercise.step("which")
    assert isinstance(route, RouteStep)
    endings = await query(
        "SELECT json_extract(data, '$.ending'), score FROM events "
        "WHERE type = 'module_completed' AND dialog_id = 'gain_route'"
    )
    assert {e for e, _ in endings} == {"end_good", "end_hard"}
    assert all(ending == route.pick(score) for ending, score in endings)
    for module in ("gain_a", "gain_b"):
        [end] = [s.id for s in content.dialogs[module].steps if isinstance(s, EndStep)]
        assert await query(
            "SELECT DISTINCT json_extract(data, '$.ending') FROM events "
            f"WHERE type = 'module_completed' AND dialog_id = '{module}'"
        ) == [(end,)]

    # Retries after a failed quiz: the score adds what the retry got right, and passes as a quiz does.
    retries = await query(
        # JSON numbers as integers on both backends (json_extract gives text on PostgreSQL).
        "SELECT CAST(json_extract(data, '$.correct') AS INTEGER), "
        "CAST(json_extract(data, '$.total') AS INTEGER), score, max_score, passed "
        "FROM events WHERE type = 'quiz_retry_completed'"
    )
    assert retries and any(passed for *_, passed in retries) and not all(passed for *_, passed in retries)
    for got, total, score, max_score, passed in retries:
        assert max_score == 5 and 0 <= got <= total and score <= max_score
        assert passed == (score >= 3)
    retried = await query("SELECT COUNT(*) FROM events WHERE type = 'quiz_answer' AND retry = 1")
    assert retried[0][0] == sum(total for _, total, *_ in retries)
