"""The SQL every domain shares (users, dialog state, events, a turn's writes, pruning), as small
functions over a connection. Each domain keeps its own queries in its `queries.py`.

Callers own the transaction (see `Database.transaction`). Values always travel
as parameters; no SQL is ever built from user input.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiosqlite

from bot.messages import Outbound

T = TypeVar("T")

Conn = aiosqlite.Connection
Raw = sqlite3.Connection


async def in_thread(conn: Conn, fn: Callable[..., T], *args: Any) -> T:
    """Run a synchronous function on the raw connection in the connection's own thread.

    The hot path of a message makes several statements; running them as one call
    is one thread hop instead of one per statement. On SQLite this leans on aiosqlite's
    `_execute`/`_conn`, which have been stable for years; it is used only here. A PostgreSQL
    connection (bot/storage/postgres.py) offers the same as `in_thread`.
    """
    run = getattr(conn, "in_thread", None)
    if run is not None:
        return await run(fn, *args)
    return await conn._execute(fn, conn._conn, *args)


def several_workers(conn: Raw) -> bool:
    """Whether other processes may write this database at the same time (PostgreSQL's
    connections say so). SQLite's file has one bot process, so the in-process locks suffice."""
    return bool(getattr(conn, "several_workers", False))


def skip_locked(conn: Raw, of: str | None = None) -> str:
    """The end of a claiming SELECT: with several workers, rows another worker's transaction
    has claimed are passed over rather than taken twice or waited for (SQLite: nothing)."""
    if not several_workers(conn):
        return ""
    return f" FOR UPDATE OF {of} SKIP LOCKED" if of else " FOR UPDATE SKIP LOCKED"


def hold_user(conn: Raw, channel: str, address: str) -> None:
    """One turn per user at a time across workers: a transaction-level advisory lock on the
    user's key, held to the COMMIT. It is only tried: a user another worker is in the middle
    of answers "busy", and the message waits its turn in the inbox (no waiting inside a
    transaction, so no deadlock between workers' batches)."""
    if not several_workers(conn):
        return
    (held,) = conn.execute(
        "SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0))", (f"{channel}:{address}",)
    ).fetchone()
    if not held:
        raise sqlite3.OperationalError("another worker is handling this user's message right now")


def shared_secret(conn: Raw, name: str) -> str:
    """A random secret kept in the database, the same for every worker and every restart: made
    by whichever worker asks first (the others find it)."""
    row = conn.execute("SELECT value FROM shared_secrets WHERE name = ?", (name,)).fetchone()
    if row is None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO shared_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_hex(32)),
            )
            row = conn.execute("SELECT value FROM shared_secrets WHERE name = ?", (name,)).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return str(row[0])


def iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class User:
    id: int
    channel: str
    address: str
    pseudonym: str
    display_name: str | None
    language: str | None
    language_hint: str | None
    role: str
    stopped: bool
    unreachable: bool
    created_at: str
    last_inbound_at: str | None
    age_band: str | None = None
    consent: str | None = None

    @property
    def lang(self) -> str:
        return self.language or self.language_hint or "en"

    @property
    def may_keep_progress(self) -> bool:
        """Law 058/2021: progress is kept only with consent (a guardian's under 16)."""
        return self.consent in ("given", "guardian_given")


_USER_COLS = (
    "id, channel, address, pseudonym, display_name, language, language_hint, role, stopped, "
    "unreachable, created_at, last_inbound_at, age_band, consent"
)


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        channel=row["channel"],
        address=row["address"],
        pseudonym=row["pseudonym"],
        display_name=row["display_name"],
        language=row["language"],
        language_hint=row["language_hint"],
        role=row["role"],
        stopped=bool(row["stopped"]),
        unreachable=bool(row["unreachable"]),
        created_at=row["created_at"],
        last_inbound_at=row["last_inbound_at"],
        age_band=row["age_band"],
        consent=row["consent"],
    )


def external_key(external_id: str) -> str:
    """Only a hash of a channel's message id is kept: whatever a channel uses as an id,
    it never becomes a second copy of something personal."""
    return hashlib.blake2b(external_id.encode(), digest_size=12).hexdigest()


def mark_inbound_seen(conn: Raw, channel: str, external_id: str, at: datetime) -> bool:
    """True the first time (channel, external id) is seen; False for a retry."""
    cur = conn.execute(
        "INSERT INTO inbound_seen (channel, external_id, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (channel, external_key(external_id), iso(at)),
    )
    return cur.rowcount == 1


