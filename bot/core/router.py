"""Routing by registration: domains tell the router what they answer; the engine looks it up.

A domain registers, in its own `register(router)`:
- commands: a name (also its slash command), trilingual keywords, and flags saying whether it
  works before a language is chosen or after the user sent STOP;
- screens: a name, or a namespace ending in `*` (`plan_*`), with the handler of an answer on
  that screen and, optionally, how to ask its question again;
- guards, at a named stage of the engine's fixed order (`safeguarding`, then `onboarding`);
- payload prefixes (buttons that answer at any time), typed-text hooks and deep-link prefixes.

The router knows no domain; the engine knows only the router. Modelled on aiogram's Router and
python-telegram-bot's handler groups, with lookups instead of a chain of `if`s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.intents import normalise
from bot.messages import Choice, Inbound

if TYPE_CHECKING:
    from bot.core.turn import Turn

CommandHandler = Callable[["Turn", "Command"], Awaitable[None]]
ScreenAnswer = Callable[["Turn", str | None, Choice | None], Awaitable[bool]]
Reprompt = Callable[["Turn"], Awaitable[bool]]
Guard = Callable[["Turn", Inbound], Awaitable[bool]]
PayloadHandler = Callable[["Turn", str], Awaitable[None]]
TextHook = Callable[["Turn", str], Awaitable[bool]]
Home = Callable[["Turn", str | None], Awaitable[None]]
LanguagePrompt = Callable[["Turn", bool], Awaitable[None]]

# The engine runs guards in this order; a guard that returns True has handled the message.
# Hooks at the "after" stage run once the current screen has taken the message.
STAGES = ("safeguarding", "onboarding", "after")


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None


@dataclass(frozen=True)
class CommandRoute:
    name: str
    handler: CommandHandler
    before_language: bool = False  # works before the user has chosen a language
    while_stopped: bool = False  # works after the user sent STOP


@dataclass(frozen=True)
class ScreenRoute:
    name: str
    answer: ScreenAnswer
    reprompt: Reprompt | None = None  # how to ask this screen's question again
    # Typed text is matched against the offered choices (a "2", a label, an alias) first.
    match_typed: bool = True
    aliases: dict[str, list[str]] | None = None
    needs_choice: bool = True  # False: the handler also takes free text
    # Ask again with the same buttons when nothing else is registered to re-ask.
    reask: bool = False
    during_onboarding: bool = False  # reachable before language and consent are settled
    expects_text: bool = False  # a not-understood answer is told to write a few words
    # When safeguarding reads what was typed here: "before" the answer (the default), "after"
    # it (the learner's own words are kept first, e.g. a free-text exercise answer), or
    # "never" (staff typing a form, such as a session topic about violence prevention).
    distress_check: str = "before"
    accepts_media: bool = False  # photos or a location are an answer here (`turn.inbound`)


@dataclass(frozen=True)
class MenuEntry:
    """An item a domain adds to the main menu, shown to those `visible` says may see it."""

    id: str
    label: str  # a msgid, translated when shown
    visible: Callable[[Turn], Awaitable[bool]]
    open: Callable[[Turn], Awaitable[None]]


@dataclass
class Router:
    commands: dict[str, CommandRoute] = field(default_factory=dict)
    keywords: dict[str, str] = field(default_factory=dict)
    argument_keywords: dict[str, str] = field(default_factory=dict)
    screens: dict[str, ScreenRoute] = field(default_factory=dict)
    namespaces: dict[str, ScreenRoute] = field(default_factory=dict)
    guards: dict[str, list[Guard]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    payloads: dict[str, PayloadHandler] = field(default_factory=dict)
    text_hooks: list[TextHook] = field(default_factory=list)
    deep_links: dict[str, PayloadHandler] = field(default_factory=dict)
    menu_entries: list[MenuEntry] = field(default_factory=list)  # what domains add to the main menu
    home: Home | None = None  # the main menu
    language_prompt: LanguagePrompt | None = None  # the first question, for a user with no language yet

    # -- registration -------------------------------------------------------------

    def command(
        self,
        name: str,
        keywords: tuple[str, ...] = (),
        *,
        with_argument: tuple[str, ...] = (),
        before_language: bool = False,
        while_stopped: bool = False,
    ) -> Callable[[CommandHandler], CommandHandler]:
        def register(handler: CommandHandler) -> CommandHandler:
            self._unique(self.commands, name, "command")
            self.commands[name] = CommandRoute(name, handler, before_language, while_stopped)
            for keyword in keywords:
                self._unique(self.keywords, normalise(keyword), "keyword")
                self.keywords[normalise(keyword)] = name
            for keyword in with_argument:
                self._unique(self.argument_keywords, normalise(keyword), "keyword")
                self.argument_keywords[normalise(keyword)] = name
            return handler

        return register

    def screen(self, name: str, **options: Any) -> Callable[[ScreenAnswer], ScreenAnswer]:
        def register(answer: ScreenAnswer) -> ScreenAnswer:
            route = ScreenRoute(name, answer, **options)
            if name.endswith("*"):
                self._unique(self.namespaces, name[:-1], "screen namespace")
                self.namespaces[name[:-1]] = route
            else:
                self._unique(self.screens, name, "screen")
                self.screens[name] = route
            return answer

        return register

    def guard(self, stage: str) -> Callable[[Guard], Guard]:
        if stage not in STAGES:
            raise ValueError(f"unknown guard stage {stage!r}; the stages are {', '.join(STAGES)}")

        def register(guard: Guard) -> Guard:
            self.guards[stage].append(guard)
            return guard

        return register

    def payload(self, prefix: str) -> Callable[[PayloadHandler], PayloadHandler]:
        def register(handler: PayloadHandler) -> PayloadHandler:
            self._unique(self.payloads, prefix, "payload prefix")
            self.payloads[prefix] = handler
            return handler

        return register

    def text_hook(self, hook: TextHook) -> TextHook:
        self.text_hooks.append(hook)
        return hook

    def deep_link(self, prefix: str) -> Callable[[PayloadHandler], PayloadHandler]:
        def register(handler: PayloadHandler) -> PayloadHandler:
            self._unique(self.deep_links, prefix, "deep link prefix")
            self.deep_links[prefix] = handler
            return handler

        return register

    def menu_entry(
        self, id: str, label: str, visible: Callable[[Turn], Awaitable[bool]]
    ) -> Callable[[Callable[[Turn], Awaitable[None]]], Callable[[Turn], Awaitable[None]]]:
        def register(open_: Callable[[Turn], Awaitable[None]]) -> Callable[[Turn], Awaitable[None]]:
            if any(e.id == id for e in self.menu_entries):
                raise ValueError(f"menu entry {id!r} is registered twice")
            self.menu_entries.append(MenuEntry(id, label, visible, open_))
            return open_

        return register

    def set_home(self, home: Home) -> Home:
        if self.home is not None:
            raise ValueError("a home screen is already registered")
        self.home = home
        return home

    def set_language_prompt(self, prompt: LanguagePrompt) -> LanguagePrompt:
        if self.language_prompt is not None:
            raise ValueError("a language prompt is already registered")
        self.language_prompt = prompt
        return prompt

    @staticmethod
    def _unique(table: dict[str, Any], key: str, what: str) -> None:
        if key in table:
            raise ValueError(f"{what} {key!r} is registered twice")

    # -- lookup ---------------------------------------------------------------------

    def parse(self, text: str) -> Command | None:
        """`/start club_K7Q2`, `/menu@ClubSpeakBot`, or a bare keyword such as "ururimi"."""
        stripped = text.strip()
        if stripped.startswith("/"):
            head, _, rest = stripped[1:].partition(" ")
            name = head.split("@", 1)[0].casefold()
            return Command(name, rest.strip() or None) if name in self.commands else None
        said = normalise(stripped)
        if said in self.keywords:
            return Command(self.keywords[said])
        head, _, rest = said.partition(" ")
        name = self.argument_keywords.get(head)
        return Command(name, stripped.split(None, 1)[1].strip() if rest else None) if name else None

    def screen_route(self, screen: str | None) -> ScreenRoute | None:
        if not screen:
            return None
        if screen in self.screens:
            return self.screens[screen]
        for prefix, route in self.namespaces.items():
            if screen.startswith(prefix):
                return route
        return None

    def payload_handler(self, payload: str) -> PayloadHandler | None:
        return next((h for prefix, h in self.payloads.items() if payload.startswith(prefix)), None)

    def deep_link_handler(self, argument: str) -> PayloadHandler | None:
        lowered = argument.lower()
        return next((h for prefix, h in self.deep_links.items() if lowered.startswith(prefix)), None)
