"""The fr and rw catalogs pass translate-toolkit's pofilter checks that fit them, and use the terms of
the content guide's glossary; `python -m bot i18n review-status` counts what still waits for a native
speaker.

Each check runs twice per language: on the code's strings and on the dialogs' (msgctxt
"<dialog id>/<step>/<field>"), so a failure says whose work it is.
"""

from __future__ import annotations

import os
import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po
from translate.filters import checks
from translate.filters.decorators import cosmetic, functional
from translate.storage import factory

from bot.config import PROJECT_ROOT
from bot.i18n import REVIEW_MARK, review_status
from tests.run_bot import run_bot

LOCALES = PROJECT_ROOT / "locales"
LANGS = ("fr", "rw")
PARTS = ("code", "dialogs")

# -- pofilter ------------------------------------------------------------------------------------

# The checks that fit our catalogs (`pofilter --listfilters`).
POFILTER_CHECKS = (
    "untranslated",
    "blank",
    "variables",
    "pythonbraceformat",
    "nplurals",
    "endpunc",
    "doublewords",
    "brackets",
    "numbers",
    "newlines",
    "tabs",
    "escapes",
    "startwhitespace",
    "endwhitespace",
    "doublespacing",
    "purepunc",
    "urls",
    "emails",
    "xmltags",
)
# The checks left out, and why.
POFILTER_EXCLUDED = {
    "unchanged": "loanwords and names stay as they are: Club, Module, District, Console, '{n} photo'",
    "acronyms": "ROLE, CHANNEL, RSVP are words to translate (RÔLE, URUHARE), not acronyms to keep",
    "startpunc": "French opens quotes with « and rw word order may start with a {placeholder} or a word",
    "puncspacing": "flags '{n}.' after a placeholder, and French's space before : ; ? !",
    "singlequoting": "the apostrophe is grammar in rw (rw'abiga) and fr (l'équipe)",
    "doublequoting": 'French quotes with « », rw with “ ” or " as its writers do',
    "sentencecount": "a translation may join or split sentences",
    "startcaps": "rw word order moves a lower-case word or a placeholder to the front",
    "simplecaps": "same reason as startcaps",
    "long": "Kinyarwanda runs 30-60% longer than English",
    "short": "a short French or rw phrase may say what a long English one does",
    "spellcheck": "no Kinyarwanda dictionary",
    "isfuzzy": "tests/test_catalogs.py already fails on fuzzy entries",
    "isreview": "the `# review: native` marks are counted by `i18n review-status`, not failures",
    "others": "accelerators, printf, functions, filepaths, options, kdecomments, credits, validchars, "
    "simpleplurals, musttranslatewords, notranslatewords, compendiumconflicts, hassuggestion: no such "
    "thing in our texts, or nothing configured for them",
}
# Single entries that may fail one check: (lang, msgctxt, msgid, check) -> reason.
POFILTER_EXEMPT = {
    (
        "fr",
        None,
        "Where did it happen? Choose the {level}, write its name, or share your location.",
        "brackets",
    ): "{level} (province, district…) has a gender in French: '({level})' avoids le/la",
    (
        "fr",
        None,
        "In {area}: which {level}? Choose it or write its name.",
        "brackets",
    ): "the same: '({level})' avoids le/la",
    ("fr", None, "Log out {username}", "brackets"): "the name in brackets is the usual form of this button",
    ("rw", None, "Log out {username}", "brackets"): "the name in brackets is the usual form of this button",
    (
        "rw",
        "budget_meeting/scene/text",
        "After umuganda, your village (umudugudu) holds its meeting to choose priorities for next year's "
        "plan. Your youth club asks you to speak for the young people. You will have two minutes.",
        "brackets",
    ): "the English glosses a Kinyarwanda word in brackets; in Kinyarwanda that word is the text itself",
    ("rw", "nvc/q1/options.late.label", "You came at 10", "numbers"): "Kinyarwanda counts the hours "
    "from 6 in the morning: 10 o'clock is 'saa yine'",
    (
        "rw",
        "nvc/q1/options.late.explanation",
        '"The meeting was at 9 and you came at 10" is a fact both can see.',
        "numbers",
    ): "the same: 9 and 10 o'clock are 'saa tatu' and 'saa yine'",
    (
        "rw",
        "help/words/text",
        "Words you can send at any time:\nmenu: the main menu\nlanguage: change your language\nprogress: "
        "what you have done\nhelp: this message, and a person to talk to\nstop: no more messages from us "
        "at all (send start to come back)",
        "brackets",
    ): "each Kinyarwanda command word is followed by the English one it also accepts, in brackets",
}

