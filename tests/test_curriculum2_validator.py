"""Curriculum 2.0 validator rules: each broken fixture is rejected, naming its file, step and field
(and language where it is about a translation); the valid fixtures pass every rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import bot.learning.rubric  # noqa: F401  (registers the model-answer rule, as the bot's domains do)
from bot.content.curriculum import Curriculum
from bot.content.loader import content_stats, load_content
from bot.i18n import Catalogs
from tests.fixtures.curriculum2.support import HERE, check, fixture_dialogs, locales_for

BROKEN = [
    # file, step, field, language, words of the message
    ("answer_word_explanation.yaml", "q2", "options.what.explanation", "en", "answer word 'Yes'"),
    ("answer_word_feedback.yaml", "first", "choices.talk.feedback", "en", "answer word 'Right'"),
    ("answer_word_translation.yaml", "practice", "rubric.0.feedback", "fr", "answer word 'Bravo'"),
    ("lecture.yaml", "card3", "type", None, "3 say steps in a row"),
    ("short_quiz.yaml", None, "steps", None, "at least 5 questions"),
    ("model_answer_en.yaml", "practice", "model_answer", "en", "earns no positive rubric rule"),
    ("model_answer_rw.yaml", "practice", "model_answer", "rw", "earns no positive rubric rule"),
    ("theme_missing.yaml", None, "theme", None, "needs a theme"),
    ("theme_unknown.yaml", None, "theme", None, "'cooking' is not a theme"),
    ("pretest.yaml", "end", "pretest.1", None, "is not a question step"),
    ("route_order.yaml", "which_end", "routes.1.min_score", None, "never taken"),
    ("route_target.yaml", "which_end", "routes.0.next", None, "'end_best' does not exist"),
    ("route_loop.yaml", "again", None, None, "a loop with no question in it"),
]


def test_the_valid_fixtures_pass_every_rule(tmp_path: Path) -> None:
    errors = check(tmp_path, "valid/branching.yaml", "valid/pretest_quiz.yaml")
    assert [str(e) for e in errors] == []


@pytest.mark.parametrize(("name", "step", "field", "lang", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_fixture_is_rejected_where_it_breaks(
    tmp_path: Path, name: str, step: str | None, field: str | None, lang: str | None, words: str
) -> None:
    errors = check(tmp_path, f"broken/{name}")
    found = [e for e in errors if words in e.message and e.lang == lang]
    assert found, [str(e) for e in errors]
    e = found[0]
    assert (e.file, e.step, e.field) == (f"curriculum2/broken/{name}", step, field), str(e)
    text = str(e)
    assert name in text and (step is None or f"step '{step}'" in text)
    assert (field is None or f"field '{field}'" in text) and (lang is None or f"language '{lang}'" in text)
    # One fault per fixture (the fixtures' fr and rw are their English, so an English fault shows
    # in every language): nothing else is wrong with it.
    assert {(x.step, x.field) for x in errors} == {(step, field)}, [str(x) for x in errors]


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Yes. Stopping the shouting protects the children.", "Yes"),
        ("Not quite: a demand is a position.", "Not quite"),
        ("« Exact ! » L'intérêt est la raison.", "Exact"),
        ("Pas tout a fait : c'est une position.", "Pas tout à fait"),
        ("Ni byo, kuko ...", "Ni byo"),
        ("Wabikoze neza!", "Wabikoze neza"),
        ("No one may be forced to join.", None),
        ("Right to vote: every adult citizen has it.", None),
        ("Nobody decides for you.", None),
        ("Non-violence starts with listening.", None),
        ("Ntabwo ari byo bituma...", None),
    ],
)
def test_an_answer_word_is_a_verdict_only_when_punctuation_follows(text: str, word: str | None) -> None:
    assert Curriculum.load().opening_answer_word(text) == word


def test_the_cli_runs_the_registered_model_answer_rule(tmp_path: Path) -> None:
    # `content check` loads the domains, so the learning package's rule is part of it.
    dialogs = tmp_path / "dialogs"
    (dialogs / "modules").mkdir(parents=True)
    (dialogs / "modules/m.yaml").write_text((HERE / "broken/model_answer_en.yaml").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "content", "check"],
        capture_output=True,
        text=True,
        env={"DIALOGS_DIR": str(dialogs), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "step 'practice', field 'model_answer', language 'en'" in proc.stderr, proc.stderr


def test_content_stats_count_branches_pretest_items_and_themes(tmp_path: Path) -> None:
    names = ["valid/branching.yaml", "valid/pretest_quiz.yaml", "valid/plain_quiz.yaml"]
    catalogs = Catalogs.load(locales_for(fixture_dialogs(*names), tmp_path / "locales"))
    content, errors = load_content(HERE, catalogs, files=[HERE / n for n in names])
    assert errors == []
    stats = content_stats(content, catalogs)
    assert stats["branches"] == 1  # the water point's first choice; the quizzes have none
    assert stats["pretest_items"] == 2
    themes = stats["modules_per_theme"]
    assert themes["community"] == 1 and themes["negotiation"] == 2 and themes["healing"] == 0
    assert set(themes) == set(Curriculum.load().themes)
