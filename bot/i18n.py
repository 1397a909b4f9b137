"""Languages: gettext catalogs read from .po at start-up, negotiation, dates.

Catalogs are parsed with Babel's `read_po` when the bot starts, so a translator's
edit is live after a restart with no stale `.mo` to forget.
"""

from __future__ import annotations

import gettext as _gettext
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = ("rw", "fr", "en")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"rw": "Ikinyarwanda", "fr": "Français", "en": "English"}
PLACEHOLDER = re.compile(r"(?<!\{)\{([a-zA-Z_][a-zA-Z0-9_]*)\}(?!\})")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@dataclass(frozen=True)
class _Lang:
    messages: dict[tuple[str | None, str], str | tuple[str, ...]]
    plural: Callable[[int], int]


class Catalogs:
    """All languages' translations, keyed by (msgctxt, msgid)."""

    def __init__(self, langs: dict[str, _Lang]):
        self._langs = langs

    @classmethod
    def load(cls, locales_dir: Path, languages: Iterable[str] = LANGUAGES) -> Catalogs:
        langs: dict[str, _Lang] = {}
        for lang in languages:
            path = locales_dir / lang / "LC_MESSAGES" / "messages.po"
            messages: dict[tuple[str | None, str], str | tuple[str, ...]] = {}
            plural: Callable[[int], int] = lambda n: int(n != 1)  # noqa: E731
            if path.is_file():
                with path.open("rb") as fh:
                    catalog = read_po(fh, locale=None)
                plural = _gettext.c2py(catalog.plural_expr or "(n != 1)")
                for m in catalog:
                    if not m.id or m.fuzzy:
                        continue
                    msgid = m.id[0] if isinstance(m.id, tuple) else m.id
                    if isinstance(m.string, tuple):
                        if all(m.string):
                            messages[(m.context, msgid)] = m.string
                    elif m.string:
                        messages[(m.context, msgid)] = m.string
            langs[lang] = _Lang(messages, plural)
        return cls(langs)

    def lookup(self, lang: str, msgid: str, context: str | None = None) -> str | None:
        """The translation, or None when it is missing, empty or fuzzy."""
        found = self._langs.get(lang)
        value = found.messages.get((context, msgid)) if found else None
        return value if isinstance(value, str) else None

    def gettext(self, lang: str, msgid: str, context: str | None = None) -> str:
        return self.lookup(lang, msgid, context) or msgid

    def ngettext(self, lang: str, singular: str, plural: str, n: int) -> str:
        found = self._langs.get(lang)
        forms = found.messages.get((None, singular)) if found else None
        if isinstance(forms, tuple):
            index = found.plural(n) if found else 0
            return forms[min(index, len(forms) - 1)]
        return singular if n == 1 else plural

    def translator(self, lang: str) -> Translator:
        return Translator(self, lang)


@dataclass(frozen=True)
class Translator:
    """Bound to one language, so code reads `_ = tr.gettext; _("Hello")`."""

    catalogs: Catalogs
    lang: str

    def gettext(self, msgid: str) -> str:
        return self.catalogs.gettext(self.lang, msgid)

    def pgettext(self, context: str, msgid: str) -> str:
        return self.catalogs.gettext(self.lang, msgid, context)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalogs.ngettext(self.lang, singular, plural, n)


def N_(msgid: str) -> str:
    """Mark a string for extraction where it is translated later."""
    return msgid


def negotiate(*hints: str | None) -> str:
    """Pick rw, fr or en from hints such as Telegram's `language_code`; else English."""
    for hint in hints:
        if not hint:
            continue
        try:
            tag = str(Locale.parse(hint.replace("-", "_")).language)
        except (ValueError, UnknownLocaleError):
            tag = hint.split("-")[0].split("_")[0].lower()
        if tag in LANGUAGES:
            return tag
        if tag == "rn":  # Kirundi: closest until a Kirundi catalog exists
            return "rw"
    return DEFAULT_LANGUAGE


# Kinyarwanda as it is written, which CLDR's data gets wrong ("2026 Ukuboza 5, Kuwa gatandatu").
RW_WEEKDAYS = (
    "Ku wa Mbere",
    "Ku wa Kabiri",
    "Ku wa Gatatu",
    "Ku wa Kane",
    "Ku wa Gatanu",
    "Ku wa Gatandatu",
    "Ku Cyumweru",
)
RW_MONTHS = (
    "Mutarama",
    "Gashyantare",
    "Werurwe",
    "Mata",
    "Gicurasi",
    "Kamena",
    "Nyakanga",
    "Kanama",
    "Nzeri",
    "Ukwakira",
    "Ugushyingo",
    "Ukuboza",
)


