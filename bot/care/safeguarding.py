"""Spotting distress, abuse and hate in what learners write, from a staff-editable word list.

Matching is on whole words after `normalise()` (case and accents dropped), with the
benign look-alikes removed first, so "this homework is killing me" is not a
disclosure while "I want to kill myself" is.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml

from bot.core.intents import normalise
from bot.i18n import LANGUAGES

APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})


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
                sorted({normalise(p) for lang in by_lang for p in by_lang[lang] or [] if normalise(p)})
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
        # Phone keyboards type ’ (and some ʼ or `) where the word list has '.
        said = " " + re.sub(r"[^\w']+", " ", normalise(text.translate(APOSTROPHES))) + " "
        for phrase in self.benign:
            said = said.replace(f" {phrase} ", " ")
        return said

    @staticmethod
    @functools.cache
    def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
        # One alternation per list: every message is checked, so this is on the hot path.
        if not phrases:
            return re.compile(r"(?!x)x")
        return re.compile("(?<= )(?:" + "|".join(re.escape(p) for p in phrases) + ")(?= )")

    def _has(self, said: str, phrases: tuple[str, ...]) -> bool:
        return self._pattern(phrases).search(said) is not None

    def assess(self, text: str | None) -> Severity | None:
        if not text:
            return None
        said = self._clean(text)
        if self._has(said, self.immediate):
            return Severity.IMMEDIATE
        if self._has(said, self.concern):
            return Severity.CONCERN
        return None

    def is_hateful(self, text: str | None) -> bool:
        return bool(text) and self._has(self._clean(text or ""), self.hate)

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
