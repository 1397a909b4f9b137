"""One inbound message being handled: who, where they are, and what we will say.

A Turn collects replies and events in memory; `Engine.handle` writes them in the
same transaction as the state change, so a crash loses the whole step or nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import aiosqlite

from bot.content.loader import Content
from bot.content.models import EndStep, SayStep, context
from bot.i18n import Catalogs
from bot.messages import REPLY, Choice, Inbound, Outbound
from bot.storage.repo import DialogState, Event, User

T = TypeVar("T")


class Services:
    """What domains share with their handlers (word lists, a media store, settings), looked up
    by type: the core carries them without knowing any of them."""

    def __init__(self, *values: object):
        self._by_type: dict[type, object] = {}
        for value in values:
            self.add(value)

    def add(self, value: object) -> None:
        self._by_type[type(value)] = value

    def get(self, kind: type[T]) -> T:
        value = self._by_type.get(kind)
        if value is None:
            raise LookupError(f"no {kind.__name__} was given to the engine")
        return value  # type: ignore[return-value]


# The longest text every channel takes in one message (WhatsApp's 1,600 characters).
MERGE_LIMIT = 1600


@dataclass
class Turn:
    conn: aiosqlite.Connection
    user: User
    state: DialogState
    content: Content
    catalogs: Catalogs
    now: datetime
    timezone: str = "Africa/Kigali"
    services: Services = field(default_factory=Services)
    out: list[Outbound] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # Set when the learner's data was erased in this turn: nothing more is written about them.
    erased: bool = False
    route: Any = None  # the ScreenRoute of the screen the message arrived on, if any
    scratch: dict[str, Any] = field(default_factory=dict)  # what handlers pass on within this turn
    inbound: Inbound | None = None  # the message being handled (its photos, location, chat ref)
    menu_entries: tuple[Any, ...] = ()  # what other domains add to the main menu (router.menu_entry)
    # The engine's way back, set by the engine: the current question again, or the main menu.
    _reprompt: Callable[[str | None], Awaitable[None]] | None = None
    _home: Callable[[str | None], Awaitable[None]] | None = None

    def service(self, kind: type[T]) -> T:
        return self.services.get(kind)

    async def reprompt(self, note: str | None = None) -> None:
        """Say `note`, then ask the current question again (same buttons, same ids)."""
        assert self._reprompt is not None, "only the engine makes a turn that can reprompt"
        await self._reprompt(note)

    async def home(self, intro: str | None = None) -> None:
        """The main menu (for a new user, the first question), after `intro`."""
        assert self._home is not None, "only the engine makes a turn that can go home"
        await self._home(intro)

    @property
    def lang(self) -> str:
        return self.user.lang

    @property
    def data(self) -> dict[str, Any]:
        assert self.state.data is not None
        return self.state.data

    @property
    def screen(self) -> str | None:
        return self.data.get("screen")

    # -- translation ----------------------------------------------------------

    def _(self, msgid: str) -> str:
        return self.catalogs.gettext(self.lang, msgid)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalogs.ngettext(self.lang, singular, plural, n)

    def content_text(self, dialog_id: str, step_id: str, field_name: str, source: str) -> str:
        return self.catalogs.gettext(self.lang, source, context(dialog_id, step_id, field_name))

    def system_texts(self, dialog_id: str) -> list[str]:
        """The messages of a system dialog (welcome, help), walked from first to end."""
        d = self.content.get(dialog_id)
        if d is None:
            return []
        texts, step_id, seen = [], d.first_step, set()
        while step_id not in seen:
            seen.add(step_id)
            step = d.step(step_id)
            texts.append(self.content_text(d.id, step.id, "text", step.text))
            if isinstance(step, EndStep) or not isinstance(step, SayStep):
                break
            step_id = step.next
        return texts

    # -- output ---------------------------------------------------------------

    def say(
        self,
        text: str,
        choices: tuple[Choice, ...] = (),
        image: str | None = None,
        attachment: tuple[str, str] | None = None,
    ) -> None:
        previous = self.out[-1] if self.out else None
        if (
            previous is not None
            and not (
                previous.choices or previous.image or previous.attachment or previous.key or previous.erase
            )
            and not image
            and len(previous.text) + 2 + len(text) <= MERGE_LIMIT
        ):
            # Text that only leads into the next message travels with it: one
            # notification and one paid WhatsApp message instead of several. An author
            # who wants a separate bubble gives the say step `pause: true`.
            self.out[-1] = replace(
                previous, text=f"{previous.text}\n\n{text}", choices=choices, attachment=attachment
            )
            return
        self.out.append(
            Outbound(
                channel=self.user.channel,
                address=self.user.address,
                text=text,
                choices=choices,
                image=image,
                priority=REPLY,
                language=self.lang,
                user_id=None if self.erased else self.user.id,
                attachment=attachment,
            )
        )

    def ask(
        self, text: str, screen: str, choices: list[Choice], image: str | None = None, new_prompt: bool = True
    ) -> None:
        """Send a prompt and remember what it offered, so a typed "2" or label resolves.

        Each new prompt bumps `prompt_seq`; button ids carry it, which is how a tap on an
        old keyboard is told apart from an answer to the current question.
        """
        if new_prompt:
            self.state.prompt_seq += 1
        self.data["screen"] = screen
        self.data["offer"] = [[c.id, c.label] for c in choices]
        # Kept so that asking again repeats the real question, never a bare list of buttons:
        # "1. Yes, erase it" under "What next?" would erase a learner's data by mistake.
        self.data["question"] = text
        seq = self.state.prompt_seq
        self.say(text, tuple(Choice(f"{seq}.{c.id}", c.label) for c in choices), image=image)

    def offered(self) -> list[Choice]:
        return [Choice(i, label) for i, label in self.data.get("offer", [])]

    def event(
        self, type_: str, dialog_id: str | None = None, step_id: str | None = None, **data: Any
    ) -> None:
        self.events.append(Event(type_, dialog_id, step_id, data or None))