async def find_user(conn: Conn, channel: str, address: str) -> User | None:
    rows = await conn.execute_fetchall(
        f"SELECT {_USER_COLS} FROM users WHERE channel = ? AND address = ?", (channel, address)
    )
    row = rows[0] if rows else None
    return _user(row) if row else None


async def get_user(conn: Conn, user_id: int) -> User | None:
    rows = await conn.execute_fetchall(f"SELECT {_USER_COLS} FROM users WHERE id = ?", (user_id,))
    row = rows[0] if rows else None
    return _user(row) if row else None


def touch_user(
    conn: Raw, channel: str, address: str, name: str | None, language_hint: str, at: datetime
) -> tuple[User, bool]:
    """Find or create the sender and record when they last wrote. Returns (user, created)."""
    rows = conn.execute(
        "UPDATE users SET last_inbound_at = ?, display_name = COALESCE(display_name, ?) "
        f"WHERE channel = ? AND address = ? RETURNING {_USER_COLS}",
        (iso(at), name, channel, address),
    ).fetchall()
    row = rows[0] if rows else None
    if row:
        return _user(row), False
    rows = conn.execute(
        "INSERT INTO users (channel, address, pseudonym, display_name, language_hint, created_at, "
        f"last_inbound_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_USER_COLS}",
        (channel, address, "u_" + secrets.token_hex(6), name, language_hint, iso(at), iso(at)),
    ).fetchall()
    return _user(rows[0]), True


async def set_language(conn: Conn, user_id: int, language: str) -> None:
    await conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))


async def set_stopped(conn: Conn, user_id: int, stopped: bool) -> None:
    await conn.execute("UPDATE users SET stopped = ? WHERE id = ?", (int(stopped), user_id))


async def mark_unreachable(conn: Conn, user_id: int, at: datetime, reason: str) -> int:
    """Flag the user and fail their queued messages; returns how many were stopped."""
    await conn.execute("UPDATE users SET unreachable = 1 WHERE id = ?", (user_id,))
    cur = await conn.execute(
        "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? "
        "WHERE user_id = ? AND status IN ('queued', 'sending', 'held')",
        (reason, iso(at), user_id),
    )
    return cur.rowcount


# -- dialog state -------------------------------------------------------------


@dataclass
class DialogState:
    dialog_id: str | None = None
    step_id: str | None = None
    prompt_seq: int = 0
    data: dict[str, Any] | None = None
    last_sent: str | None = None  # the payload of the newest outbox row for the user (not saved)

    def __post_init__(self) -> None:
        if self.data is None:
            self.data = {}


def get_state(conn: Raw, user_id: int) -> DialogState:
    rows = conn.execute(
        "SELECT dialog_id, step_id, prompt_seq, data FROM dialog_state WHERE user_id = ?", (user_id,)
    ).fetchall()
    row = rows[0] if rows else None
    if not row:
        return DialogState()
    return DialogState(row["dialog_id"], row["step_id"], row["prompt_seq"], json.loads(row["data"]))


def save_state(conn: Raw, user_id: int, state: DialogState, at: datetime) -> None:
    conn.execute(
        "INSERT INTO dialog_state (user_id, dialog_id, step_id, prompt_seq, data, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET dialog_id = excluded.dialog_id, "
        "step_id = excluded.step_id, prompt_seq = excluded.prompt_seq, data = excluded.data, "
        "updated_at = excluded.updated_at",
        (user_id, state.dialog_id, state.step_id, state.prompt_seq, json.dumps(state.data), iso(at)),
    )


# -- progress -----------------------------------------------------------------


async def certificate_media(conn: Conn, user_id: int) -> list[str]:
    rows = await conn.execute_fetchall("SELECT media FROM certificates WHERE user_id = ?", (user_id,))
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Event:
    type: str
    dialog_id: str | None = None
    step_id: str | None = None
    data: dict[str, Any] | None = None


def add_events(conn: Raw, user: User, events: list[Event], at: datetime) -> None:
    if not events:
        return
    conn.executemany(
        "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                iso(at),
                user.pseudonym,
                e.type,
                user.channel,
                user.language,
                e.dialog_id,
                e.step_id,
                json.dumps(e.data) if e.data else None,
            )
            for e in events
        ],
    )


def enqueue(conn: Raw, messages: list[Outbound], at: datetime) -> None:
    if not messages:
        return
    conn.executemany(
        "INSERT INTO outbox (user_id, channel, address, priority, payload, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(m.user_id, m.channel, m.address, m.priority, m.to_json(), iso(at), iso(at)) for m in messages],
    )


# -- reads made ahead, at a turn's open -----------------------------------------

