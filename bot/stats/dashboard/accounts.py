"""Dashboard logins: scrypt password hashes, server-side sessions, CSRF tokens the server issued,
and a per-client login throttle. Only the standard library: hashlib, hmac, secrets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.db import Database
from bot.storage.repo import Conn, iso

N, R, P = 2**14, 8, 1
MIN_PASSWORD = 10
SESSION_HOURS = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)])


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


# Checked against when the username is unknown, so both answers cost one scrypt with the same
# parameters. Its digest is random bytes, the hash of no password: nothing ever matches it.
DUMMY_HASH = "$".join(
    ["scrypt", str(N), str(R), str(P), _b64(secrets.token_bytes(16)), _b64(secrets.token_bytes(32))]
)


@dataclass(frozen=True)
class Hashed:
    """A password already hashed, off the event loop: store it inside a transaction."""

    value: str


async def hashed(password: str) -> Hashed:
    """Check the length and hash in a thread, outside any transaction: scrypt takes tens of
    milliseconds that the event loop and the write lock must not spend."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    return Hashed(await asyncio.to_thread(hash_password, password))


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    club_ids: tuple[int, ...] | None  # None: staff, every club


async def add_account(
    conn: Conn, username: str, password: str | Hashed, club_ids: list[int] | None, at: datetime
) -> None:
    """Create a login, or reset its password and clubs (which ends its open sessions).

    Pass `await hashed(password)`, taken before the transaction began. A plain password is
    hashed here, holding the write lock: acceptable for a test's seed data only.
    """
    if isinstance(password, str):
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
        password = Hashed(hash_password(password))
    await conn.execute(
        "DELETE FROM dashboard_sessions WHERE account_id = "
        "(SELECT id FROM dashboard_accounts WHERE username = ?)",
        (username,),
    )
    await conn.execute(
        "INSERT INTO dashboard_accounts (username, password_hash, club_ids, created_at) "
        "VALUES (?, ?, ?, ?) "
        "ON CONFLICT (username) DO UPDATE SET "
        "password_hash = excluded.password_hash, club_ids = excluded.club_ids",
        (username, password.value, json.dumps(club_ids) if club_ids is not None else None, iso(at)),
    )


async def authenticate(db: Database, username: str, password: str) -> Account | None:
    async with db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT id, username, password_hash, club_ids FROM dashboard_accounts WHERE username = ?",
            (username,),
        )
    # One scrypt whether or not the username exists (timing tells nothing), in a thread and with
    # no connection held (learners' messages keep flowing meanwhile).
    ok = await asyncio.to_thread(check_password, password, rows[0]["password_hash"] if rows else DUMMY_HASH)
    return _account(rows[0]) if rows and ok else None


async def get_account(conn: Conn, account_id: int) -> Account | None:
    rows = await conn.execute_fetchall(
        "SELECT id, username, club_ids FROM dashboard_accounts WHERE id = ?", (account_id,)
    )
    return _account(rows[0]) if rows else None


def _account(row) -> Account:  # type: ignore[no-untyped-def]
    clubs = json.loads(row["club_ids"]) if row["club_ids"] else None
    return Account(row["id"], row["username"], tuple(clubs) if clubs is not None else None)


# -- sessions: a random token in the cookie, its hash in the database --------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(db: Database, account_id: int, now: datetime, hours: int = SESSION_HOURS) -> str:
    """A new session's token. Expired sessions are pruned here: rows are only ever added here."""
    token = secrets.token_urlsafe(32)
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?", (iso(now),))
        await conn.execute(
            "INSERT INTO dashboard_sessions (token_hash, account_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)",
            (_token_hash(token), account_id, iso(now), iso(now + timedelta(hours=hours))),
        )
    return token


async def session_account(db: Database, token: str, now: datetime) -> Account | None:
    async with db.reader() as conn:
        rows = await conn.execute_fetchall(
            "SELECT a.id, a.username, a.club_ids FROM dashboard_sessions s "
            "JOIN dashboard_accounts a ON a.id = s.account_id "
            "WHERE s.token_hash = ? AND s.expires_at > ?",
            (_token_hash(token), iso(now)),
        )
    return _account(rows[0]) if rows else None


