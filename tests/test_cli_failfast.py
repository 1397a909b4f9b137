"""Every command that uses the database stops within seconds, with one clear line, when it cannot.

Missing, read-only (the file, or the folder where WAL keeps its -wal and -shm files) and locked
by another process: each command runs as a real `python -m bot` process with a 5 s timeout, so a
hang fails the test with TimeoutExpired.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

COMMANDS = [
    ("run",),
    ("console",),
    ("db", "migrate"),
    ("db", "backup", "copy.db"),
    ("stats",),
    ("export", "events", "--since", "2026-01-01"),
    ("outbox", "status"),
    ("escalations", "list"),
    ("clubs", "list"),
    ("sessions", "cancel", "1"),
    ("broadcast", "status", "1"),
    ("users", "grant", "staff", "telegram:42"),
    ("privacy", "retention", "--days", "365"),
]
# These start a bot from nothing, so for them a missing database is not an error.
CREATE_NEW = {("run",), ("console",), ("db", "migrate")}

# Linux capabilities that let root write where the permission bits say no.
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def env_for(db: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "PORT": "0"}


def bot(
    *args: str, db: Path, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env_for(db),
        cwd=db.parent.parent,
        timeout=5,
        preexec_fn=preexec_fn,
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    lines = proc.stderr.splitlines()
    assert proc.returncode != 0, proc.stdout
    assert len(lines) == 1 and lines[0].strip(), proc.stderr
    for part in expected:
        assert part in lines[0], lines[0]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database, copied for each test (migrating each time would double the run)."""
    db = tmp_path_factory.mktemp("template") / "clubspeak.db"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "migrate"], capture_output=True, text=True, env=env_for(db)
    )
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture
def db(tmp_path: Path, migrated: Path) -> Path:
    (tmp_path / "data").mkdir()
    return Path(shutil.copy(migrated, tmp_path / "data" / "clubspeak.db"))


def _drop_root_file_powers() -> None:
    """In the child, before exec: root without DAC override obeys permission bits like any user.

    Running as `nobody` would be the obvious way, but the interpreter may live where nobody
    cannot reach it (here under /root, mode 0700). Dropped from the bounding set, the
    capabilities stay gone across exec.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], None] | None:
    """A preexec_fn under which chmod binds (None when we are not root: it binds already)."""
    if os.geteuid() != 0:
        return None
    probe = tmp_path_factory.mktemp("probe") / "read-only"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        wrote = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}, 'a')"],
            capture_output=True,
            preexec_fn=_drop_root_file_powers,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE: {exc}")
    if wrote.returncode == 0:
        pytest.skip("running as root and a read-only file stays writable even without CAP_DAC_OVERRIDE")
    return _drop_root_file_powers


@pytest.fixture(params=["file", "folder"])
def read_only_db(request: pytest.FixtureRequest, db: Path) -> Iterator[Path]:
    """The database file read-only, or only its folder (then WAL cannot make -wal and -shm)."""
    target, writable = (db, 0o644) if request.param == "file" else (db.parent, 0o755)
    target.chmod(0o444 if request.param == "file" else 0o555)
    try:
        yield db
    finally:
        target.chmod(writable)  # so pytest can clean up


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in CREATE_NEW], ids=" ".join)
def test_a_missing_database_is_named_not_created(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = tmp_path / "data" / "clubspeak.db"
    proc = bot(*command, db=db)
    assert_one_line(proc, "database not found", str(db), "python -m bot db migrate")
    assert not db.exists() and not db.parent.exists()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_read_only_database_stops_the_command_at_once(
    read_only_db: Path, unprivileged: Callable[[], None] | None, command: tuple[str, ...]
) -> None:
    proc = bot(*command, db=read_only_db, preexec_fn=unprivileged)
    assert_one_line(proc, "database is read-only", str(read_only_db))


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_locked_by_another_process_stops_the_command(db: Path, command: tuple[str, ...]) -> None:
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        proc = bot(*command, db=db)
    finally:
        holder.close()
    assert_one_line(proc, "database is locked by another process", str(db))


# A read-only file alone opens fine while nothing needs writing; a read-only folder always fails
# (no -shm can be made).
@pytest.mark.parametrize("read_only_db", ["folder"], indirect=True)
def test_a_failed_open_leaves_no_thread_behind(
    read_only_db: Path, unprivileged: Callable[[], None] | None
) -> None:
    """Database.open itself, without the CLI's check first: it must not leave aiosqlite's
    (non-daemon) worker thread running, or the interpreter waits for it forever at exit."""
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from bot.storage.db import Database\n"
        "from bot.storage.preflight import DatabaseUnavailable\n"
        "try:\n"
        "    asyncio.run(Database.open(Path(sys.argv[1])))\n"
        "except DatabaseUnavailable as exc:\n"
        "    sys.exit(f'unavailable: {exc}')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(read_only_db)],
        capture_output=True,
        text=True,
        timeout=5,
        cwd=Path(__file__).resolve().parent.parent,
        preexec_fn=unprivileged,
    )
    assert proc.returncode == 1 and "unavailable: database is read-only" in proc.stderr, proc.stderr