# A read that a turn's handlers make: its SQL, and which of the sender's fields each of its
# parameters is ("id", "pseudonym", "channel" or "address").
Read = tuple[str, tuple[str, ...]]
ReadAhead = dict[tuple[str, tuple[Any, ...]], list[Any]]  # (sql, parameters) -> rows
SENDER_FIELDS = ("id", "pseudonym", "channel", "address")
# Reads whose answer may differ from one moment to the next are never made ahead.
VOLATILE = ("random(", "'now'", "current_", "changes(", "last_insert_rowid(")


def screen_of(state: DialogState) -> str | None:
    screen = (state.data or {}).get("screen")
    return screen if isinstance(screen, str) else None


@functools.lru_cache(maxsize=1024)  # SQL is written in the code: a few dozen texts
def _steady_select(sql: str) -> bool:
    """A SELECT with no part whose answer may change from one moment to the next."""
    return sql.lstrip()[:6].upper() == "SELECT" and not any(v in sql.lower() for v in VOLATILE)


def as_read(sql: str, parameters: tuple[Any, ...], user: User) -> Read | None:
    """The read as one that can be made ahead for any sender, or None: a SELECT whose every
    parameter is one of the sender's own fields."""
    if not _steady_select(sql):
        return None
    fields = []
    for value in parameters:
        field = next(
            (f for f in SENDER_FIELDS if type(value) is type(getattr(user, f)) and value == getattr(user, f)),
            None,
        )
        if field is None:
            return None
        fields.append(field)
    return sql, tuple(fields)


def read_ahead(conn: Raw, user: User, reads: Iterable[Read]) -> ReadAhead:
    """Make the reads for this sender, in the turn's transaction (and its thread hop)."""
    found: ReadAhead = {}
    for sql, fields in reads:
        parameters = tuple(getattr(user, f) for f in fields)
        try:
            found[(sql, parameters)] = conn.execute(sql, parameters).fetchall()
        except sqlite3.Error:
            continue  # only ever a guess: the handler makes the read itself, and meets the error there
    return found


class TurnConn:
    """The writer connection as a turn's handlers see it.

    A read that the engine made at the turn's open (`read_ahead`) is answered from memory, with
    no thread hop, as long as nothing has been written since: SQLite counts every row changed on
    the connection (`total_changes`), and the turn holds the only writer. The answer is the one
    the handler's own read would get inside the same transaction. Everything else goes to the
    connection itself. It also notes the reads a handler makes before any write that could be
    made ahead (`reads`), for the engine to learn which reads turns on each screen make.
    """

    def __init__(self, conn: Conn, user: User, ahead: ReadAhead):
        self._inner = conn
        self._user = user
        self._ahead = ahead
        self._changes = conn.total_changes
        self.reads: set[Read] = set()
        self.hits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None) -> Iterable[Any]:
        if isinstance(parameters, Mapping):  # named parameters: never made ahead
            return await self._inner.execute_fetchall(sql, parameters)
        params = tuple(parameters or ())
        # Only a read keyed by the sender, before anything is written in this turn, can have
        # been made ahead, and can teach which reads to make ahead.
        read = as_read(sql, params, self._user) if self._inner.total_changes == self._changes else None
        if read is not None:
            self.reads.add(read)
            rows = self._ahead.get((sql, params))
            if rows is not None:
                self.hits += 1
                return list(rows)  # a copy: the caller may change its list
        return await self._inner.execute_fetchall(sql, params)


def open_turn(
    conn: Raw,
    channel: str,
    address: str,
    external_id: str | None,
    name: str | None,
    hint: str,
    at: datetime,
    inbox_id: int | None = None,
    reads: Mapping[str | None, tuple[Read, ...]] | None = None,
    begin: bool = True,
) -> tuple[User, bool, DialogState, ReadAhead] | None:
    """BEGIN (unless the turn joins a transaction already begun), open the turn's savepoint,
    drop a retry, find the sender, read their state, and make the `reads` that turns on the
    sender's screen usually make (see `TurnConn`).

    None for a retry: its inbox row, if any, is dropped, and the transaction stays open (see
    `end_transaction`). On an error, the turn's writes are undone (and the transaction too, if
    this turn began it) before it is raised.
    """
    if begin:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("SAVEPOINT turn")
        hold_user(conn, channel, address)
        if external_id is not None and not mark_inbound_seen(conn, channel, external_id, at):
            if inbox_id is not None:
                conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))
            conn.execute("RELEASE turn")
            return None
        user, created = touch_user(conn, channel, address, name, hint, at)
        state = get_state(conn, user.id)
        # What we last sent them: a typed "1" right after an invitation answers the invitation.
        last = conn.execute(
            "SELECT payload FROM outbox WHERE user_id = ? ORDER BY id DESC LIMIT 1", (user.id,)
        ).fetchone()
        state.last_sent = last[0] if last else None
        ahead = read_ahead(conn, user, reads.get(screen_of(state), ()) if reads else ())
        return user, created, state, ahead
    except BaseException:
        if begin:
            rollback(conn)
        else:
            undo_turn(conn)
        raise


