"""The curriculum's shared lists (config/curriculum.yaml): themes, and the answer words that
explanations must not open with."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.i18n import LANGUAGES

CURRICULUM_FILE = Path(__file__).resolve().parent.parent.parent / "config" / "curriculum.yaml"
# The punctuation that makes a word a verdict ("Yes.", "Not quite:", « Exact ! »), so that
# "No one may…", "Right to vote…" or "Non-violence…" still open an explanation.
_VERDICT_END = r"(?:\s*[.,!:;?…—–]|\s+-|$)"


def _fold(text: str) -> str:
    """Case and accents folded, so « Pas tout a fait » is caught as « Pas tout à fait »."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").casefold()


@dataclass(frozen=True)
class Curriculum:
    themes: tuple[str, ...] = ()
    answer_words: dict[str, tuple[str, ...]] | None = None

    @classmethod
    def load(cls, path: Path = CURRICULUM_FILE) -> Curriculum:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping with themes and answer_words")
        themes = tuple(str(t) for t in data.get("themes") or [])
        words = data.get("answer_words") or {}
        unknown = set(words) - set(LANGUAGES)
        if unknown:
            raise ValueError(f"{path}: answer_words: unknown languages {sorted(unknown)}")
        return cls(themes, {lang: tuple(str(w) for w in words.get(lang) or []) for lang in LANGUAGES})

    def opening_answer_word(self, text: str) -> str | None:
        """The answer word `text` opens with (as a verdict, followed by punctuation), if any.

        All languages' words are tried: English left in a translation is caught too."""
        folded = _fold(text.lstrip(" \"'«“‘(*_"))
        for word in sorted(
            {w for ws in (self.answer_words or {}).values() for w in ws}, key=len, reverse=True
        ):
            if re.match(re.escape(_fold(word)) + _VERDICT_END, folded):
                return word
        return None