def format_when(value: datetime, lang: str, tz: str = "Africa/Kigali") -> str:
    """A session's day and time as each language writes it, without seconds or a zone name:
    "Saturday, 5 December 2026, 15:00", "samedi 5 décembre 2026 à 15:00",
    "Ku wa Gatandatu, 5 Ukuboza 2026, saa 15:00". The 24-hour clock everywhere: it is what
    schedules in Rwanda use, and it cannot be misread across the three languages on a shared phone
    (the traditional Kinyarwanda hours, "saa cyenda z'amanywa", count from 6 a.m.)."""
    local = value.astimezone(ZoneInfo(tz))
    time = f"{local.hour:02d}:{local.minute:02d}"
    if lang == "rw":
        day = f"{RW_WEEKDAYS[local.weekday()]}, {local.day} {RW_MONTHS[local.month - 1]} {local.year}"
        return f"{day}, saa {time}"
    if lang == "fr":
        return f"{_babel_format_date(local.date(), format='full', locale='fr')} à {time}"
    return f"{_babel_format_date(local.date(), format='full', locale='en_GB')}, {time}"


def format_date(value: datetime, lang: str, tz: str = "Africa/Kigali") -> str:
    """A date in words in the learner's language (for certificates), in Rwanda's time zone."""
    return _babel_format_date(value.astimezone(ZoneInfo(tz)).date(), format="long", locale=lang)


REVIEW_MARK = "review: native"


@dataclass(frozen=True)
class ReviewStatus:
    """How many of one language's entries still wait for a native speaker's review."""

    lang: str
    marked: int
    entries: int


def review_status(locales_dir: Path, languages: Iterable[str] = LANGUAGES) -> list[ReviewStatus]:
    """Per language, the entries whose translator comment says `review: native` (the lead writes it
    for every translation a native speaker has not yet read), out of all entries of the catalog."""
    found = []
    for lang in languages:
        path = locales_dir / lang / "LC_MESSAGES" / "messages.po"
        marked = entries = 0
        if path.is_file():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=None)
            for m in catalog:
                if not m.id:
                    continue
                entries += 1
                marked += any(c.strip() == REVIEW_MARK for c in m.user_comments)
        found.append(ReviewStatus(lang, marked, entries))
    return found


def _without_stamps(po: bytes) -> bytes:
    """A catalog without the header lines that change on every run."""
    return re.sub(rb'"(POT-Creation-Date|PO-Revision-Date|Generated-By): [^"]*"\n', b"", po)


def update_catalogs(root: Path) -> list[Path]:
    """Extract every string (code and dialogs) and merge it into each language's .po.

    The same as `pybabel extract` + `pybabel init/update` (see README), plus two
    things Babel does not do: English entries are filled with the source text,
    and Kinyarwanda gets its plural rule.
    """
    import contextlib
    import os

    from babel.messages.frontend import CommandLineInterface
    from babel.messages.pofile import write_po

    locales = root / "locales"
    pot = locales / "messages.pot"
    fresh = locales / "messages.pot.new"
    cwd = Path.cwd()
    os.chdir(root)  # babel.cfg patterns are relative to the project root
    try:
        CommandLineInterface().run(
            [
                "pybabel",
                "-q",
                "extract",
                "-F",
                "babel.cfg",
                "--no-location",
                "--omit-header",
                "-c",
                "TRANSLATORS:",
                "-o",
                str(fresh.relative_to(root)),
                ".",
            ]
        )
        fresh.replace(pot)  # only a complete extraction replaces the template
        written = []
        for lang in LANGUAGES:
            po = locales / lang / "LC_MESSAGES" / "messages.po"
            before = po.read_bytes() if po.exists() else b""
            action = "update" if po.exists() else "init"
            CommandLineInterface().run(
                ["pybabel", "-q", action, "-i", str(pot), "-d", str(locales), "-l", lang]
            )
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
            if lang == "rw":
                catalog._num_plurals, catalog._plural_expr = 2, "(n != 1)"
            if lang == DEFAULT_LANGUAGE:
                for message in catalog:
                    if message.id and (message.fuzzy or not message.string or not any(message.string)):
                        message.string = message.id
                        message.flags.discard("fuzzy")
            with po.open("wb") as fh:
                write_po(fh, catalog, width=100, omit_header=False, include_previous=False)
            if _without_stamps(po.read_bytes()) == _without_stamps(before):
                po.write_bytes(before)  # nothing changed but the dates: leave the tree clean
            written.append(po)
        return written
    finally:
        fresh.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.chdir(cwd)
