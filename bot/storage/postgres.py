"""A PostgreSQL connection that behaves as the aiosqlite connection the code was written for.

The storage code speaks aiosqlite: `await conn.execute(sql, params)` (or `async with`), rows
read by index and by name, `total_changes`, `in_transaction`, and `repo.in_thread` for the hot
path's synchronous functions. Here the same API sits on a synchronous psycopg 3 connection,
run on one thread of its own, as aiosqlite runs sqlite3: a call is one thread hop, and the
statements of an `in_thread` function run back to back on that thread.

The connection is in autocommit mode, so the code's own BEGIN, SAVEPOINT and COMMIT statements
decide the transactions exactly as on SQLite. Each statement is translated once
(bot/storage/dialect.py); psycopg's errors are raised as the sqlite3 error classes the code
catches (`OperationalError` for an outage or a lock, `IntegrityError` for a constraint), with
psycopg's error as the cause.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper, Loader
from psycopg.rows import RowMaker

from bot.storage.dialect import to_postgres

log = logging.getLogger(__name__)

T = TypeVar("T")

# Statements that write rows: their row counts add up to `total_changes`, as SQLite counts.
_WRITES = (b"INSERT", b"UPDATE", b"DELETE", b"MERGE")
# PRAGMAs the code sends to any connection, answered here: none has a meaning on PostgreSQL.
# `database_list` names the database files, and PostgreSQL has none of ours to name.
_PRAGMAS_WITHOUT_ROWS = ("database_list",)


class Row(tuple):
    """A row read by index and by name (case-insensitively), like sqlite3.Row; `dict(row)` works.
    A class per list of column names (`_row_class`) holds the names, so a row is a bare tuple."""

    __slots__ = ()
    _index: dict[str, int] = {}  # per class, set by `_row_class`
    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                return tuple.__getitem__(self, self._index[key.lower()])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@lru_cache(maxsize=2048)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    index = {name.lower(): i for i, name in reversed(list(enumerate(names)))}
    index.update({name: i for i, name in reversed(list(enumerate(names)))})
    return type("Row", (Row,), {"__slots__": (), "_index": index, "_names": names})


def _rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    if cursor.description is None:
        return tuple  # type: ignore[return-value]  # no rows come
    return _row_class(tuple(c.name for c in cursor.description))


class _Numeric(Loader):
    """SUM and AVG of integers are `numeric` on PostgreSQL: an int when whole, else a float, as
    SQLite gives (a Decimal would not mix with the floats the code computes with)."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class _BoolAsInt(Dumper):
    """True and False go in as 1 and 0: SQLite has no booleans, so our flag columns are integers."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


def _error(exc: psycopg.Error) -> sqlite3.Error:
    """psycopg's error as the sqlite3 class the code catches (its message kept)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(text)
    if isinstance(exc, psycopg.errors.DataError):
        return sqlite3.DataError(text)
    if isinstance(exc, psycopg.errors.InterfaceError):
        return sqlite3.InterfaceError(text)
    # A syntax error, a missing table, a lost connection, a lock or deadlock: SQLite's
    # OperationalError covers all of these.
    return sqlite3.OperationalError(text)


def _pragma(sql: str) -> str | None:
    """The PRAGMA's name if `sql` is one (answered here, never sent)."""
    head = sql.lstrip()
    if head[:6].upper() != "PRAGMA":
        return None
    return head[6:].strip().split("=")[0].split("(")[0].strip().lower()


class _Empty:
    """The cursor of a statement answered without the server."""

    rowcount = -1
    description = None

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Any:
        return iter(())


class Raw:
    """The synchronous side, for `repo.in_thread` functions: only ever used on the connection's thread."""

    several_workers = True  # other processes may write the same database (see repo.several_workers)

    def __init__(self, conn: psycopg.Connection[Any]):
        self.conn = conn
        self.total_changes = 0

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Any:
        if (pragma := _pragma(sql)) is not None:
            if pragma in _PRAGMAS_WITHOUT_ROWS:
                return _Empty()
            raise sqlite3.OperationalError(f"PRAGMA {pragma} has no meaning on PostgreSQL")
        if (
            self.conn.info.transaction_status == pq.TransactionStatus.INERROR
            and sql.strip().upper() == "COMMIT"
        ):
            # PostgreSQL answers COMMIT of a failed transaction with a silent ROLLBACK; the code
            # expects a COMMIT that did not happen to raise, as SQLite's does.
            self.conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("the transaction was aborted by an earlier error and rolled back")
        params = tuple(parameters) if parameters is not None else None
        try:
            cur = self.conn.execute(to_postgres(sql, bool(params)), params or None)
        except psycopg.Error as exc:
            raise _error(exc) from exc
        self._count(cur)
        return cur

    def _count(self, cur: psycopg.Cursor[Any]) -> None:
        status = cur.pgresult.command_status if cur.pgresult is not None else None
        if status and status.startswith(_WRITES) and cur.rowcount > 0:
            self.total_changes += cur.rowcount

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Any:
        cur = self.conn.cursor()
        try:
            cur.executemany(to_postgres(sql), list(seq))
        except psycopg.Error as exc:
            raise _error(exc) from exc
        if cur.rowcount > 0:
            self.total_changes += cur.rowcount
        return cur

    def executescript(self, sql: str) -> None:
        try:
            self.conn.execute(to_postgres(sql, parameters=False))
        except psycopg.Error as exc:
            raise _error(exc) from exc

    def fetchall(self, sql: str, parameters: Sequence[Any] | None) -> list[Any]:
        return self.execute(sql, parameters).fetchall()

    def result(self, sql: str, parameters: Sequence[Any] | None) -> Cursor:
        cur = self.execute(sql, parameters)
        rows = cur.fetchall() if cur.description is not None else []
        return Cursor(rows, cur.rowcount)

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")


