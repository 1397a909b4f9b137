"""Finding a phrase in what a learner typed, the way phones and teenagers type it.

Text and phrases are normalised alike: ’ and friends become ', case and accents go, a letter
typed three or more times counts once ("kiiill"), and words are compared joined, so "kill my
self", "killmyself" and "kill myself" are one phrase. A phrase with a word of five or more letters
(and another) also matches with one typo ("kil myself", "je veux mourrir", "ndashaka kwiyaura"),
found through
the deletion neighbourhood of each phrase (one dictionary lookup per variant, not an edit
distance per phrase), so the check stays cheap on a 4,000-character message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.intents import normalise

APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})
_REPEATS = re.compile(r"(\w)\1{2,}")
_NOT_WORD = re.compile(r"[^\w']+")
FUZZY_FROM = 5  # letters in a word before one typo is forgiven


def clean(text: str) -> str:
    """One space-separated, normalised line, padded with spaces (for whole-word replacement)."""
    text = normalise(text.translate(APOSTROPHES))
    text = _REPEATS.sub(r"\1", text)
    return " " + _NOT_WORD.sub(" ", text).strip() + " "


def _deletions(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass
class PhraseMatcher:
    """The phrases of one list (immediate, concern ...), ready to look up."""

    exact: set[str] = field(default_factory=set)
    neighbours: dict[str, str] = field(default_factory=dict)  # deletion variant -> joined phrase
    fuzzy_lengths: set[int] = field(default_factory=set)  # window lengths worth a fuzzy look
    # One typo cannot change both the first two and the last two letters of a phrase this long:
    # a window that shares neither with any fuzzy phrase is not worth its deletion variants.
    heads: set[str] = field(default_factory=set)
    tails: set[str] = field(default_factory=set)
    longest: int = 0

    @classmethod
    def of(cls, phrases: tuple[str, ...]) -> PhraseMatcher:
        matcher = cls()
        for phrase in phrases:
            words = clean(phrase).split()
            if not words:
                continue
            joined = "".join(words)
            matcher.exact.add(joined)
            matcher.longest = max(matcher.longest, len(joined))
            # Only phrases of several words: one typo in a lone word turns "amused" into "abused".
            if len(words) >= 2 and any(len(w) >= FUZZY_FROM for w in words):
                for variant in _deletions(joined):
                    matcher.neighbours.setdefault(variant, joined)
                matcher.fuzzy_lengths |= {len(joined) - 1, len(joined), len(joined) + 1}
                matcher.heads.add(joined[:2])
                matcher.tails.add(joined[-2:])
        return matcher

    def find(self, cleaned: str) -> str | None:
        """The phrase found in `cleaned` (the output of `clean`), or None."""
        words = cleaned.split()
        fuzzy = self.fuzzy_lengths
        for start in range(len(words)):
            window = ""
            for count, word in enumerate(words[start:], start=1):
                window += word
                if len(window) > self.longest + 1:
                    break
                if window in self.exact:
                    return window
                # Fuzzy phrases have several words, so a one-word window never needs a look.
                if (
                    count > 1
                    and len(window) in fuzzy
                    and (window[:2] in self.heads or window[-2:] in self.tails)
                ):
                    for variant in _deletions(window):
                        if variant in self.neighbours:
                            return self.neighbours[variant]
        return None
