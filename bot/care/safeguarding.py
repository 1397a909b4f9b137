"""Spotting distress, abuse and hate in what learners write, from a staff-editable word list.

Matching is on whole words after `phrases.clean()` (apostrophes, case, accents, repeated
letters), joined or split words and one typo in longer phrases forgiven, with the benign
look-alikes removed first, so "this homework is killing me" is not a disclosure while
"I want to kill myself" (or "kil my self") is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml

from bot.care.phrases import PhraseMatcher, clean
from bot.i18n import LANGUAGES

HUMOUR_WORDS = {"lol", "mdr", "ptdr", "haha", "hahaha", "hihi", "xd", "jk", "lmao"}
HUMOUR_EMOJI = ("😂", "🤣", "😆", "😅", "😹")


def is_joking(text: str, said: str) -> bool:
    return any(e in text for e in HUMOUR_EMOJI) or any(w in HUMOUR_WORDS for w in said.split())


class Severity(StrEnum):
    IMMEDIATE = "immediate"
    CONCERN = "concern"


@dataclass(frozen=True)
class Helpline:
    number: str
    names: dict[str, str]


@dataclass(frozen=True)
class Safeguarding:
    immediate: tuple[str, ...] = ()
    concern: tuple[str, ...] = ()
    hate: tuple[str, ...] = ()
    benign: tuple[str, ...] = ()
    helplines: tuple[Helpline, ...] = ()
    last_checked: str = ""
    officers: tuple[tuple[tuple[str, str], ...], ...] = field(default=())  # each officer's contacts

    @classmethod
    def load(cls, path: Path, officers: str | None = None) -> Safeguarding:
        """Read the word lists (all languages pooled: learners mix languages) and helplines."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping with immediate, concern, hate, benign, helplines")

        def phrases(key: str) -> tuple[str, ...]:
            by_lang = data.get(key) or {}
            unknown = set(by_lang) - set(LANGUAGES)
            if unknown:
                raise ValueError(f"{path}: {key}: unknown languages {sorted(unknown)}")
            return tuple(
                sorted(
                    {clean(p).strip() for lang in by_lang for p in by_lang[lang] or [] if clean(p).strip()}
                )
            )

        lines = data.get("helplines") or {}
        helplines = tuple(
            Helpline(str(n["number"]), dict(n.get("name") or {})) for n in lines.get("numbers") or []
        )
        return cls(
            immediate=phrases("immediate"),
            concern=phrases("concern"),
            hate=phrases("hate"),
            benign=phrases("benign"),
            helplines=helplines,
            last_checked=str(lines.get("last_checked") or ""),
            officers=parse_officers(officers),
        )

    def _clean(self, text: str) -> str:
        said = clean(text)
        for phrase in self.benign:
            said = said.replace(f" {phrase} ", " ")
        return said

    @staticmethod
    @functools.cache
    def _matcher(phrases: tuple[str, ...]) -> PhraseMatcher:
        return PhraseMatcher.of(phrases)

    def assess(self, text: str | None) -> Severity | None:
        """IMMEDIATE (a person is alerted at once), CONCERN (the learner is asked), or None.
        A joke marker ("lol", 😂) turns an immediate phrase into a question first."""
        if not text:
            return None
        said = self._clean(text)
        if self._matcher(self.immediate).find(said):
            return Severity.CONCERN if is_joking(text, said) else Severity.IMMEDIATE
        if self._matcher(self.concern).find(said):
            return Severity.CONCERN
        return None

    def is_hateful(self, text: str | None) -> bool:
        return bool(text) and self._matcher(self.hate).find(self._clean(text or "")) is not None

    def helpline_text(self, lang: str) -> str:
        return "\n".join(
            f"☎ {h.number}: {h.names.get(lang) or h.names.get('en', '')}" for h in self.helplines
        )


def parse_officers(value: str | None) -> tuple[tuple[tuple[str, str], ...], ...]:
    """`telegram:123|whatsapp:whatsapp:+250788000000, telegram:456` → one tuple of contacts
    (channel, address) per officer. Commas separate officers; `|` separates one officer's
    channels, tried in order when an alert cannot be delivered on the one before."""
    officers = []
    for item in (value or "").split(","):
        contacts = []
        for contact in item.split("|"):
            contact = contact.strip()
            if not contact:
                continue
            channel, sep, address = contact.partition(":")
            if not sep or not address:
                raise ValueError(f"SAFEGUARDING_OFFICERS: {contact!r} is not CHANNEL:ADDRESS")
            contacts.append((channel, address))
        if contacts:
            officers.append(tuple(contacts))
    return tuple(officers)