class Cursor:
    """What `await conn.execute(...)` gives: the rows, already read on the connection's thread."""

    def __init__(self, rows: list[Any], rowcount: int):
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount

    @property
    def lastrowid(self) -> int:
        raise AttributeError("PostgreSQL has no lastrowid: use INSERT … RETURNING id")

    async def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchall(self) -> list[Any]:
        rows, self._at = self._rows[self._at :], len(self._rows)
        return rows

    async def fetchmany(self, size: int = 1) -> list[Any]:
        rows = self._rows[self._at : self._at + size]
        self._at += len(rows)
        return rows

    async def close(self) -> None:
        pass

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class _Pending:
    """`conn.execute(...)`: awaited, or entered with `async with`, as aiosqlite's is."""

    def __init__(self, run: Any):
        self._run = run
        self._cursor: Cursor | None = None

    def __await__(self) -> Any:
        return self._run.__await__()

    async def __aenter__(self) -> Cursor:
        self._cursor = await self._run
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        pass


class Connection:
    """The subset of aiosqlite.Connection the code uses, on PostgreSQL."""

    row_factory: Any = None  # rows are always `Row`s: read by index and by name

    def __init__(self, raw: Raw, thread: ThreadPoolExecutor):
        self._raw = raw
        self._thread = thread
        self._closed = False

    @classmethod
    async def connect(cls, url: str, read_only: bool = False, name: str | None = None) -> Connection:
        thread = ThreadPoolExecutor(1, thread_name_prefix="postgres")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(thread, open_sync, url, read_only, name)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return cls(Raw(conn), thread)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(raw, *args)` on the connection's thread: one hop for all its statements."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, self._raw, *args)

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction

    @property
    def total_changes(self) -> int:
        return self._raw.total_changes

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Pending:
        return _Pending(self.in_thread(Raw.result, sql, parameters))

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] | None = None) -> list[Any]:
        return await self.in_thread(Raw.fetchall, sql, parameters)

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        await self.in_thread(Raw.executemany, sql, list(seq))

    async def executescript(self, sql: str) -> None:
        await self.in_thread(Raw.executescript, sql)

    async def commit(self) -> None:
        await self.in_thread(Raw.commit)

    async def rollback(self) -> None:
        await self.in_thread(Raw.rollback)

    async def close(self) -> None:
        """Close the connection and end its thread; a second close does nothing, as aiosqlite's."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.in_thread(lambda raw: raw.conn.close())
        finally:
            self._thread.shutdown(wait=False)


def open_sync(url: str, read_only: bool = False, name: str | None = None) -> psycopg.Connection[Any]:
    """A psycopg connection as this module's connections use it (autocommit, rows, numbers).
    `name` is shown as its application_name (pg_stat_activity; /healthz reads it there)."""
    extra = {"application_name": name} if name else {}
    try:
        conn = psycopg.connect(url, autocommit=True, row_factory=_rows, connect_timeout=10, **extra)
    except psycopg.Error as exc:
        raise _error(exc) from exc
    conn.adapters.register_loader("numeric", _Numeric)
    conn.adapters.register_dumper(bool, _BoolAsInt)
    if read_only:
        # As SQLite's query_only: a stray write through a reader fails loudly. A reader's BEGIN
        # reads one snapshot to its end, as on SQLite (READ COMMITTED would take one per statement).
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET default_transaction_isolation = 'repeatable read'")
    return conn


async def listen(url: str, channel: str, heard: Callable[[str], None], name: str | None = None) -> None:
    """LISTEN on `channel` for ever, calling `heard(payload)` on the event loop for each NOTIFY;
    cancel the task to stop. After a lost connection it connects again, and calls `heard("*")`
    then, for what may have been notified meanwhile."""
    loop = asyncio.get_running_loop()
    thread = ThreadPoolExecutor(1, thread_name_prefix="postgres-listen")
    stop = threading.Event()

    def blocking() -> None:
        with psycopg.connect(url, autocommit=True, connect_timeout=10, application_name=name or "") as conn:
            conn.execute(f"LISTEN {channel}")
            loop.call_soon_threadsafe(heard, "*")
            while not stop.is_set():
                for note in conn.notifies(timeout=1.0):  # wakes each second to see `stop`
                    loop.call_soon_threadsafe(heard, note.payload)

    try:
        while True:
            try:
                await loop.run_in_executor(thread, blocking)
            except psycopg.Error as exc:
                log.warning("listening for %s stopped (%s); again in 2 s", channel, exc)
                await asyncio.sleep(2)
    finally:
        stop.set()
        thread.shutdown(wait=False)