def close_turn(
    conn: Raw,
    user: User,
    state: DialogState | None,
    events: list[Event],
    messages: list[Outbound],
    at: datetime,
    inbox_id: int | None = None,
    commit: bool = True,
) -> None:
    """Write the state, the events and the replies, drop the handled inbox row, release the
    turn's savepoint, and COMMIT (unless later turns will): all of the turn or nothing.

    If the turn's writes fail, they are undone and the error raised; the transaction stays
    open for the turns before it (see `undo_turn`). If the COMMIT fails, everything is rolled
    back, and the error raised.
    """
    try:
        if state is not None:
            save_state(conn, user.id, state, at)
        add_events(conn, user, events, at)
        enqueue(conn, messages, at)
        if inbox_id is not None:
            conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))
        conn.execute("RELEASE turn")
    except BaseException:
        undo_turn(conn)
        raise
    if commit:
        end_transaction(conn, commit=True)


def undo_turn(conn: Raw) -> bool:
    """Undo the writes of the turn in progress (back to its savepoint). Returns whether the
    transaction is still open: SQLite rolls all of it back after some errors (a full disk, an
    I/O error), and then the turns before this one are lost too."""
    if not conn.in_transaction:
        return False
    try:
        conn.execute("ROLLBACK TO turn")
        conn.execute("RELEASE turn")
    except sqlite3.Error:  # this turn alone cannot be taken back (no savepoint): take back all
        conn.execute("ROLLBACK")
    return conn.in_transaction


def end_transaction(conn: Raw, commit: bool) -> None:
    """COMMIT the transaction of the turns so far (or roll it back); a failed COMMIT rolls
    back, and raises."""
    if not conn.in_transaction:
        return
    if not commit:
        conn.execute("ROLLBACK")
        return
    try:
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: Raw) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# -- retention: bounded outbox and inbound_seen -------------------------------

# Outbox statuses that nothing will change any more; queued, sending and held rows are never pruned.
FINISHED = ("sent", "delivered", "read", "failed")


def prune_outbox(conn: Raw, after: int, before: datetime, limit: int) -> tuple[int, int | None]:
    """One short write transaction: of the `limit` outbox rows after id `after`, delete those
    finished and untouched since `before`. Returns (deleted, the id to go on after, or None
    once this stretch held nothing older than `before`: ids grow with time, so neither will
    what follows).

    Walking the table by id keeps every batch to `limit` rows, whatever the table's size.
    Each delete rolls its status up into its invitation (trigger outbox_delivery_rollup).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            "SELECT id, created_at FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        ).fetchall()
        cutoff = iso(before)
        if not rows or min(r[1] for r in rows) >= cutoff:
            conn.execute("COMMIT")
            return 0, None
        cur = conn.execute(
            f"DELETE FROM outbox WHERE id > ? AND id <= ? AND status IN ({','.join('?' * len(FINISHED))}) "
            "AND updated_at < ?",
            (after, rows[-1][0], *FINISHED, cutoff),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return cur.rowcount, rows[-1][0]


def prune_inbound_seen(
    conn: Raw, after: tuple[str, str], before: datetime, limit: int
) -> tuple[int, tuple[str, str] | None]:
    """One short write transaction: of the next `limit` keys after `after` (in key order, as
    the ids are hashes), delete those seen before `before`. Returns (deleted, the key to go on
    after, or None at the end of the table). A channel retries within hours, not weeks.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        keys = conn.execute(
            "SELECT channel, external_id FROM inbound_seen WHERE (channel, external_id) > (?, ?) "
            "ORDER BY channel, external_id LIMIT ?",
            (*after, limit),
        ).fetchall()
        if not keys:
            conn.execute("COMMIT")
            return 0, None
        last = (keys[-1][0], keys[-1][1])
        cur = conn.execute(
            "DELETE FROM inbound_seen WHERE (channel, external_id) > (?, ?) "
            "AND (channel, external_id) <= (?, ?) AND seen_at < ?",
            (*after, *last, iso(before)),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return cur.rowcount, (last if len(keys) == limit else None)
