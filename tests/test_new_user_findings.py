"""What new users tripped over (issue "Everything a new user tripped over"), each seen first as a
failing test: words instead of codes, a greeting in the learner's language, a menu that says
why after consent is declined, a scene shown again on resuming."""

from __future__ import annotations

import re

from bot.app import App
from bot.content.models import context
from tests.conftest import Chat

CODES = re.compile(r"\b(u16|16_17|18_24|25p|guardian_pending|guardian_given|declined)\b|: (rw|fr|en)$", re.M)


async def test_mydata_shows_words_not_codes(app: App) -> None:
    for lang, age, consent, expect in (
        (3, 3, 1, ("English", "18–24", "given")),
        (2, 1, 2, ("Français", "Moins de 16 ans", "en attente")),
    ):
        chat = Chat(app, f"words-{lang}")
        await chat.onboard(language=lang, age=age, consent=consent)
        await chat.send("mydata")
        summary = chat.last[0].text
        assert not CODES.search(summary), summary
        for word in expect:
            assert word.casefold() in summary.casefold(), (word, summary)


async def test_the_chat_stats_name_the_question_not_its_id(app: App) -> None:
    for n in range(6):
        learner = Chat(app, f"quiz-{n}")
        await learner.onboard()
        await learner.tap("Quizzes")
        await learner.tap(1)
        await learner.answer(right=False)  # the first question, always missed: the hardest
        for _ in range(2):
            await learner.answer()
    staff = Chat(app, "staff-1")
    await staff.onboard()
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE users SET role = 'staff' WHERE address = 'staff-1'")
    await staff.send("stats")
    text = staff.texts
    assert "Hardest question" in text
    assert not re.search(r"interests_positions/q\d", text)
    assert "Two brothers argue over one field" in text and "%" in text


async def test_the_greeting_is_in_the_language_of_the_first_words(app: App) -> None:
    welcome = app.engine.content.get("welcome")
    assert welcome is not None
    first = welcome.step(welcome.first_step)
    for said, lang in (("Muraho!", "rw"), ("bonjour", "fr"), ("hello", "en")):
        chat = Chat(app, f"greet-{lang}")
        replies = await chat.send(said)
        expected = app.engine.catalogs.gettext(lang, first.text, context("welcome", first.id, "text"))
        assert replies[0].text.startswith(expected)
        assert [c.label for c in replies[-1].choices] == ["Ikinyarwanda", "Français", "English"]


async def test_after_declining_consent_the_menu_says_what_is_open_and_why(app: App) -> None:
    chat = Chat(app, "declined")
    replies = await chat.onboard(consent=2)
    menu = replies[-1]
    assert [c.label for c in menu.choices] == ["Lessons"]
    assert "Quizzes: test" not in menu.text and "privacy" in menu.text


async def test_continue_after_a_change_of_language_shows_the_scene_again(app: App) -> None:
    chat = Chat(app, "resume")
    await chat.onboard()
    await chat.tap("Exercises")
    await chat.tap(1)  # the water point: a scene, then the first question
    await chat.send("language")
    await chat.tap("Français")
    await chat.tap("Continuer ▶")
    d = app.engine.content.get("water_point")
    assert d is not None
    tr = app.engine.catalogs.gettext
    scene = tr("fr", d.step("scene").text, context("water_point", "scene", "text"))
    question = tr("fr", d.step("position").text, context("water_point", "position", "text"))
    assert scene in chat.texts and question in chat.texts
    assert chat.texts.index(scene) < chat.texts.index(question)


def test_the_readme_points_only_at_files_in_the_repository() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme
    for path in re.findall(r"`((?:docs|config|bench|dialogs)/[\w./-]+\.(?:md|yaml|py))`", readme):
        assert (root / path).is_file(), path