async def end_session(db: Database, token: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = ?", (_token_hash(token),))


@dataclass
class Signer:
    """Signs small values (session cookies, nonces, CSRF tokens) with a server secret."""

    secret: bytes

    def sign(self, value: str) -> str:
        mac = hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{value}.{mac}"

    def unsign(self, signed: str) -> str | None:
        value = signed.rpartition(".")[0]
        if not value or not hmac.compare_digest(self.sign(value), signed):
            return None
        return value

    def nonce(self) -> str:
        """A pre-login nonce for the cookie; only nonces signed here are accepted back."""
        return self.sign(f"nonce:{secrets.token_urlsafe(16)}")

    def csrf(self, binding: str) -> str:
        """The form token for a session cookie (once logged in) or an issued nonce (before)."""
        return hmac.new(self.secret, f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()


@dataclass
class LoginThrottle:
    """Failed logins per client address. After `free` failures each one doubles the client's
    wait, from `first` up to `longest` seconds. Per client and never per account, so someone
    guessing cannot lock the real user out. A success does not reset the count (one valid login
    must not buy unlimited guesses at others); the count is forgotten `forget` seconds after the
    client's last failure. At most `size` clients are remembered, the stalest dropped first.

    Kept in the database, so that it holds across workers (a guesser spreading attempts over
    them gets no more tries) and restarts. Times are wall-clock seconds, the same in every worker.
    """

    db: Database
    free: int = 4
    first: float = 15.0
    longest: float = 900.0
    forget: float = 3600.0  # at least `longest`: a client is never forgotten while it must wait
    size: int = 10_000
    clock: Callable[[], float] = time.time
    trying_for: float = 60.0  # an attempt left open this long (a crash mid-login) no longer blocks

    async def count(self) -> int:
        rows = await self.db.conn.execute_fetchall("SELECT COUNT(*) FROM login_throttle")
        return int(rows[0][0])

    async def begin(self, client: str) -> float:
        """0.0 when the client may try now (call `end` afterwards); else the seconds to wait.
        One attempt at a time per client: parallel guesses would all pass before any failed."""
        now = self.clock()
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM login_throttle WHERE last_at < ? AND COALESCE(trying_until, 0) < ?",
                (now - self.forget, now),
            )
            rows = await conn.execute_fetchall(
                "SELECT until, trying_until FROM login_throttle WHERE client = ?", (client,)
            )
            if rows:
                until, trying = rows[0]
                if trying is not None and trying > now:
                    return 1.0
                if until is not None and until > now:
                    return until - now
            await conn.execute(
                "INSERT INTO login_throttle (client, failures, last_at, trying_until) VALUES (?, 0, ?, ?) "
                "ON CONFLICT (client) DO UPDATE SET trying_until = excluded.trying_until",
                (client, now, now + self.trying_for),
            )
        return 0.0

    async def end(self, client: str, failed: bool) -> int:
        """Close the attempt; returns the client's failures so far."""
        now = self.clock()
        async with self.db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "SELECT failures FROM login_throttle WHERE client = ?", (client,)
            )
            failures = int(rows[0][0]) if rows else 0
            if not failed:
                if failures:
                    await conn.execute(
                        "UPDATE login_throttle SET trying_until = NULL WHERE client = ?", (client,)
                    )
                else:  # nothing to remember
                    await conn.execute("DELETE FROM login_throttle WHERE client = ?", (client,))
                return failures
            failures += 1
            until = None
            if failures > self.free:
                doublings = min(failures - self.free - 1, 32)  # past the cap; and no float overflow
                until = now + min(self.longest, self.first * 2**doublings)
            await conn.execute(
                "INSERT INTO login_throttle (client, failures, last_at, until) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (client) DO UPDATE SET failures = excluded.failures, "
                "last_at = excluded.last_at, until = excluded.until, trying_until = NULL",
                (client, failures, now, until),
            )
            await conn.execute(
                "DELETE FROM login_throttle WHERE last_at < (SELECT last_at FROM login_throttle "
                "ORDER BY last_at DESC LIMIT 1 OFFSET ?)",
                (self.size - 1,),
            )
        return failures