_PLURAL_MARK = re.compile(r"\((?:s|e|es|x)\)")  # member(s), invité(e)(s): a plural, not a bracket
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")


class _Checker(checks.StandardChecker):
    """pofilter's standard checks, with two narrow changes."""

    @cosmetic
    def brackets(self, str1: str, str2: str) -> bool:
        """Brackets match, once "(s)" plural marks are left out on both sides."""
        return super().brackets(_PLURAL_MARK.sub("", str1), _PLURAL_MARK.sub("", str2))

    @functional
    def numbers(self, str1: str, str2: str) -> bool:
        """Numbers match, except in a text with a clock time: fr writes "8 h", rw "saa mbiri"."""
        return True if _CLOCK.search(str1) else super().numbers(str1, str2)


@cache
def dialog_ids() -> frozenset[str]:
    ids = set()
    for path in (PROJECT_ROOT / "dialogs").glob("**/*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("id"):
            ids.add(str(data["id"]))
    return frozenset(ids)


def part_of(context: str | None) -> str:
    return "dialogs" if context and context.split("/", 1)[0] in dialog_ids() else "code"


def pofilter_failures(po: Path, lang: str, part: str) -> list[str]:
    store = factory.getobject(str(po))
    checker = _Checker(
        checkerconfig=checks.CheckerConfig(targetlanguage=lang), limitfilters=list(POFILTER_CHECKS)
    )
    failures = []
    for unit in store.units:
        if unit.isheader() or unit.isobsolete() or not unit.source:
            continue
        context = unit.getcontext() or None
        if part_of(context) != part:
            continue
        source = str(unit.source)
        for check, message in checker.run_filters(unit).items():
            if (lang, context, source, check) not in POFILTER_EXEMPT:
                failures.append(f"{lang} {context or ''} {source[:50]!r}: {check}: {message}")
    return failures


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("lang", LANGS)
def test_pofilter(lang: str, part: str) -> None:
    failures = pofilter_failures(LOCALES / lang / "LC_MESSAGES" / "messages.po", lang, part)
    assert failures == [], f"{len(failures)} pofilter failure(s):\n" + "\n".join(failures)


def test_pofilter_exemptions_name_real_entries() -> None:
    """An exemption for an entry that is gone is removed, so the list stays short."""
    for lang, context, msgid, check in POFILTER_EXEMPT:
        assert check in POFILTER_CHECKS
        assert (context, msgid) in entries(lang), (lang, context, msgid)


def test_pofilter_catches_a_broken_entry(tmp_path: Path) -> None:
    """The checks bite: a lost placeholder, a doubled word, a lost '?', a lost bracket, an empty one."""
    po = tmp_path / "messages.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Welcome to {club}!"\nmsgstr "Urakaza neza!"\n\n'
        'msgid "Choose your language"\nmsgstr "Hitamo hitamo ururimi"\n\n'
        'msgid "How old are you?"\nmsgstr "Ufite imyaka ingahe."\n\n'
        'msgid "(numbers last checked {date})"\nmsgstr "nimero zagenzuwe ku wa {date}"\n\n'
        'msgid "Call 116 for free."\nmsgstr "Hamagara 112 ku buntu."\n\n'
        'msgid "Not now"\nmsgstr ""\n',
        encoding="utf-8",
    )
    failures = "\n".join(pofilter_failures(po, "rw", "code"))
    for check in ("pythonbraceformat", "doublewords", "endpunc", "brackets", "numbers", "untranslated"):
        assert f": {check}:" in failures, (check, failures)
    # ...and the two narrow changes hold: "(s)" plurals and clock times.
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Sent to {n} member(s)."\nmsgstr "Byoherejwe ku banyamuryango {n}."\n\n'
        'msgid "From 8:00 to 11:00."\nmsgstr "Kuva saa mbiri kugeza saa tanu."\n',
        encoding="utf-8",
    )
    assert pofilter_failures(po, "rw", "code") == []


