"""The command line as a new user meets it: help, the piped console, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import Settings
from bot.content.loader import load_content
from bot.i18n import Catalogs


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}


def bot(*args: str, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        cwd=tmp_path,
        timeout=60,
    )


def test_help_lists_the_subcommands(tmp_path: Path) -> None:
    out = bot("--help", tmp_path=tmp_path).stdout
    for command in ("console", "run", "content", "db", "i18n"):
        assert command in out


def test_piped_console_is_scriptable(tmp_path: Path) -> None:
    catalogs = Catalogs.load(Settings().locales_dir)
    content, _ = load_content(Settings().dialogs_dir, catalogs)
    quiz = content.get("interests_positions")
    assert quiz is not None
    # The right answers typed as their French words: the learner's shuffle decides their numbers.
    answers = [
        catalogs.gettext("fr", o.label, f"{quiz.id}/{q.id}/options.{o.id}.label")
        for q in quiz.questions
        for o in q.options
        if o.id == q.correct
    ]
    # French → 18–24 → agree → Quizzes → the first quiz → every answer right
    script = "".join(f"{line}\n" for line in ("hello", "2", "3", "1", "2", "1", *answers))
    proc = bot("console", "--user", "amina", tmp_path=tmp_path, stdin=script)
    assert proc.returncode == 0, proc.stderr
    assert "Choisis ta langue" in proc.stdout
    total = len(quiz.questions)
    assert f"{total} sur {total}" in proc.stdout, proc.stdout[-800:]
    assert proc.stdout.count("you> ") == 6 + total


def test_bad_cli_arguments_are_explained(tmp_path: Path) -> None:
    proc = bot("db", "explode", tmp_path=tmp_path)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "db", "migrate"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": "mysql://nope"},
        timeout=60,
    )
    assert proc.returncode == 2 and "DATABASE_URL" in proc.stderr


def test_db_migrate_and_backup(tmp_path: Path) -> None:
    assert bot("db", "migrate", tmp_path=tmp_path).returncode == 0
    proc = bot("db", "backup", str(tmp_path / "copy.db"), tmp_path=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "copy.db").stat().st_size > 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_killed_mid_dialog_resumes_at_the_same_step(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--user", "keza"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(tmp_path),
        cwd=tmp_path,
    )
    assert proc.stdin and proc.stdout
    for line in ("hi", "3", "3", "1", "2", "1", "1"):  # English, 18–24, agree → the quiz → answer 1
        proc.stdin.write(line + "\n")
    proc.stdin.flush()
    seen = ""
    deadline = time.monotonic() + 30
    while "Two villages" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    assert "Two villages" in seen
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    # A new process, the same database: the learner is still at question 2.
    out = bot("console", "--user", "keza", tmp_path=tmp_path, stdin="Why Saturday?\n").stdout
    assert "Right!" in out and "Which is a good option for mutual gain?" in out
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'bot.db'}")
    import sqlite3

    with sqlite3.connect(settings.database_path) as conn:
        assert conn.execute("SELECT step_id FROM dialog_state").fetchone() == ("q3",)


def test_outbox_status_shows_held_reasons_without_addresses_and_retry_held_requeues(tmp_path: Path) -> None:
    bot("console", tmp_path=tmp_path, stdin="hello\n")
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.db") as db:
        db.execute("UPDATE outbox SET status = 'held', error = 'needs template: invitation in rw'")
    out = bot("outbox", "status", tmp_path=tmp_path).stdout
    assert "held" in out and "needs template: invitation in rw" in out
    assert "console:" not in out and "local" not in out  # no address is printed
    assert "queued 1 held message(s) again" in bot("outbox", "retry-held", tmp_path=tmp_path).stdout
    with sqlite3.connect(tmp_path / "bot.db") as db:
        assert db.execute("SELECT status FROM outbox").fetchall() == [("queued",)]


def test_club_and_reminder_settings_are_checked_with_a_clear_message(tmp_path: Path) -> None:
    unknown = bot("clubs", "create", "--name", "X", "--district", "Atlantis", tmp_path=tmp_path)
    assert unknown.returncode == 2 and "Huye" in unknown.stderr and "Atlantis" in unknown.stderr
    ok = bot("clubs", "create", "--name", "X", "--district", "huye", tmp_path=tmp_path)
    assert ok.returncode == 0 and "(Huye)" in ok.stdout  # spelled as in the list
    env = {**env_for(tmp_path), "SESSION_REMINDERS": "24,soon"}
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "clubs", "list"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "SESSION_REMINDERS" in bad.stderr


def test_stats_and_export_carry_no_names_or_numbers(tmp_path: Path) -> None:
    bot("console", "--user", "Amina Uwase", tmp_path=tmp_path, stdin="hello\n3\n3\n1\n2\n1\n1\n2\n1\n")
    table = bot("stats", tmp_path=tmp_path).stdout
    assert "signups" in table and "<5" in table  # one learner: shown as <5
    as_json = json.loads(bot("stats", "--format", "json", tmp_path=tmp_path).stdout)
    assert as_json["signups"] == "<5" and as_json["funnel"][0]["module"] == "interests_positions"
    as_csv = bot("stats", "--format", "csv", "--language", "en", tmp_path=tmp_path).stdout
    assert as_csv.splitlines()[0] == "metric,key,value"
    export = bot("export", "events", "--since", "2020-01-01", tmp_path=tmp_path).stdout
    assert export.splitlines()[0].startswith("at,learner,type") and len(export.splitlines()) > 10
    for output in (table, as_csv, export, json.dumps(as_json)):
        assert "Amina" not in output and "Uwase" not in output
    bad = bot("stats", "--club", "NOPE9", tmp_path=tmp_path)
    assert bad.returncode == 2 and "no club" in bad.stderr
