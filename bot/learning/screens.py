"""The screens around the dialogs: main menu, module lists, progress."""

from __future__ import annotations

from bot.content.models import Dialog
from bot.core.turn import Turn
from bot.i18n import N_
from bot.learning import achievements
from bot.learning import queries as learning_queries
from bot.messages import Choice

KIND_LABELS = {"exercise": N_("Exercises"), "quiz": N_("Quizzes"), "lesson": N_("Lessons")}
KIND_PROMPTS = {
    "exercise": N_("Choose a dialogue exercise:"),
    "quiz": N_("Choose a negotiation quiz:"),
    "lesson": N_("Choose a civic-rights lesson:"),
}


async def menu(turn: Turn, intro: str | None = None) -> None:
    _ = turn._
    choices: list[Choice] = []
    d = turn.content.get(turn.state.dialog_id or "")
    if d is not None and turn.state.step_id:
        choices.append(Choice("continue", _("Continue ▶")))
    # Without consent the lessons stay open; exercises and quizzes keep answers, so they wait.
    kinds = ["lesson"] if turn.user.consent == "declined" else list(KIND_LABELS)
    for kind in kinds:
        if turn.content.by_kind(kind):
            choices.append(Choice(kind, _(KIND_LABELS[kind])))
    for entry in turn.menu_entries:  # what other domains offer this user (e.g. reporting)
        if await entry.visible(turn):
            choices.append(Choice(entry.id, _(entry.label)))
    if turn.user.consent == "declined":
        # Say what is here and why the rest is not, and how to change that.
        text = _(
            "Main menu. Lessons: your rights and duties. Exercises and quizzes keep your answers, so "
            "they open once you agree to that: send privacy to change your choice."
        )
    else:
        text = _(
            "Main menu. Exercises: practise the art of dialogue. Quizzes: test your negotiation "
            "skills. Lessons: your rights and duties."
        )
    if d is not None and turn.state.step_id:
        title = turn.content_text(d.id, "meta", "title", d.title)
        text += "\n" + _("Continue where you left off: {title}").format(title=title)
    turn.ask(f"{intro}\n\n{text}" if intro else text, "menu", choices)


def _title(turn: Turn, d: Dialog) -> str:
    return turn.content_text(d.id, "meta", "title", d.title)


async def module_list(turn: Turn, kind: str) -> None:
    done = await learning_queries.list_progress(turn.conn, turn.user.id)
    choices = []
    for d in turn.content.by_kind(kind):
        mark = "✅ " if achievements.done(d, done.get(d.id)) else ""
        choices.append(Choice(d.id, mark + _title(turn, d)))
    choices.append(Choice("menu", turn._("Main menu")))
    turn.data["list_kind"] = kind
    turn.ask(turn._(KIND_PROMPTS[kind]), "list", choices)


def bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else 0
    return "▓" * filled + "░" * (width - filled)


async def progress(turn: Turn) -> None:
    _ = turn._
    done = await learning_queries.list_progress(turn.conn, turn.user.id)
    lines = [_("Your progress")]
    total = finished = 0
    for kind, label in KIND_LABELS.items():
        modules = turn.content.by_kind(kind)
        if not modules:
            continue
        # Done means passed for a quiz: a failed quiz is not ticked, and counts once retried to a pass.
        n_done = sum(1 for d in modules if achievements.done(d, done.get(d.id)))
        total += len(modules)
        finished += n_done
        lines.append(f"\n{_(label)} {bar(n_done, len(modules))} {n_done}/{len(modules)}")
        for d in modules:
            p = done.get(d.id)
            if p is None:
                lines.append(f"○ {_title(turn, d)}")
                continue
            mark = "✅" if achievements.done(d, p) else "▶"
            score = ""
            if p.max_score:
                score = " — " + _("score {score}/{total}, best {best}").format(
                    score=p.score, total=p.max_score, best=p.best_score
                )
            lines.append(f"{mark} {_title(turn, d)}{score}")
    lines.insert(1, f"{bar(finished, total)} {finished}/{total}")
    if turn.user.may_keep_progress:
        days = await achievements.streak(turn)
        lines.append("\n🔥 " + turn.ngettext("{n} day in a row", "{n} days in a row", days).format(n=days))
        badges = await learning_queries.list_badges(turn.conn, turn.user.id)
        if badges:
            names = ", ".join(_(name) for badge, name in achievements.BADGES.items() if badge in badges)
            lines.append("🏅 " + _("Badges: {badges}").format(badges=names))
    turn.event("progress_viewed")
    turn.say("\n".join(lines))
