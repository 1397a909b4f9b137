"""Understanding what a user typed: global keywords in three languages, numbers, labels."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from bot.engine.messages import Choice


class Intent(StrEnum):
    START = "start"
    MENU = "menu"
    LANGUAGE = "language"
    HELP = "help"
    PROGRESS = "progress"
    STOP = "stop"
    PRIVACY = "privacy"
    MYDATA = "mydata"
    DELETE = "delete"
    JOIN = "join"
    LEAVE = "leave"
    NEW_SESSION = "newsession"
    SESSIONS = "sessions"
    ANNOUNCE = "announce"
    GRANT = "grant"
    STATS = "stats"


# Whole-message keywords, compared after `normalise()`. Kinyarwanda first, as most
# learners write it; French and English follow. Slash commands map the same way.
KEYWORDS: dict[str, Intent] = {
    **dict.fromkeys(["menu", "ahabanza", "urutonde", "menyu", "accueil"], Intent.MENU),
    **dict.fromkeys(["language", "ururimi", "langue", "langues", "indimi"], Intent.LANGUAGE),
    **dict.fromkeys(["help", "ubufasha", "aide", "fasha", "nfasha", "au secours"], Intent.HELP),
    **dict.fromkeys(
        ["progress", "aho ngeze", "intambwe", "progres", "progression", "mes progres"], Intent.PROGRESS
    ),
    **dict.fromkeys(
        [
            "stop",
            "hagarara",
            "hagarika",
            "arrete",
            "arreter",
            "arret",
            "unsubscribe",
            "desabonner",
            "se desabonner",
        ],
        Intent.STOP,
    ),
    **dict.fromkeys(["privacy", "ibanga", "confidentialite", "consent", "consentement"], Intent.PRIVACY),
    **dict.fromkeys(["mydata", "my data", "amakuru yanjye", "mes donnees"], Intent.MYDATA),
    **dict.fromkeys(
        ["delete", "delete my data", "siba", "siba amakuru yanjye", "supprimer", "effacer"], Intent.DELETE
    ),
    **dict.fromkeys(["new session", "newsession", "inama nshya", "nouvelle seance"], Intent.NEW_SESSION),
    **dict.fromkeys(["sessions", "seances", "inama z'ihuriro"], Intent.SESSIONS),
    **dict.fromkeys(["announce", "announcement", "itangazo", "annonce"], Intent.ANNOUNCE),
    **dict.fromkeys(["stats", "statistics", "imibare", "statistiques"], Intent.STATS),
    **dict.fromkeys(
        ["start", "tangira", "ongera utangire", "commencer", "demarrer", "reprendre", "subscribe"],
        Intent.START,
    ),
}
COMMANDS: dict[str, Intent] = {i.value: i for i in Intent}
# Keywords followed by an argument: "join K7Q2", "injira K7Q2", "rejoindre K7Q2", "leave".
WITH_ARGUMENT: dict[str, Intent] = {
    **dict.fromkeys(["join", "injira", "rejoindre", "kwinjira"], Intent.JOIN),
    **dict.fromkeys(["leave", "sohoka", "quitter", "kuvamo"], Intent.LEAVE),
    "grant": Intent.GRANT,  # admins: "grant facilitator telegram:42 K7Q2"
}

_PUNCT_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Casefolded, accents dropped, NFKC (so a full-width '２' is '2'), edges trimmed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = _SPACES.sub(" ", text).strip().casefold()
    return _PUNCT_EDGES.sub("", text)


@dataclass(frozen=True)
class Command:
    intent: Intent
    argument: str | None = None


def parse_command(text: str) -> Command | None:
    """`/start club_K7Q2`, `/menu@ClubSpeakBot`, or a bare keyword such as "ururimi"."""
    stripped = text.strip()
    if stripped.startswith("/"):
        head, _, rest = stripped[1:].partition(" ")
        name = head.split("@", 1)[0].casefold()
        intent = COMMANDS.get(name)
        if intent:
            return Command(intent, rest.strip() or None)
        return None
    said = normalise(stripped)
    intent = KEYWORDS.get(said)
    if intent:
        return Command(intent)
    head, _, rest = said.partition(" ")
    intent = WITH_ARGUMENT.get(head)
    return Command(intent, stripped.split(None, 1)[1].strip() if rest else None) if intent else None


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
