"""Dashboard logins: scrypt password hashes in the database, signed session cookies, CSRF
tokens and a login rate limit. Only the standard library: hashlib, hmac, secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from bot.storage.repo import Conn, iso

N, R, P = 2**14, 8, 1
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return "$".join(
        ["scrypt", str(N), str(R), str(P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    )


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    club_ids: tuple[int, ...] | None  # None: staff, every club


async def add_account(conn: Conn, username: str, password: str, club_ids: list[int] | None, at) -> None:  # type: ignore[no-untyped-def]
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    await conn.execute(
        "INSERT INTO dashboard_accounts (username, password_hash, club_ids, created_at) "
        "VALUES (?, ?, ?, ?) "
        "ON CONFLICT (username) DO UPDATE SET "
        "password_hash = excluded.password_hash, club_ids = excluded.club_ids",
        (username, hash_password(password), json.dumps(club_ids) if club_ids is not None else None, iso(at)),
    )


async def authenticate(conn: Conn, username: str, password: str) -> Account | None:
    rows = await conn.execute_fetchall(
        "SELECT id, username, password_hash, club_ids FROM dashboard_accounts WHERE username = ?", (username,)
    )
    if not rows:
        check_password(password, hash_password("timing-equaliser"))  # same cost for unknown users
        return None
    row = rows[0]
    if not check_password(password, row["password_hash"]):
        return None
    return _account(row)


async def get_account(conn: Conn, account_id: int) -> Account | None:
    rows = await conn.execute_fetchall(
        "SELECT id, username, club_ids FROM dashboard_accounts WHERE id = ?", (account_id,)
    )
    return _account(rows[0]) if rows else None


def _account(row) -> Account:  # type: ignore[no-untyped-def]
    clubs = json.loads(row["club_ids"]) if row["club_ids"] else None
    return Account(row["id"], row["username"], tuple(clubs) if clubs is not None else None)


@dataclass
class Signer:
    """Signs small values (the session, CSRF tokens) with a server secret."""

    secret: bytes

    def sign(self, value: str) -> str:
        mac = hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{value}.{mac}"

    def unsign(self, signed: str) -> str | None:
        value = signed.rpartition(".")[0]
        if not value or not hmac.compare_digest(self.sign(value), signed):
            return None
        return value

    def session(self, account_id: int, hours: int = 12) -> str:
        return self.sign(f"{account_id}:{int(time.time()) + hours * 3600}")

    def session_account(self, cookie: str | None) -> int | None:
        value = self.unsign(cookie or "")
        if value is None:
            return None
        account, _, expires = value.partition(":")
        if not account.isdigit() or not expires.isdigit() or int(expires) < time.time():
            return None
        return int(account)

    def csrf(self, nonce: str) -> str:
        return self.sign(f"csrf:{nonce}")


@dataclass
class LoginLimiter:
    """At most `attempts` failed logins per client and per username in `window` seconds."""

    attempts: int = 5
    window: float = 900.0
    _failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        for key in keys:
            failures = self._failures[key]
            while failures and now - failures[0] > self.window:
                failures.popleft()
            if len(failures) >= self.attempts:
                return True
        return False

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._failures[key].append(time.monotonic())
