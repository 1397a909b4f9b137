"""The content validator names the file, the step and the field or language of every error."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, Settings
from bot.content.loader import load_content
from bot.i18n import Catalogs

CATALOGS = Catalogs.load(PROJECT_ROOT / "locales")


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / "dialogs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def check(tmp_path: Path, catalogs: Catalogs = CATALOGS) -> list[str]:
    _, errors = load_content(tmp_path / "dialogs", catalogs)
    return [str(e) for e in errors]


def test_the_shipped_content_is_valid() -> None:
    settings = Settings()
    content, errors = load_content(settings.dialogs_dir, CATALOGS)
    assert errors == []
    assert {"exercise", "quiz", "lesson"} <= {d.kind for d in content.dialogs.values()}


def test_broken_next_names_file_step_and_field(tmp_path: Path) -> None:
    # A real dialog with one `next` pointing nowhere.
    src = (PROJECT_ROOT / "dialogs/quizzes/interests_positions.yaml").read_text()
    write(tmp_path, "quiz.yaml", src.replace("next: q3", "next: q33"))
    errors = check(tmp_path)
    assert any(
        "quiz.yaml" in e and "step 'q2'" in e and "field 'next'" in e and "'q33' does not exist" in e
        for e in errors
    ), errors


def test_missing_rw_translation_names_file_step_and_language(tmp_path: Path) -> None:
    src = (PROJECT_ROOT / "dialogs/quizzes/interests_positions.yaml").read_text()
    changed = src.replace("Which is a good option for mutual gain?", "Which option lets both sides gain?")
    write(tmp_path, "quiz.yaml", changed)
    errors = check(tmp_path)
    assert any("step 'q3'" in e and "field 'text'" in e and "language 'rw'" in e for e in errors), errors
    assert any("step 'q3'" in e and "language 'fr'" in e for e in errors)
    # the untouched steps stay translated
    assert not any("step 'q1'" in e and "missing translation" in e for e in errors)


MINIMAL = """\
id: sample
kind: exercise
title: Sample
steps:
{steps}
"""


def minimal(tmp_path: Path, steps: str) -> list[str]:
    write(tmp_path, "sample.yaml", MINIMAL.format(steps=textwrap.indent(textwrap.dedent(steps), "  ")))
    # An English-only catalog set: translations are not what these tests are about.
    return [e for e in check(tmp_path) if "missing translation" not in e]


def test_unreachable_and_dead_end_steps(tmp_path: Path) -> None:
    errors = minimal(
        tmp_path,
        """
        - id: a
          type: choices
          text: Pick
          choices:
            - {id: x, label: Loop, next: b}
            - {id: y, label: End, next: end}
        - id: b
          type: say
          text: Around we go
          next: a
        - id: island
          type: say
          text: Nobody comes here
          next: end
        - id: end
          type: end
          text: Bye
        """,
    )
    assert any("step 'island'" in e and "unreachable" in e for e in errors), errors
    assert not any("dead end" in e for e in errors)

    errors = minimal(
        tmp_path,
        """
        - id: a
          type: say
          text: One
          next: b
        - id: b
          type: say
          text: Two
          next: a
        - id: end
          type: end
          text: Bye
        """,
    )
    assert any("step 'a'" in e and "dead end" in e for e in errors), errors


def test_duplicate_ids_long_labels_and_wrong_correct_option(tmp_path: Path) -> None:
    errors = minimal(
        tmp_path,
        """
        - id: q
          type: question
          text: Which?
          correct: zz
          next: q
          options:
            - {id: a, label: A label that is far too long, explanation: Because}
            - {id: a, label: B, explanation: Because}
        - id: q
          type: end
          text: Bye
        """,
    )
    assert any("step 'q'" in e and "field 'id'" in e and "duplicate step id" in e for e in errors), errors
    assert any("field 'options.a'" in e and "duplicate option id" in e for e in errors)
    assert any("field 'correct'" in e for e in errors)
    label_errors = [e for e in check(tmp_path) if "button label" in e]
    assert label_errors and "language 'en'" in label_errors[0] and "over 20" in label_errors[0]


def test_schema_errors_name_the_step_and_field(tmp_path: Path) -> None:
    errors = minimal(
        tmp_path,
        """
        - id: ok
          type: choices
          text: Pick
          choices:
            - {id: a, label: A}
        - id: end
          type: end
          text: Bye
        """,
    )
    assert any("step 'ok'" in e and "field 'choices.0.next'" in e for e in errors), errors


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "broken.yaml", "id: x\nsteps: [\n  - a: b\n")
    errors = check(tmp_path)
    assert len(errors) == 1 and "broken.yaml" in errors[0] and "line" in errors[0]


@pytest.mark.parametrize("broken", ["next", "translation"])
def test_content_check_cli_exits_non_zero(tmp_path: Path, broken: str) -> None:
    shutil.copytree(PROJECT_ROOT / "dialogs", tmp_path / "dialogs")
    quiz = tmp_path / "dialogs/quizzes/interests_positions.yaml"
    src = quiz.read_text()
    quiz.write_text(
        src.replace("next: q3", "next: nowhere")
        if broken == "next"
        else src.replace("What question helps most?", "Which question helps most?")
    )
    env = {"DIALOGS_DIR": str(tmp_path / "dialogs"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "content", "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "interests_positions.yaml" in proc.stderr and "step 'q2'" in proc.stderr
    assert ("nowhere" in proc.stderr) if broken == "next" else ("language 'rw'" in proc.stderr)

    # The bot refuses to start on the same content.
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and "will not start" in proc.stderr


def test_content_stats_json() -> None:
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "bot", "content", "stats", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    stats = json.loads(proc.stdout)
    assert stats["exercises"] >= 1 and stats["quizzes"] >= 1 and stats["lessons"] >= 1
    assert stats["quiz_questions"] >= 3
    assert stats["branches"] >= 0 and stats["pretest_items"] >= 0
    assert set(stats["modules_per_theme"]) >= {"dialogue", "negotiation", "healing", "elections"}
    for lang in ("rw", "fr", "en"):
        assert stats["languages"][lang]["translated"] == stats["languages"][lang]["total"] > 0
