"""Every catalog is complete, not fuzzy, and keeps the source's {placeholders}."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po

from bot.config import PROJECT_ROOT
from bot.i18n import LANGUAGES, format_when, negotiate, placeholders


def catalog(lang: str):
    with (PROJECT_ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh)


def source_ids() -> set[tuple[str | None, str]]:
    with (PROJECT_ROOT / "locales" / "messages.pot").open("rb") as fh:
        pot = read_po(fh)
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in pot if m.id}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_complete_and_consistent(lang: str) -> None:
    cat = catalog(lang)
    problems = []
    seen = set()
    for m in cat:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        seen.add((m.context, ids[0]))
        where = f"{lang}: {m.context or ''} {ids[0][:50]!r}"
        if m.fuzzy:
            problems.append(f"{where} is fuzzy")
        if not all(strings):
            problems.append(f"{where} is not translated")
        for s in strings:
            if s and placeholders(s) != placeholders(ids[0]):
                problems.append(
                    f"{where} has placeholders {placeholders(s)} instead of {placeholders(ids[0])}"
                )
    missing = source_ids() - seen
    problems += [f"{lang}: {ctx or ''} {mid[:50]!r} is missing from the catalog" for ctx, mid in missing]
    assert problems == []


def test_translations_are_not_english_copies() -> None:
    for lang in ("fr", "rw"):
        cat = catalog(lang)
        copies = [m.id for m in cat if m.id and isinstance(m.id, str) and len(m.id) > 25 and m.string == m.id]
        assert copies == [], f"{lang}: English left untranslated: {copies[:3]}"


def test_kinyarwanda_plural_rule() -> None:
    assert catalog("rw").plural_expr == "(n != 1)"


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("rw", "rw"),
        ("rw-RW", "rw"),
        ("fr-CA", "fr"),
        ("fr", "fr"),
        ("en-US", "en"),
        ("rn", "rw"),
        ("sw", "en"),
        (None, "en"),
        ("", "en"),
        ("zz-invalid", "en"),
    ],
)
def test_language_negotiation(hint: str | None, expected: str) -> None:
    assert negotiate(hint) == expected


def test_dates_are_written_as_each_language_writes_them_in_kigali_time() -> None:
    moment = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)  # 15:00 in Kigali (UTC+2)
    # No seconds, no zone name, the day before the month, the 24-hour clock.
    assert format_when(moment, "en") == "Saturday, 5 December 2026, 15:00"
    assert format_when(moment, "fr") == "samedi 5 décembre 2026 à 15:00"
    assert format_when(moment, "rw") == "Ku wa Gatandatu, 5 Ukuboza 2026, saa 15:00"
    assert (
        format_when(datetime(2027, 1, 3, 7, 5, tzinfo=UTC), "rw") == "Ku Cyumweru, 3 Mutarama 2027, saa 09:05"
    )
