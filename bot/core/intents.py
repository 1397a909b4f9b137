"""Understanding what a user typed: numbers, labels and aliases, after one normalisation.

Keywords for commands are registered by each domain with the router (bot.engine.router).
"""

from __future__ import annotations

import re
import unicodedata

from bot.messages import Choice

_PUNCT_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Casefolded, accents dropped, NFKC (so a full-width '２' is '2'), edges trimmed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = _SPACES.sub(" ", text).strip().casefold()
    return _PUNCT_EDGES.sub("", text)


def match_choice(
    text: str, choices: list[Choice], aliases: dict[str, list[str]] | None = None
) -> Choice | None:
    """A typed "2", " 2 ", "２", the label's text or a known alias picks that choice."""
    said = normalise(text)
    if not said:
        return None
    if said.isdigit():
        n = int(said)
        return choices[n - 1] if 1 <= n <= len(choices) else None
    for choice in choices:
        names = {normalise(choice.label), choice.id.casefold()}
        names.update(normalise(a) for a in (aliases or {}).get(choice.id, []))
        if said in names:
            return choice
    return None
