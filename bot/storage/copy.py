"""`python -m bot db copy --to postgresql://…`: move a SQLite deployment to PostgreSQL.

The source may be live: the copy reads a snapshot taken with SQLite's online backup, so the bot
keeps answering while it runs. The target is brought to the code's schema first, and the two
schema versions must agree. Every table is then copied in ONE PostgreSQL transaction, with the
triggers off (`session_replication_role = replica`): the running totals the triggers keep are
copied as they are rather than counted twice. Identity sequences are moved past the copied ids,
and the row count of every table is compared before the COMMIT; any difference rolls it all back.

Re-running replaces the previous copy with a fresh one (the tables are emptied inside the same
transaction, so an interrupted run leaves the previous copy whole). It refuses when the target
holds activity newer than the source's, which means workers already run on it: a second copy
would erase what they wrote. `--force` overrides that, for an operator who means it.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import ConfigError
from bot.storage.schema import VERSION_QUERY, Table, describe_postgres, describe_sqlite, migrate_postgres

BATCH = 5000  # rows read from SQLite at a time: memory stays flat whatever the table's size
BOOKKEEPING = {"schema_migrations"}  # PostgreSQL's own version table: never copied or emptied


@dataclass
class Copied:
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows, the same on both sides

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


class CopyRefused(ConfigError):
    """The copy would lose data, or cannot be made as asked: the message says which and why."""


def _newest_activity(rows: Callable[[str], Any]) -> str:
    """The latest moment any learner wrote, as stored (ISO text sorts as time)."""
    found = rows("SELECT MAX(last_inbound_at) FROM users")
    return (found[0][0] if found and found[0][0] else "") or ""


def _snapshot(source: Path, into: Path) -> sqlite3.Connection:
    if not source.exists():
        raise CopyRefused(f"no SQLite database at {source}")
    live = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        snapshot = sqlite3.connect(into)
        live.backup(snapshot)  # consistent even while the bot writes
    finally:
        live.close()
    return snapshot


def _batches(conn: sqlite3.Connection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    cur = conn.execute(sql)
    while rows := cur.fetchmany(BATCH):
        yield rows


def _copy_table(source: sqlite3.Connection, target: Any, table: Table) -> None:
    # Generated columns are computed by PostgreSQL itself, which refuses values for them.
    columns = [c for c in table.columns.values() if not c.generated]
    names = ", ".join(f'"{c.name}"' for c in columns)
    with target.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for rows in _batches(source, f'SELECT {names} FROM "{table.name}"'):
            for row in rows:
                copy.write_row(row)


def _move_sequences(target: Any, table: Table) -> None:
    for column in table.columns.values():
        if column.auto:
            target.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)',
                (table.name, column.name),
            )


def copy_to_postgres(
    source: Path, target_url: str, *, force: bool = False, say: Callable[[str], None] = print
) -> Copied:
    """Copy the SQLite database at `source` into the PostgreSQL database at `target_url`."""
    import psycopg

    with tempfile.TemporaryDirectory(prefix="clubspeak-copy-") as tmp:
        snapshot = _snapshot(source, Path(tmp) / "snapshot.db")
        try:
            with psycopg.connect(target_url, autocommit=True) as admin:
                applied = migrate_postgres(admin)
                if applied:
                    say(f"target: applied {len(applied)} migration(s), up to {applied[-1]}")
                (target_version,) = admin.execute(VERSION_QUERY).fetchone()
            (source_version,) = snapshot.execute("PRAGMA user_version").fetchone()
            if source_version != target_version:
                raise CopyRefused(
                    f"the SQLite database is at schema version {source_version} and PostgreSQL at "
                    f"{target_version}: run `python -m bot db migrate` on the SQLite database with this "
                    "version of the bot first"
                )
            tables = describe_sqlite(snapshot).tables
            with psycopg.connect(target_url) as target:
                theirs = describe_postgres(target).tables
                missing = sorted(set(tables) - set(theirs))
                if missing:
                    raise CopyRefused(f"PostgreSQL lacks the table(s) {', '.join(missing)}")
                newest_target = _newest_activity(lambda sql: target.execute(sql).fetchall())
                newest_source = _newest_activity(lambda sql: snapshot.execute(sql).fetchall())
                if newest_target > newest_source and not force:
                    raise CopyRefused(
                        f"PostgreSQL has activity newer than the SQLite database ({newest_target} > "
                        f"{newest_source or 'none'}): workers already run on it, and a new copy would "
                        "erase what they wrote. Add --force only if that is what you want."
                    )
                copied = Copied()
                with target.transaction():
                    target.execute("SET LOCAL session_replication_role = replica")
                    names = [name for name in tables if name not in BOOKKEEPING]
                    if names:
                        target.execute("TRUNCATE " + ", ".join(f'"{n}"' for n in names))
                    for name in names:
                        _copy_table(snapshot, target, tables[name])
                        _move_sequences(target, theirs[name])
                        (want,) = snapshot.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()
                        (got,) = target.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()
                        if want != got:
                            raise CopyRefused(
                                f"{name}: {want} row(s) in SQLite but {got} copied; nothing kept"
                            )
                        copied.tables[name] = got
            return copied
        except psycopg.errors.InsufficientPrivilege as exc:
            raise CopyRefused(
                "the copy turns PostgreSQL's triggers off while it loads (so running totals are not "
                "counted twice), which needs a superuser or the SET privilege on "
                f"session_replication_role: {exc}"
            ) from exc
        except psycopg.OperationalError as exc:
            raise CopyRefused(f"cannot reach PostgreSQL: {' '.join(str(exc).split())}") from exc
        finally:
            snapshot.close()
