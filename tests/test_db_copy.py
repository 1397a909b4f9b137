"""`db copy --to postgresql://…`: a SQLite database filled by `demo-data` arrives whole in
PostgreSQL (every table, every row, the trigger-kept totals as they were), re-running gives the
same copy, and a target that workers already write to is not overwritten unless forced."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.storage.copy import CopyRefused, copy_to_postgres
from bot.storage.schema import describe_sqlite
from tests.run_bot import run_bot
from tests.test_postgres_schema import new_database


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("copy") / "bot.db"
    done = run_bot("demo-data", "--users", "120", env=os.environ | {"DATABASE_URL": f"sqlite:///{path}"})
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def target() -> Iterator[str]:
    with new_database() as url:
        yield url


def rows_of(conn: Any, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    names = ", ".join(f'"{c}"' for c in columns)
    return sorted(tuple(r) for r in conn.execute(f'SELECT {names} FROM "{table}"').fetchall())


def test_every_row_arrives_and_a_rerun_gives_the_same_copy(source: Path, target: str) -> None:
    copied = copy_to_postgres(source, target, say=lambda _: None)
    with sqlite3.connect(source) as lite:
        tables = describe_sqlite(lite).tables
        assert set(copied.tables) == set(tables)
        assert copied.tables["events"] > 1000 and copied.tables["users"] >= 120
        with psycopg.connect(target) as pg:
            for name, table in tables.items():
                columns = [c for c in table.columns if not table.columns[c].generated]
                mine = [
                    tuple(str(v) if v is not None else None for v in r) for r in rows_of(lite, name, columns)
                ]
                theirs = [
                    tuple(str(v) if v is not None else None for v in r) for r in rows_of(pg, name, columns)
                ]
                assert len(theirs) == len(mine), name
                assert sorted(theirs) == sorted(mine), name  # the kept totals too, not counted twice
    again = copy_to_postgres(source, target, say=lambda _: None)
    assert again.tables == copied.tables


def test_new_rows_in_postgres_take_the_next_ids(source: Path, target: str) -> None:
    copy_to_postgres(source, target, say=lambda _: None)
    with psycopg.connect(target) as pg:
        (top,) = pg.execute("SELECT MAX(id) FROM users").fetchone()
        (new,) = pg.execute(
            "INSERT INTO users (channel, address, pseudonym, created_at) "
            "VALUES ('console', 'after-copy', 'u_after', '2030-01-01T00:00:00') RETURNING id"
        ).fetchone()
        assert new == top + 1


def test_a_target_with_newer_activity_is_not_overwritten_unless_forced(source: Path, target: str) -> None:
    copy_to_postgres(source, target, say=lambda _: None)
    with psycopg.connect(target) as pg:
        pg.execute(
            "UPDATE users SET last_inbound_at = '2099-01-01T00:00:00' WHERE id = (SELECT MIN(id) FROM users)"
        )
    with pytest.raises(CopyRefused, match="newer than the SQLite database"):
        copy_to_postgres(source, target, say=lambda _: None)
    copy_to_postgres(source, target, force=True, say=lambda _: None)
    with psycopg.connect(target) as pg:
        assert pg.execute("SELECT COUNT(*) FROM users WHERE last_inbound_at >= '2099'").fetchone() == (0,)


def test_a_missing_source_or_an_unreachable_server_is_explained(tmp_path: Path, source: Path) -> None:
    with pytest.raises(CopyRefused, match="no SQLite database"):
        copy_to_postgres(tmp_path / "nothing.db", "postgresql://127.0.0.1:1/none", say=lambda _: None)
    with pytest.raises(CopyRefused, match="cannot reach PostgreSQL"):
        copy_to_postgres(
            source, "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", say=lambda _: None
        )


def test_the_command_line_copies_and_explains_a_wrong_url(source: Path, target: str) -> None:
    env = os.environ | {"DATABASE_URL": f"sqlite:///{source}"}
    parts = psycopg.conninfo.conninfo_to_dict(target)
    auth = f"{parts.get('user', '')}:{parts['password']}" if parts.get("password") else parts.get("user", "")
    url = f"postgresql://{auth}@{parts.get('host', '127.0.0.1')}:{parts.get('port', 5432)}/{parts['dbname']}"
    done = run_bot("db", "copy", "--to", url, env=env)
    assert done.returncode == 0, done.stderr
    assert "counts verified" in done.stdout and "events: " in done.stdout
    # The operator's figures, the same on both backends: every metric, every module, by week.
    for args in (("stats", "--format", "json"), ("stats", "--format", "csv", "--since", "2000-01-01")):
        lite, pg = run_bot(*args, env=env), run_bot(*args, env=env | {"DATABASE_URL": url})
        assert lite.returncode == 0 and pg.returncode == 0, (lite.stderr, pg.stderr)
        assert pg.stdout == lite.stdout and len(lite.stdout) > 200
    wrong = run_bot("db", "copy", "--to", "mysql://nope", env=env)
    assert wrong.returncode != 0 and "not a postgresql:// URL" in wrong.stderr
