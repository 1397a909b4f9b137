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
    hardest = shown["hardest_questions"][0] if shown["hardest_questions"] else None
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
            w1=shown["retention"]["week_1"] if shown["retention"]["week_1"] is not None else "–",
            w4=shown["retention"]["week_4"] if shown["retention"]["week_4"] is not None else "–",
        ),
    ]
    if hardest is not None:
        lines.append(
            _("Hardest question: {question} ({rate} right)").format(
                question=f"{hardest['quiz']}/{hardest['question']}", rate=hardest["rate"]
            )
        )
    turn.event("stats_viewed")
    turn.say("\n".join(lines))