# -- glossary ------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, accents folded, apostrophes unified, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[’‘`´]", "'", text)
    return re.sub(r"\s+", " ", text).strip()


@cache
def glossary() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "config" / "glossary.yaml").read_text(encoding="utf-8"))


@cache
def entries(lang: str) -> dict[tuple[str | None, str], tuple[tuple[str, ...], tuple[str, ...]]]:
    """(msgctxt, msgid) -> (the English forms, the translated forms)."""
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    found = {}
    for m in catalog:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        found[(m.context, ids[0])] = (ids, strings)
    return found


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def glossary_failures(lang: str, part: str) -> list[str]:
    exempt = {(e["lang"], e["msgctxt"], e["msgid"], e["term"]) for e in glossary().get("exempt", [])}
    failures = []
    for (context, msgid), (ids, strings) in entries(lang).items():
        if part_of(context) != part:
            continue
        english = " ".join(_PLACEHOLDER.sub(" ", i) for i in ids)
        translated = fold(" ".join(strings))
        for term in glossary()["terms"]:
            wanted = [re.escape(fold(form)) for form in term["en"]]
            if not re.search(rf"\b(?:{'|'.join(wanted)})\b", fold(english)):
                continue
            if any(fold(form) in translated for form in term[lang]):
                continue
            if (lang, context, msgid, term["term"]["en"]) in exempt:
                continue
            failures.append(
                f"{lang} {context or ''} {msgid[:60]!r}: has {term['term']['en']!r} but not "
                f"{term['term'][lang]!r} (any of {term[lang]}): {' / '.join(strings)[:120]!r}"
            )
    return failures


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("lang", LANGS)
def test_glossary_terms_are_used(lang: str, part: str) -> None:
    failures = glossary_failures(lang, part)
    assert failures == [], f"{len(failures)} glossary miss(es):\n" + "\n".join(failures)


def avoided_words(lang: str, part: str) -> list[str]:
    rules = [r for r in glossary().get("avoid", []) if r["lang"] == lang]
    failures = []
    for (context, msgid), (_, strings) in entries(lang).items():
        if part_of(context) != part:
            continue
        text = " ".join(strings).casefold()
        for rule in rules:
            if rule.get("unless_en") and re.search(rule["unless_en"], msgid.casefold()):
                continue  # the English asks for the very word the rule keeps out elsewhere
            found = re.search(rule["pattern"], text)
            if found:
                failures.append(
                    f"{lang} {context or ''} {msgid[:50]!r}: {found.group()!r}, write {rule['use']!r} "
                    f"({rule['reason']}): {text[:100]!r}"
                )
    return failures


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("lang", LANGS)
def test_translations_avoid_the_reviewed_mistakes(lang: str, part: str) -> None:
    failures = avoided_words(lang, part)
    assert failures == [], f"{len(failures)} word(s) to replace:\n" + "\n".join(failures)


def test_avoided_words_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {
        (None, "a"): (("a",), ("Murakoze! Ikizamini kirarangiye.",)),
        (None, "b"): (("b",), ("Urakoze! Isuzuma rirarangiye.",)),
    }
    monkeypatch.setattr(f"{__name__}.entries", lambda lang: fake)
    assert len(avoided_words("rw", "code")) == 2
    fake = {(None, "c"): (("c",), ("Envoie confidentialite pour changer ta reponse.",))}
    assert len(avoided_words("fr", "code")) == 1
    fake[(None, "c")] = (("c",), ("Envoie confidentialité pour changer ta réponse.",))
    assert avoided_words("fr", "code") == []


