"""Files the bot makes (certificates) and sends: stored under random names, referred to as
"media:<name>" in an Outbound.

A certificate carries a learner's name, so a file is kept only until the channel has it, and
it is served over HTTP only through a link that expires: /media/<name>?exp=…&sig=…, signed with
HMAC-SHA256 and a secret kept beside the files (`.secret`, created on first use, readable by
the bot alone). Telegram uploads the file and answers with a file_id, kept in its place
(`certificates.file_id`); WhatsApp (Twilio) fetches the signed link, and the file is deleted
once the message is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from bot.messages import utcnow
from bot.storage.repo import Conn

PREFIX = "media:"
NAME = re.compile(r"^[A-Za-z0-9_-]{20,64}\.png$")
SECRET_FILE = ".secret"
LINK_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class MediaStore:
    root: Path

    def save(self, data: bytes, suffix: str = ".png") -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        # Unguessable, and never enough alone: the web route also wants a signed, fresh link.
        name = secrets.token_urlsafe(24) + suffix
        (self.root / name).write_bytes(data)
        return PREFIX + name

    def path(self, ref: str | None) -> Path | None:
        """The file for a "media:" reference or a bare name; None for anything else."""
        if not ref:
            return None
        name = ref.removeprefix(PREFIX)
        if not NAME.match(name):
            return None
        path = self.root / name
        return path if path.is_file() else None

    def delete(self, ref: str) -> None:
        path = self.path(ref)
        if path is not None:
            path.unlink(missing_ok=True)

    # -- links that expire --------------------------------------------------------------

    def _secret(self) -> bytes:
        """The signing key: made once, beside the files, readable by the bot's user only."""
        path = self.root / SECRET_FILE
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        return path.read_bytes()

    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self._secret(), f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    def link(self, ref: str, now: datetime | None = None, ttl: timedelta = LINK_TTL) -> str:
        """The path and query that serve `ref` until `ttl` from `now`: /media/<name>?exp=…&sig=…"""
        name = ref.removeprefix(PREFIX)
        expires = int(((now or utcnow()) + ttl).timestamp())
        return f"/media/{name}?" + urlencode({"exp": expires, "sig": self._signature(name, expires)})

    def verified(
        self, name: str, expires: str | None, signature: str | None, now: datetime | None = None
    ) -> Path | None:
        """The file, if the link is ours (signed), still fresh, and the file is still here."""
        if not expires or not signature or not expires.isdigit() or not NAME.match(name):
            return None
        if int(expires) < (now or utcnow()).timestamp():
            return None
        if not hmac.compare_digest(signature, self._signature(name, int(expires))):
            return None
        return self.path(name)


def is_media(ref: str | None) -> bool:
    return bool(ref and ref.startswith(PREFIX))


# -- the channel's copy: once a channel holds the picture, our file can go ------------------


async def keep_file_id(conn: Conn, ref: str, file_id: str) -> None:
    """Telegram has the picture: remember its file_id, to send it again without our file."""
    await conn.execute("UPDATE certificates SET file_id = ? WHERE media = ?", (file_id, ref))


async def file_id_for(conn: Conn, ref: str) -> str | None:
    rows = await conn.execute_fetchall("SELECT file_id FROM certificates WHERE media = ?", (ref,))
    return rows[0][0] if rows and rows[0][0] else None
