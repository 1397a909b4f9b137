"""What keeps a learner coming back: a streak of active days, badges, and a certificate per track.

Badges are earned once and announced once. A track (all exercises, all quizzes passed, all
lessons) finished for the first time offers a certificate, drawn with the name the learner
chooses. Nothing here runs without consent: no progress, no badges.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bot.content.models import Dialog
from bot.core.turn import Turn
from bot.i18n import N_, format_date
from bot.learning import queries as learning_queries
from bot.learning.certificate import CertificateText, render
from bot.messages import Choice
from bot.storage.media import MediaStore

BADGES = {
    "first_exercise": N_("First dialogue"),
    "first_quiz": N_("First quiz passed"),
    "perfect_score": N_("Perfect score"),
    "first_lesson": N_("First lesson"),
    "dialogue_builder": N_("Dialogue builder"),
    "quiz_master": N_("Quiz master"),
    "civic_champion": N_("Civic champion"),
    "streak_3": N_("Three days in a row"),
    "streak_7": N_("A week in a row"),
}
FIRST_BADGE = {"exercise": "first_exercise", "quiz": "first_quiz", "lesson": "first_lesson"}
TRACK_BADGE = {"exercise": "dialogue_builder", "quiz": "quiz_master", "lesson": "civic_champion"}
TRACK_TITLES = {
    "exercise": N_("Club Speak dialogue exercises"),
    "quiz": N_("Conflict-negotiation quizzes"),
    "lesson": N_("Civic-rights lessons"),
}
NAME_LIMIT = 40


def done(d: Dialog, p: learning_queries.Progress | None) -> bool:
    """Finished; for a quiz, passed (its best score reaches the pass mark)."""
    if p is None or p.status != "completed":
        return False
    if d.kind == "quiz" and p.max_score:
        return 100 * (p.best_score or 0) >= (d.pass_mark or 0) * p.max_score
    return True


async def streak(turn: Turn) -> int:
    """Consecutive days (Kigali time) with a message, ending today or yesterday."""
    since = turn.now - timedelta(days=400)
    stamps = await learning_queries.active_times(turn.conn, turn.user.pseudonym, since)
    tz = ZoneInfo(turn.timezone)
    days = {t.astimezone(tz).date() for t in stamps} | {turn.now.astimezone(tz).date()}
    day: date = turn.now.astimezone(tz).date()
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


async def award(turn: Turn, d: Dialog, first_try: bool = True) -> str | None:
    """Give the badges this completion earns; returns the track just finished, if any.

    A retry of missed questions can pass a quiz (and finish its track), but it is not a
    perfect score: that badge means no mistake."""
    if not turn.user.may_keep_progress:
        return None
    progress = await learning_queries.list_progress(turn.conn, turn.user.id)
    earned = await learning_queries.list_badges(turn.conn, turn.user.id)
    new: list[str] = []
    p = progress.get(d.id)
    if done(d, p):
        new.append(FIRST_BADGE[d.kind])
    if first_try and d.kind == "quiz" and p is not None and p.max_score and p.score == p.max_score:
        new.append("perfect_score")
    track = turn.content.by_kind(d.kind)
    if track and all(done(m, progress.get(m.id)) for m in track):
        new.append(TRACK_BADGE[d.kind])
    days = await streak(turn)
    new += [b for b, n in (("streak_3", 3), ("streak_7", 7)) if days >= n]
    new = [b for b in dict.fromkeys(new) if b not in earned]
    for badge in new:
        await learning_queries.add_badge(turn.conn, turn.user.id, badge, turn.now)
        turn.event("badge", d.id, badge=badge)
    if new:
        names = ", ".join(turn._(BADGES[b]) for b in new)
        turn.say(
            "🏅 "
            + turn.ngettext("New badge: {badges}", "New badges: {badges}", len(new)).format(badges=names)
        )
    return d.kind if TRACK_BADGE[d.kind] in new else None


def offer_certificate(turn: Turn, track: str) -> None:
    turn.data["certificate"] = track
    choices = []
    if turn.user.display_name:
        choices.append(Choice("own", turn.user.display_name[:20]))
    choices.append(Choice("skip", turn._("Not now")))
    turn.ask(
        turn._(
            "🎉 You finished the whole track: {track}! Your certificate is ready. "
            "Which name should it show? Write it, or choose:"
        ).format(track=turn._(TRACK_TITLES[track])),
        "certificate",
        choices,
    )


async def answer_certificate(turn: Turn, text: str | None, choice: Choice | None) -> bool:
    """The name for the certificate (typed, or the profile name), then send it."""
    track = turn.data.pop("certificate", None)
    if track not in TRACK_TITLES or (choice is not None and choice.id == "skip"):
        return False
    name = (turn.user.display_name if choice is not None else text) or ""
    name = " ".join(name.split())[:NAME_LIMIT]
    if not name:
        offer_certificate(turn, track)
        return True
    await send_certificate(turn, track, name)
    return False


async def send_certificate(turn: Turn, track: str, name: str) -> None:
    _ = turn._
    png = render(
        CertificateText(
            heading=_("Certificate of achievement"),
            awarded_to=_("awarded to"),
            name=name,
            for_completing=_("for completing"),
            track=_(TRACK_TITLES[track]),
            date=format_date(turn.now, turn.lang, turn.timezone),
        )
    )
    ref = turn.service(MediaStore).save(png)
    await learning_queries.add_certificate(turn.conn, turn.user.id, track, ref, turn.now)
    turn.event("certificate", track=track)
    turn.say(_("Your certificate: {track}. Well done!").format(track=_(TRACK_TITLES[track])), image=ref)