def content_guide_glossary() -> list[dict[str, str]]:
    """The rows of the table under "## Glossary" in docs/CONTENT.md."""
    text = (PROJECT_ROOT / "docs" / "CONTENT.md").read_text(encoding="utf-8")
    section = text.split("\n## Glossary", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == ["English", "Kinyarwanda", "French"]
    return [
        dict(zip(("en", "rw", "fr"), (cell.strip() for cell in row.strip("|").split("|")), strict=True))
        for row in rows[2:]
    ]


def test_glossary_config_is_the_content_guides_glossary() -> None:
    assert [t["term"] for t in glossary()["terms"]] == content_guide_glossary()
    for term in glossary()["terms"]:
        for lang in ("en", "rw", "fr"):
            assert term[lang] and all(isinstance(form, str) and form for form in term[lang]), term


def test_glossary_exemptions_name_real_entries_and_say_why() -> None:
    terms = {t["term"]["en"] for t in glossary()["terms"]}
    for e in glossary().get("exempt", []):
        assert e["term"] in terms and len(e["reason"]) > 20, e
        assert (e["msgctxt"], e["msgid"]) in entries(e["lang"]), e


def test_glossary_check_catches_a_missing_term(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inflected forms pass; a translation without the term fails."""
    fake = {
        (None, "Choose a negotiation quiz:"): (("Choose a negotiation quiz:",), ("Hitamo isuzuma:",)),
        (None, "All clubs"): (("All clubs",), ("Amahuriro yose",)),
        (None, "Cancelled: {club}"): (("Cancelled: {club}",), ("Yahagaritswe: {club}",)),
        (None, "First quiz passed"): (("First quiz passed",), ("Ikizamini cya mbere watsinze",)),
        (None, "Cancel session"): (("Cancel session",), ("Gusubika inama",)),
        (None, "{club}: came"): (("{club}: came",), ("{club}: baje",)),  # a placeholder is no term
    }
    monkeypatch.setattr(f"{__name__}.entries", lambda lang: fake)
    failures = glossary_failures("rw", "code")
    assert len(failures) == 2, failures
    assert "'First quiz passed'" in failures[0] and "'Cancel session'" in failures[1]


# -- i18n review-status --------------------------------------------------------------------------


def _po(entries: list[tuple[str, str, bool]]) -> str:
    head = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
    return head + "".join(
        (f"# {REVIEW_MARK}\n" if marked else "") + f'msgid "{msgid}"\nmsgstr "{msgstr}"\n\n'
        for msgid, msgstr, marked in entries
    )


def test_review_status_counts_the_marked_entries_per_language(tmp_path: Path) -> None:
    for lang, marks in {"rw": (True, True, False), "fr": (True, False, False), "en": (False,) * 3}.items():
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text(
            _po([(f"Text {i}", f"{lang} {i}", marked) for i, marked in enumerate(marks)])
            + '# review: later\n# a translator\'s note\nmsgid "Other"\nmsgstr "x"\n',
            encoding="utf-8",
        )
    env = os.environ | {"LOCALES_DIR": str(tmp_path)}
    done = run_bot("i18n", "review-status", env=env)
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()[1:]]
    assert lines == [
        ["rw", "2", "of", "4"],
        ["fr", "1", "of", "4"],
        ["en", "0", "of", "4"],
        ["total", "3", "of", "12"],
    ]


def test_review_status_of_the_real_catalogs() -> None:
    env = os.environ.copy()
    env.pop("LOCALES_DIR", None)
    done = run_bot("i18n", "review-status", env=env)
    assert done.returncode == 0, done.stderr
    expected = {s.lang: s for s in review_status(LOCALES)}
    for line in done.stdout.splitlines()[1:-1]:
        lang, marked, _, total = line.split()
        assert (int(marked), int(total)) == (expected[lang].marked, expected[lang].entries)
    assert expected["rw"].marked > 0  # the Kinyarwanda still waits for a native speaker
    assert done.stdout.splitlines()[-1].split()[:2] == [
        "total",
        str(sum(s.marked for s in expected.values())),
    ]
