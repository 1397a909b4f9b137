"""The learner's safety and data: consent, distress and escalation, /mydata, /delete.

Consent follows Rwanda's Law Nº 058/2021: informed, in the learner's language,
withdrawable, and a guardian's under 16. A message that shows distress or abuse
always reaches a person when the learner asks for one, or at once in danger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from bot.care import queries as care_queries
from bot.care.safeguarding import Safeguarding, Severity
from bot.core.intents import normalise
from bot.core.turn import Turn
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, N_
from bot.messages import REPLY, Choice, Outbound
from bot.storage import repo
from bot.storage.media import MediaStore
from bot.storage.repo import iso

log = logging.getLogger(__name__)

AGE_BANDS = {"u16": N_("Under 16"), "16_17": "16–17", "18_24": "18–24", "25p": "25+"}
CONSENT_WORDS = {
    "given": N_("given"),
    "guardian_given": N_("given by a parent or guardian"),
    "guardian_pending": N_("waiting for a parent or guardian"),
    "declined": N_("not given"),
}

NOTICE = N_(
    "Before we start: what we keep and why. We store your chat number, your language, your age group, "
    "your answers and scores, so you can continue where you stopped and your club can see how many "
    "people learn. Staff see numbers, never your name or phone. Send mydata to see it, delete to erase "
    "it, privacy to change your choice."
)


CHOOSE_LANGUAGE = N_("Choose your language")
# Typed names for the language buttons, so "Français", "french" or "igifaransa" all work.
LANGUAGE_ALIASES = {
    "rw": ["kinyarwanda", "ikinyarwanda", "kinyarwandan"],
    "fr": ["francais", "french", "igifaransa", "fransa"],
    "en": ["english", "anglais", "icyongereza"],
}


# Greetings that say which language a new user writes in; their first word is a better guess
# than the phone's settings or country code.
GREETINGS = {
    "rw": ("muraho", "mwaramutse", "mwiriwe", "bite", "amakuru", "mwiriweho", "ni meza"),
    "fr": ("bonjour", "bonsoir", "salut", "coucou", "allo", "bonjour a tous"),
    "en": ("hello", "hi", "hey", "good morning", "good evening", "good afternoon"),
}


def guess_language(text: str | None) -> str | None:
    said = normalise(text or "")
    words = said.split()
    for lang, greetings in GREETINGS.items():
        if said in greetings or (words and words[0] in greetings):
            return lang
    return None


async def greet_in_their_language(turn: Turn, text: str | None) -> None:
    """A new user's first words ("muraho", "bonjour") set the language of the greeting; the
    three-language question still follows."""
    guess = guess_language(text)
    if guess is not None and guess != turn.user.language_hint:
        await care_queries.set_language_hint(turn.conn, turn.user.id, guess)
        turn.user = replace(turn.user, language_hint=guess)


def ask_language(turn: Turn, greet: bool = False) -> None:
    if greet:
        for text in turn.system_texts("welcome"):
            turn.say(text)
    # Asked in all three languages: the first guess may be wrong.
    question = " · ".join(turn.catalogs.gettext(lang, CHOOSE_LANGUAGE) for lang in LANGUAGES)
    turn.ask(question, "language", [Choice(lang, LANGUAGE_NAMES[lang]) for lang in LANGUAGES])


def help_(turn: Turn) -> None:
    texts = turn.system_texts("help")
    for text in texts or [turn._("Send menu, language, progress, help or stop at any time.")]:
        turn.say(text)
    turn.event("help_viewed")


def ask_age(turn: Turn) -> None:
    choices = [Choice(k, turn._(v) if k == "u16" else v) for k, v in AGE_BANDS.items()]
    turn.ask(turn._("How old are you?"), "age", choices)


def ask_consent(turn: Turn) -> None:
    if turn.user.age_band == "u16":
        text = (
            turn._(NOTICE)
            + "\n\n"
            + turn._(
                "Because you are under 16, a parent or guardian must agree first. Show them this message. "
                "Until then you can use the bot, but nothing about your progress is kept."
            )
        )
        choices = [Choice("guardian_yes", turn._("Guardian agrees")), Choice("later", turn._("Not now"))]
    else:
        text = turn._(NOTICE)
        choices = [Choice("yes", turn._("I agree")), Choice("no", turn._("No, thanks"))]
    turn.ask(text, "consent", choices)


async def answer_age(turn: Turn, choice: Choice) -> None:
    await care_queries.set_age_band(turn.conn, turn.user.id, choice.id)
    turn.user = await repo.get_user(turn.conn, turn.user.id) or turn.user
    ask_consent(turn)


async def answer_consent(turn: Turn, choice: Choice) -> str:
    """Record the choice; returns a line to say before the menu."""
    consent = {
        "yes": "given",
        "guardian_yes": "guardian_given",
        "no": "declined",
        "later": "guardian_pending",
        "withdraw": "declined",
    }[choice.id]
    if choice.id == "withdraw":
        await care_queries.forget_progress(turn.conn, turn.user.id)
    await care_queries.set_consent(turn.conn, turn.user.id, consent, turn.now)
    turn.user = await repo.get_user(turn.conn, turn.user.id) or turn.user
    turn.event("consent", value=consent, age_band=turn.user.age_band)
    if consent in ("given", "guardian_given"):
        return turn._("Thank you. Your progress will be kept.")
    if consent == "guardian_pending":
        return turn._("All right. Nothing about your progress is kept until a guardian agrees.")
    return turn._("No problem. You can still read the lessons; nothing about your answers is kept.")


def privacy(turn: Turn) -> None:
    """The notice again, with the choice that fits where the learner stands."""
    if turn.user.may_keep_progress:
        turn.ask(
            turn._(NOTICE),
            "consent",
            [Choice("withdraw", turn._("Withdraw consent")), Choice("keep", turn._("Keep it"))],
        )
    else:
        ask_consent(turn)


# -- distress and escalation -----------------------------------------------------


def helplines(turn: Turn) -> str:
    safeguarding = turn.service(Safeguarding)
    text = turn._("You can call:") + "\n" + safeguarding.helpline_text(turn.lang)
    if safeguarding.last_checked:
        text += "\n" + turn._("(numbers last checked {date})").format(date=safeguarding.last_checked)
    return text


async def offer_person(turn: Turn) -> None:
    """The safe word: helplines, and a person if the learner wants one."""
    turn.event("safe_word")
    turn.data["care_severity"] = Severity.CONCERN.value
    turn.data["care_excerpt"] = None
    turn.say(helplines(turn))
    turn.ask(
        turn._("Would you like a person from our team to contact you?"),
        "care",
        [Choice("contact", turn._("Yes, contact me")), Choice("no", turn._("Not now"))],
    )


async def on_distress(turn: Turn, severity: Severity, text: str | None, reason: str) -> None:
    """Reply with care, without repeating the disclosure; offer a person; pause the dialog."""
    _ = turn._
    turn.event("distress", severity=severity.value, reason=reason)
    if turn.screen != "care":  # where "continue" goes back to, once the learner is ready
        turn.data["care_return"] = turn.screen
    lines = [_("Thank you for telling me. What you feel matters, and you do not have to face this alone.")]
    lines.append(helplines(turn))
    if severity is Severity.IMMEDIATE:
        await escalate(turn, severity, reason, text)
        lines.append(_("I have asked a person from our team to contact you as soon as possible."))
        turn.say("\n\n".join(lines))
        pause(turn)
        return
    turn.data["care_excerpt"] = (text or "")[:500]
    turn.data["care_severity"] = severity.value
    turn.say("\n\n".join(lines))
    turn.ask(
        _("Would you like a person from our team to contact you?"),
        "care",
        [Choice("contact", _("Yes, contact me")), Choice("no", _("Not now"))],
    )


def pause(turn: Turn) -> None:
    if turn.screen != "care":  # where "continue" goes back to
        turn.data["care_return"] = turn.screen
    choices = [Choice("menu", turn._("Main menu"))]
    if turn.state.dialog_id and turn.state.step_id:
        choices.insert(0, Choice("continue", turn._("Continue ▶")))
    turn.ask(turn._("Take your time. When you are ready, choose what to do next."), "care", choices)


async def answer_care(turn: Turn, choice: Choice) -> bool:
    """Returns False when the learner chose to go on (continue or menu), for the caller to route."""
    if choice.id == "contact":
        severity = Severity(turn.data.pop("care_severity", Severity.CONCERN.value))
        await escalate(turn, severity, "asked", turn.data.pop("care_excerpt", None))
        turn.say(
            turn._("Thank you. A person from our team will contact you soon. You can keep talking to me.")
        )
        pause(turn)
        return True
    if choice.id == "no":
        turn.data.pop("care_excerpt", None)
        turn.say(turn._("That is all right. You can send help at any time."))
        pause(turn)
        return True
    return False


async def escalate(turn: Turn, severity: Severity, reason: str, excerpt: str | None) -> None:
    escalation_id = await care_queries.add_escalation(
        turn.conn, turn.user, severity.value, reason, excerpt, turn.now
    )
    turn.event("escalation", severity=severity.value, reason=reason)
    for (channel, address), *fallback in turn.service(Safeguarding).officers:
        officer = await repo.find_user(turn.conn, channel, address)
        lang = officer.lang if officer else "en"
        text = turn.catalogs.gettext(
            lang,
            N_(
                "Safeguarding alert #{id} ({severity}): learner {learner} on {channel} needs a person to "
                "contact them. Details: python -m bot escalations show {id}"
            ),
        ).format(
            id=escalation_id, severity=severity.value, learner=turn.user.pseudonym, channel=turn.user.channel
        )
        turn.out.append(
            Outbound(
                channel,
                address,
                text,
                priority=REPLY,
                language=lang,
                user_id=officer.id if officer else None,
                # WhatsApp needs an approved template outside the 24-hour window.
                key="safeguarding_alert",
                urgent=True,
                args={"id": escalation_id, "severity": severity.value, "learner": turn.user.pseudonym}
                # The officer's other channels, tried in turn if this one cannot deliver.
                | ({"fallback": [list(c) for c in fallback]} if fallback else {}),
            )
        )


# -- the learner's own data ------------------------------------------------------


async def my_data(turn: Turn) -> None:
    data = await care_queries.user_data(turn.conn, turn.user.id)
    user = data["user"]
    _ = turn._
    # Words a person reads, never the codes the database keeps ("18_24", "guardian_pending").
    band = user.get("age_band")
    consent = user.get("consent")
    lines = [
        _("What we store about you:"),
        _("Language: {language}").format(language=LANGUAGE_NAMES.get(user.get("language") or "", "-")),
        _("Age group: {age}").format(
            age=(_(AGE_BANDS[band]) if band == "u16" else AGE_BANDS[band]) if band in AGE_BANDS else "-"
        ),
        _("Consent: {consent}").format(
            consent=_(CONSENT_WORDS[consent]) if consent in CONSENT_WORDS else "-"
        ),
        _("Modules started: {n}").format(n=len(data["progress"])),
        _("Your written answers: {n}").format(n=len(data["reflections"])),
        _("Send delete to erase all of it."),
    ]
    turn.event("mydata_viewed")
    turn.say("\n".join(lines), attachment=("mydata.json", json.dumps(data, ensure_ascii=False, indent=1)))


def confirm_delete(turn: Turn) -> None:
    turn.ask(
        turn._(
            "Erase everything we store about you: your progress, your answers and your settings? "
            "This cannot be undone."
        ),
        "delete",
        [Choice("erase", turn._("Yes, erase it")), Choice("keep", turn._("No, keep it"))],
    )


async def erase(turn: Turn) -> None:
    turn.events.append(repo.Event("data_erased"))
    await repo.in_thread(turn.conn, repo.add_events, turn.user, turn.events, turn.now)
    turn.events.clear()
    media = turn.service(MediaStore)
    for ref in await repo.certificate_media(turn.conn, turn.user.id):
        media.delete(ref)  # a certificate carries the learner's name
    await care_queries.erase_user(turn.conn, turn.user.id)
    turn.erased = True
    turn.say(turn._("Done. Everything we stored about you is erased. Send hello if you want to start again."))
    # The learner has just written, so WhatsApp's 24-hour window is open; with their row gone the
    # channel could not tell, and would hold this answer for a template it has none of.
    done = turn.out[-1]
    turn.out[-1] = replace(done, args=done.args | {"inbound_at": iso(turn.now)})
    rows = await turn.conn.execute_fetchall("PRAGMA database_list")
    path = next((r[2] for r in rows if r[1] == "main"), "")
    if path:
        _spawn(scrub(path))


# -- leaving nothing on disk -----------------------------------------------------

# Every commit goes to the -wal file first, and stays there (and in the database file's free
# space) after a DELETE. The writer zeroes what it deletes (PRAGMA secure_delete); once the
# erasing turn has committed, a checkpoint copies the zeroed pages into the database file and
# TRUNCATE empties the -wal file, so the learner's words are in neither.
SCRUB_WAIT_S = 10.0  # how long one try waits for the writer to commit and for readers to move on
SCRUB_TRIES = 6
SCRUB_PAUSE_S = 10.0
_scrubs: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references to tasks


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _scrubs.add(task)
    task.add_done_callback(_scrubs.discard)


def _truncate_wal(path: str) -> bool:
    """Checkpoint on a connection of its own; it waits for the erasing turn's COMMIT (SQLite's
    busy handler), then copies the WAL into the file and empties it. False if it stayed busy."""
    conn = sqlite3.connect(path, timeout=SCRUB_WAIT_S, isolation_level=None)
    try:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    return bool(row) and row[0] == 0


async def scrub(path: str) -> None:
    for _ in range(SCRUB_TRIES):
        try:
            if await asyncio.to_thread(_truncate_wal, path):
                return
        except sqlite3.Error as exc:
            log.warning("emptying the WAL after an erasure failed: %s", exc)
        await asyncio.sleep(SCRUB_PAUSE_S)
    # A long read kept an old snapshot: the maintenance task empties the WAL once the bot is idle.
    log.warning("the WAL was not emptied after an erasure; maintenance will when the bot is idle")
