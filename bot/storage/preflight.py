"""Is the database usable? Asked before a command opens it, so an operator gets one clear line.

Without this, a read-only or locked file surfaced as a bare sqlite3 error from deep inside a
command. Every check here is synchronous and short: a missing file is answered at once, a
write lock held by another process after LOCK_WAIT_S seconds.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

# Long enough to ride out the running bot's own write transactions (milliseconds each), short
# enough that a CLI command facing a stuck process answers well within five seconds.
LOCK_WAIT_S = 2.0


class DatabaseUnavailable(Exception):
    """The database cannot be used; str() is the one line to show the operator."""


def not_found(path: Path) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        f"database not found: {path} — start the bot once or run python -m bot db migrate"
    )


def read_only(path: Path) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        f"database is read-only: {path} (the bot needs to write to it and to its folder)"
    )


def locked(path: Path) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"database is locked by another process: {path}")


def explain(path: Path, exc: sqlite3.Error) -> DatabaseUnavailable | None:
    """The operator's version of an sqlite3 error about the file itself; None for any other error."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return locked(path)
    # WAL mode opens (and may create) -wal and -shm next to the file: with a read-only folder
    # SQLite reports that as "unable to open database file", not as a read-only database.
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return read_only(path) if path.exists() else not_found(path)
    if "not a database" in text or "malformed" in text:
        return DatabaseUnavailable(f"database file is damaged or not a SQLite database: {path}")
    return None


def _nearest_existing(path: Path) -> Path:
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check(path: Path, *, may_create: bool, lock_wait: float = LOCK_WAIT_S) -> None:
    """Raise DatabaseUnavailable unless `path` can be opened for writing within `lock_wait` s.

    `may_create` is for the commands that start from nothing (run, console, db migrate):
    for them a missing file is fine as long as its folder can be made and written.
    """
    if not path.exists():
        if not may_create:
            raise not_found(path)
        folder = _nearest_existing(path)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise DatabaseUnavailable(f"cannot create the database {path}: {folder} is not writable")
        return
    if not path.is_file():
        raise DatabaseUnavailable(f"database path is not a file: {path}")
    # os.access is only a fast path for the common case; the probe below is the real test
    # (os.access says yes to root, yet an immutable file or a read-only mount still refuses).
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.absolute().parent, os.W_OK | os.X_OK):
        raise read_only(path)
    _probe(path, lock_wait)


def _probe(path: Path, lock_wait: float) -> None:
    """Take and drop the write lock, as the first write transaction would."""
    # mode=rw: never create the file here (sqlite3.connect would make an empty one).
    uri = f"{path.resolve().as_uri()}?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=lock_wait, isolation_level=None)
    except sqlite3.Error as exc:
        raise explain(path, exc) or DatabaseUnavailable(f"cannot open the database {path}: {exc}") from None
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise explain(path, exc) or DatabaseUnavailable(f"cannot use the database {path}: {exc}") from None
    finally:
        conn.close()
