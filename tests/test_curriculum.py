"""Walk every module of the real curriculum to its end, in every language, through the engine.

Each module is walked once per option position (always the 1st choice, always the 2nd, ...),
so every choice and every quiz option is taken at least once, and every free-text practice
gets each of its rubric answers and one that matches nothing. The walk fails on a dead end,
on English left in a French or Kinyarwanda message, on a message over 1,600 characters, and
on a button label over 20 characters.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.content.loader import load_content
from bot.content.models import ChoicesStep, Dialog, FreeTextStep, QuestionStep
from bot.i18n import LANGUAGES, Catalogs
from bot.learning.screens import KIND_LABELS
from bot.messages import Outbound
from tests.conftest import Chat, on_backend

REAL = Settings()
CONTENT, ERRORS = load_content(REAL.dialogs_dir, Catalogs.load(REAL.locales_dir))
MODULES = sorted(
    (d for d in CONTENT.dialogs.values() if d.kind != "system"), key=lambda d: (d.kind, d.order, d.id)
)
MAX_STEPS = 80


def test_the_real_curriculum_is_valid() -> None:
    assert ERRORS == []
    assert MODULES


def branching(d: Dialog) -> int:
    """How many walks cover every option of every step."""
    widths = [1]
    for step in d.steps:
        if isinstance(step, ChoicesStep):
            widths.append(len(step.choices))
        elif isinstance(step, QuestionStep):
            widths.append(len(step.options))
        elif isinstance(step, FreeTextStep):
            widths.append(len(step.rubric) + 1)
    return max(widths)


def english_fragments(d: Dialog) -> list[str]:
    """Source texts long enough that finding one in a translated message means it was not translated."""
    return [text for _, _, text in d.texts() if len(re.sub(r"[^A-Za-z]", "", text)) >= 12]


def check(messages: list[Outbound], lang: str, english: list[str], where: str) -> None:
    for m in messages:
        assert len(m.text) <= 1600, f"{where}: a message of {len(m.text)} characters"
        for c in m.choices:
            assert len(c.label) <= 20, f"{where}: button {c.label!r} is over 20 characters"
        if lang != "en":
            for source in english:
                assert source not in m.text, f"{where}: untranslated in {lang}: {source[:60]!r}"


async def completions(app: App, dialog_id: str) -> int:
    sql = "SELECT COUNT(*) FROM events WHERE type = 'module_completed' AND dialog_id = ?"
    async with app.db.conn.execute(sql, (dialog_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
async def real_app(tmp_path: Path, settings: Settings) -> App:
    app = await App.create(on_backend(Settings(database_url=f"sqlite:///{tmp_path / 'walk.db'}"), settings))
    yield app
    await app.close()


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_module_walks_to_its_end_in_every_language(real_app: App, lang: str) -> None:
    tr = real_app.engine.catalogs.gettext
    chat = Chat(real_app, address=f"walker-{lang}")
    await chat.onboard(language=LANGUAGES.index(lang) + 1)
    for d in MODULES:
        english = english_fragments(d)
        title = tr(lang, d.title, f"{d.id}/meta/title")
        for k in range(branching(d)):
            where = f"{d.id} [{lang}, walk {k + 1}]"
            before = await completions(real_app, d.id)
            await chat.send("menu")
            await chat.tap(tr(lang, KIND_LABELS[d.kind]))
            check(await chat.tap(title), lang, english, where)
            for _ in range(MAX_STEPS):
                if await completions(real_app, d.id) > before:
                    break
                at = await current_step(real_app, chat.address) or ""
                step = d.step(at)
                if isinstance(step, FreeTextStep):
                    # Each rubric answer once; the last walk matches no keyword (the fallback).
                    answer = step.rubric[k].keywords[lang][0] if k < len(step.rubric) else "mmm"
                    check(await chat.send(answer), lang, english, f"{where} at {at}")
                    continue
                prompt = next((m for m in reversed(chat.last) if m.choices), None)
                assert prompt is not None, f"{where}: dead end at step {at}"
                choice = prompt.choices[min(k, len(prompt.choices) - 1)]
                check(await chat.send(payload=choice.id), lang, english, f"{where} at {at}")
            else:
                pytest.fail(f"{where}: no end after {MAX_STEPS} answers")


async def current_step(app: App, address: str) -> str | None:
    sql = (
        "SELECT s.step_id FROM dialog_state s JOIN users u ON u.id = s.user_id "
        "WHERE u.channel = 'console' AND u.address = ?"
    )
    async with app.db.conn.execute(sql, (address,)) as cur:
        row = await cur.fetchone()
    return row[0] if row else None


EXERCISES = [d for d in MODULES if d.kind == "exercise"]


def test_every_exercise_branches() -> None:
    for d in EXERCISES:
        assert any(isinstance(s, ChoicesStep) and len({c.next for c in s.choices}) >= 2 for s in d.steps), (
            f"{d.id}: every choice leads to the same next step"
        )


@pytest.mark.parametrize("d", EXERCISES, ids=[d.id for d in EXERCISES])
async def test_the_best_and_the_poorest_path_end_differently_in_rw(real_app: App, d: Dialog) -> None:
    # The acceptance journey: a Kinyarwanda learner on two paths gets two different endings.
    tr = real_app.engine.catalogs.gettext
    endings = []
    for path, pick in (("best", max), ("poorest", min)):
        chat = Chat(real_app, address=f"{d.id}-{path}")
        await chat.onboard(language=LANGUAGES.index("rw") + 1)
        await chat.tap(tr("rw", KIND_LABELS[d.kind]))
        await chat.tap(tr("rw", d.title, f"{d.id}/meta/title"))
        for _ in range(MAX_STEPS):
            if await completions_of(real_app, d.id, chat.address):
                break
            step = d.step(await current_step(real_app, chat.address) or "")
            if isinstance(step, FreeTextStep):
                await chat.send("mmm")
                continue
            prompt = next(m for m in reversed(chat.last) if m.choices)
            if isinstance(step, ChoicesStep):
                chosen = pick(step.choices, key=lambda c: c.score).id
                await chat.send(payload=next(c.id for c in prompt.choices if c.id.endswith(f".{chosen}")))
            else:
                await chat.send(payload=prompt.choices[0].id)
        endings.append(await ending_of(real_app, d.id, chat.address))
    assert endings[0] != endings[1], (
        f"{d.id}: the same ending {endings[0]!r} on the best and the poorest path"
    )


async def completions_of(app: App, dialog_id: str, address: str) -> int:
    sql = (
        "SELECT COUNT(*) FROM events e JOIN users u ON u.pseudonym = e.actor "
        "WHERE e.type = 'module_completed' AND e.dialog_id = ? AND u.address = ?"
    )
    async with app.db.conn.execute(sql, (dialog_id, address)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def ending_of(app: App, dialog_id: str, address: str) -> str | None:
    sql = (
        "SELECT json_extract(e.data, '$.ending') FROM events e JOIN users u ON u.pseudonym = e.actor "
        "WHERE e.type = 'module_completed' AND e.dialog_id = ? AND u.address = ? ORDER BY e.id DESC"
    )
    async with app.db.conn.execute(sql, (dialog_id, address)) as cur:
        row = await cur.fetchone()
    return row[0] if row else None
