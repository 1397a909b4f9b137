"""Stats in the chat: staff see every club, facilitators their own, learners are refused."""

from __future__ import annotations

from datetime import timedelta

from bot.authz import Action, allowed, refuse
from bot.clubs import model as clubs
from bot.core.turn import Turn
from bot.stats import metrics as stats


async def stats_summary(turn: Turn) -> None:
    """Staff: the whole organisation. Facilitators: their own clubs. Last 30 days, no names."""
    _ = turn._
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    if allowed(turn.user.role, mine, Action.VIEW_ALL_STATS):
        club_ids, scope = None, _("all clubs")
    elif mine:
        club_ids = tuple(sorted(mine))
        scope = ", ".join(c.name for c in await clubs.clubs_by_ids(turn.conn, mine))
    else:
        refuse(turn, Action.VIEW_ALL_STATS)
        return
    f = stats.Filters(club_ids=club_ids, since=turn.now - timedelta(days=30))
    shown = stats.present(await stats.summary(turn.conn, f))
    started = sum(m["started"] for m in (await stats.funnel(turn.conn, f)))
    completed = sum(m["completed"] for m in (await stats.funnel(turn.conn, f)))
    active = shown["active_by_month"][-1][1] if shown["active_by_month"] else 0
    # The hardest question answered by enough learners to say (a rate of "<5" names no one).
    hardest = next((q for q in shown["hardest_questions"] if isinstance(q["rate"], float)), None)
    s = shown["sessions"]
    lines = [
        _("Figures for {scope}, last 30 days (no names; under 5 shown as <5):").format(scope=scope),
        _("Active learners: {n}").format(n=active),
        _("New learners: {n}").format(n=shown["signups"]),
        _("Modules: {completed} completed of {started} started").format(
            completed=stats.suppress(completed), started=stats.suppress(started)
        ),
        _("Sessions: {sessions}; invited {invited}, said yes {yes}, came {came}").format(
            sessions=s["sessions"], invited=s["invited"], yes=s["rsvp_yes"], came=s["attended"]
        ),
        _("Came back in week 1: {w1}; in week 4: {w4}").format(
            w1=percent(turn, shown["retention"]["week_1"]), w4=percent(turn, shown["retention"]["week_4"])
        ),
    ]
    if hardest is not None:
        lines.append(
            _("Hardest question: {question} ({rate} right)").format(
                question=question_text(turn, hardest["quiz"], hardest["question"]),
                rate=percent(turn, hardest["rate"]),
            )
        )
    lines += await gain_lines(turn, f)
    turn.event("stats_viewed")
    turn.say("\n".join(lines))


GAIN_LINES = 3  # modules in the chat; the dashboard lists them all


async def gain_lines(turn: Turn, f: stats.Filters) -> list[str]:
    """The learning gain of the modules most learners took before and after (with enough of them
    to say), by title; nothing when no module has a pre-test answered twice."""
    _ = turn._
    gains = stats.present_gain(await stats.learning_gain(turn.conn, f))
    if not gains:
        return []
    known = sorted(
        (g for g in gains if isinstance(g["gain"], float)), key=lambda g: (-g["learners"], g["module"])
    )
    if not known:
        return [_("Learning gain: too few learners answered both before and after yet.")]
    lines = [_("Learning gain (the same questions, before → after):")]
    for g in known[:GAIN_LINES]:
        lines.append(
            _("{module}: {before} → {after}, {gain} ({n} learners)").format(
                module=module_title(turn, g["module"]),
                before=percent(turn, g["pre"]),
                after=percent(turn, g["post"]),
                gain=stats.signed_points(round(100 * g["gain"]), turn.ngettext),
                n=g["learners"],
            )
        )
    if len(gains) > min(len(known), GAIN_LINES):
        lines.append(_("Every module is on the dashboard."))
    return lines


def module_title(turn: Turn, dialog_id: str) -> str:
    d = turn.content.get(dialog_id)
    return dialog_id if d is None else turn.content_text(d.id, "meta", "title", d.title)


def percent(turn: Turn, rate: float | str | None) -> str:
    """A rate as people read it: 45%, "too few answers" when hidden, – when there is none."""
    if rate is None:
        return "–"
    if isinstance(rate, str):
        return turn._("too few answers")
    return f"{round(100 * rate)}%"


def question_text(turn: Turn, quiz_id: str, step_id: str, limit: int = 80) -> str:
    """The question as the learner read it (shortened), with the quiz's title; never an id."""
    d = turn.content.get(quiz_id)
    if d is None:
        return turn._("a question that is no longer in the curriculum")
    title = turn.content_text(d.id, "meta", "title", d.title)
    try:
        step = d.step(step_id)
    except KeyError:
        return title
    text = turn.content_text(d.id, step.id, "text", step.text)
    text = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return turn._("“{question}” ({quiz})").format(question=text, quiz=title)
