"""What crosses the line between a channel and the engine, in both directions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REPLY = 0  # a reply to the user's own message: always sent first
BULK = 10  # invitations, reminders, announcements


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Inbound:
    """One message from a user, normalised by a channel adapter.

    `text` is what they typed; `payload` is the id of a button they tapped (the
    engine made it, `"<prompt seq>.<choice id>"`). `external_id` is the channel's
    own id (Telegram update_id, Twilio MessageSid), used to drop retries.
    """

    channel: str
    address: str
    text: str | None = None
    payload: str | None = None
    external_id: str | None = None
    name: str | None = None
    language_code: str | None = None
    media_count: int = 0
    # The channel's references to the photos sent (a Telegram file_id, a Twilio media URL).
    media: tuple[str, ...] = ()
    # A shared location, already coarsened by the channel to 0.01° (about 1 km): a domain turns it
    # into an administrative area and keeps nothing finer.
    location: tuple[float, float] | None = None
    # The channel's id of this message in its chat (Telegram's message_id), so a conversation
    # can be erased from the chat later.
    message_ref: str | None = None
    received_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        # A NUL character means nothing in a message, and PostgreSQL's text cannot hold one: a
        # name or a text carrying it (any client, or a forged form, can send it) would never be
        # stored, so never answered. It goes here, where every channel's message passes.
        for name in ("text", "payload", "name"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", ""))

    def to_json(self) -> str:
        """What the durable inbox keeps until the message is handled."""
        data = {k: v for k, v in self.__dict__.items() if k not in ("channel", "address")}
        data["received_at"] = self.received_at.isoformat()
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, channel: str, address: str, payload: str) -> Inbound:
        data = json.loads(payload)
        data["received_at"] = datetime.fromisoformat(data["received_at"])
        data["media"] = tuple(data.get("media") or ())
        if data.get("location") is not None:
            data["location"] = tuple(data["location"])
        return cls(channel=channel, address=address, **data)


@dataclass(frozen=True)
class Choice:
    id: str  # ASCII, short: it travels as Telegram callback_data (<= 64 bytes)
    label: str


@dataclass(frozen=True)
class Outbound:
    """One message to send, already in the recipient's language."""

    channel: str
    address: str
    text: str
    choices: tuple[Choice, ...] = ()
    image: str | None = None
    priority: int = REPLY
    language: str = "en"
    # For channels that need a pre-approved template (WhatsApp outside 24 h):
    # the message key and its arguments, alongside the rendered text.
    key: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    user_id: int | None = None
    # A file to send with the text, e.g. ("mydata.json", "{...}"); channels that
    # cannot send files send its text.
    attachment: tuple[str, str] | None = None
    # A safeguarding alert to a person: it is retried until it is delivered, never given up.
    urgent: bool = False
    # Not a message: erase this range of the chat's messages (first, last message_ref), where the
    # channel can (Telegram, within 48 hours). Used by a reporter's quick exit.
    erase: tuple[str, str] | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "text": self.text,
                "choices": [[c.id, c.label] for c in self.choices],
                "image": self.image,
                "language": self.language,
                "key": self.key,
                "args": self.args,
                "attachment": list(self.attachment) if self.attachment else None,
                **({"urgent": True} if self.urgent else {}),
                **({"erase": list(self.erase)} if self.erase else {}),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_row(
        cls, channel: str, address: str, payload: str, priority: int, user_id: int | None
    ) -> Outbound:
        data = json.loads(payload)
        return cls(
            channel=channel,
            address=address,
            text=data["text"],
            choices=tuple(Choice(i, label) for i, label in data.get("choices", [])),
            image=data.get("image"),
            priority=priority,
            language=data.get("language", "en"),
            key=data.get("key"),
            args=data.get("args") or {},
            user_id=user_id,
            attachment=tuple(data["attachment"]) if data.get("attachment") else None,  # type: ignore[arg-type]
            urgent=bool(data.get("urgent")),
            erase=tuple(data["erase"]) if data.get("erase") else None,  # type: ignore[arg-type]
        )
