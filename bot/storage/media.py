"""Files the bot makes (certificates) and sends: stored under random names, referred to as
"media:<name>" in an Outbound, served at /media/<name> for channels that fetch by URL."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

PREFIX = "media:"
NAME = re.compile(r"^[A-Za-z0-9_-]{20,64}\.png$")


@dataclass(frozen=True)
class MediaStore:
    root: Path

    def save(self, data: bytes, suffix: str = ".png") -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        # The name is the only key to the file (Twilio fetches it by URL), so it is unguessable.
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


def is_media(ref: str | None) -> bool:
    return bool(ref and ref.startswith(PREFIX))
