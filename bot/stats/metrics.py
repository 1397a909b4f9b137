"""Engagement metrics, in one module of queries over events, progress and invitations.

Every metric takes the same `Filters` (clubs, district, language, channel, age band, dates).
People are counted by pseudonym only; nothing here reads a name, a phone number or a message.
Counts of people under 5 are shown as "<5" (`suppress`) wherever results are displayed.
What a million events would make slow is read from what migration 0012 keeps beside them: the
JSON figures as indexed columns, and who was active per day, week and month (`daily_active`,
`weekly_active`, `monthly_active`, kept by triggers on events); the learning gain reads the
pre-test answers' own index (migration 0013). The figures are the same as the
events give (tests/test_stats_rollups.py keeps the queries over the events to compare).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.storage import dialect
from bot.storage.repo import Conn, iso

SMALL = 5


@dataclass(frozen=True)
class Filters:
    club_ids: tuple[int, ...] | None = None  # None: every club, and learners in no club
    district: str | None = None
    language: str | None = None
    channel: str | None = None
    age_band: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, alias: str = "e") -> tuple[str, list[Any]]:
        """SQL conditions on an events table aliased `alias`."""
        parts: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            parts.append(f"{alias}.at >= ?")
            params.append(iso(self.since))
        if self.until is not None:
            parts.append(f"{alias}.at < ?")
            params.append(iso(self.until))
        return self._who(alias, parts, params)

    def _who(self, alias: str, parts: list[str], params: list[Any]) -> tuple[str, list[Any]]:
        """The conditions on who (language, channel, club and district's people) that the events
        and the `daily_active` roll-up share, after `parts`. An empty filter is no filter, so ''
        (no language yet) is never asked for."""
        if self.language:
            parts.append(f"{alias}.language = ?")
            params.append(self.language)
        if self.channel:
            parts.append(f"{alias}.channel = ?")
            params.append(self.channel)
        people, people_params = self.people()
        if people:
            parts.append(f"{alias}.actor IN ({people})")
            params += people_params
        return (" AND ".join(parts) or "1 = 1"), params

    def days(self) -> tuple[str | None, str | None] | None:
        """since and until as UTC days ("2026-11-01"), or None when either is not a UTC midnight
        (then only the events themselves can say what falls in the range).

        An event at or after midnight of a day is on that day or later: `at` is written as
        `iso()` writes it (microseconds, "+00:00"), so `at >= "<day>T00:00:00.000000+00:00"`
        holds exactly when `substr(at, 1, 10) >= day`."""
        out: list[str | None] = []
        for at in (self.since, self.until):
            if at is None:
                out.append(None)
            elif at.time() == datetime.min.time() and at.utcoffset() in (None, timedelta(0)):
                out.append(at.date().isoformat())
            else:
                return None
        return out[0], out[1]

    def where_days(self, alias: str = "a") -> tuple[str, list[Any]] | None:
        """SQL conditions on a table of (day, actor, channel, language) aliased `alias` (the
        `daily_active` roll-up), the same as `where()` on the events it rolls up; None when the
        dates are not whole days."""
        days = self.days()
        if days is None:
            return None
        parts: list[str] = []
        params: list[Any] = []
        since, until = days
        if since is not None:
            parts.append(f"{alias}.day >= ?")
            params.append(since)
        if until is not None:
            parts.append(f"{alias}.day < ?")
            params.append(until)
        return self._who(alias, parts, params)

    def who(self, alias: str = "e") -> tuple[str, list[Any]]:
        """The conditions on who (language, channel, clubs, district, age), without the dates."""
        return self._who(alias, [], [])

    def people(self) -> tuple[str, list[Any]]:
        """A sub-query of the pseudonyms these filters keep, or "" when they keep everyone."""
        joins, parts, params = "", [], []
        if self.club_ids is not None or self.district:
            joins = " JOIN memberships m ON m.user_id = u.id JOIN clubs c ON c.id = m.club_id"
        if self.club_ids is not None:
            parts.append(f"c.id IN ({','.join('?' * len(self.club_ids)) or 'NULL'})")
            params += list(self.club_ids)
        if self.district:
            parts.append("c.district = ?")
            params.append(self.district)
        if self.age_band:
            parts.append("u.age_band = ?")
            params.append(self.age_band)
        if not parts:
            return "", []
        return f"SELECT u.pseudonym FROM users u{joins} WHERE {' AND '.join(parts)}", params


def suppress(n: int) -> int | str:
    """People counts under 5 (but not 0) are shown as "<5", so nobody can be singled out."""
    return "<5" if 0 < n < SMALL else n


def part(n: int, base: int) -> int | str:
    """A part of a hidden total is hidden too: "<5 answers, 0 correct" would say all were wrong."""
    return "<5" if 0 < base < SMALL else suppress(n)


async def _rows(conn: Conn, sql: str, params: list[Any]) -> list[Any]:
    return list(await conn.execute_fetchall(sql, params))


# The ISO week of a day ("2026-W05"): the year and week of that week's Thursday. (Migration 0012's
# triggers write the weeks of `weekly_active` with this same expression.)
_ISO_WEEK = dialect.ISO_WEEK


async def active_by_period(conn: Conn, f: Filters) -> dict[str, list[tuple[str, int]]]:
    """Distinct active learners per day, ISO week and month.

    Counted in SQL, on the connection's thread: a million events make a hundred thousand
    (day, learner) pairs, and counting those in Python would stall the event loop, and with
    it every learner's reply. They are read from the roll-ups of migration 0012, kept by
    triggers as messages arrive: `daily_active` (a row per day a learner wrote), and
    `weekly_active` and `monthly_active` (a row per week and month), each read in order. With
    dates, weeks and months are counted from the days in the range; with dates that are not
    whole days (never from the dashboard or the command line), from the messages themselves.
    """
    rolled = f.where_days()
    if rolled is None:
        where, params = f.where()
        rows = await _rows(
            conn,
            "WITH d AS MATERIALIZED (SELECT DISTINCT substr(e.at, 1, 10) AS day, e.actor FROM events e "
            f"WHERE e.type = 'message_in' AND {where}) "
            "SELECT 'day', day, COUNT(*) FROM d GROUP BY 2 "
            f"UNION ALL SELECT 'week', {_ISO_WEEK}, COUNT(DISTINCT actor) FROM d GROUP BY 2 "
            "UNION ALL SELECT 'month', substr(day, 1, 7), COUNT(DISTINCT actor) FROM d GROUP BY 2",
            params,
        )
    elif f.since is None and f.until is None:
        where, params = rolled
        rows = await _rows(
            conn,
            f"SELECT 'day', a.day, COUNT(DISTINCT a.actor) FROM daily_active a WHERE {where} GROUP BY 2 "
            "UNION ALL SELECT 'week', a.week, COUNT(DISTINCT a.actor) FROM weekly_active a "
            f"WHERE {where} GROUP BY 2 "
            "UNION ALL SELECT 'month', a.month, COUNT(DISTINCT a.actor) FROM monthly_active a "
            f"WHERE {where} GROUP BY 2",
            params * 3,
        )
    else:
        where, params = rolled
        # A week is worked out once per day (p), not once per row.
        rows = await _rows(
            conn,
            f"WITH p AS MATERIALIZED (SELECT day, {_ISO_WEEK} AS week "
            f"FROM (SELECT DISTINCT a.day FROM daily_active a WHERE {where}) AS days) "
            f"SELECT 'day', a.day, COUNT(DISTINCT a.actor) FROM daily_active a WHERE {where} GROUP BY 2 "
            "UNION ALL SELECT 'week', p.week, COUNT(DISTINCT a.actor) FROM daily_active a "
            f"JOIN p ON p.day = a.day WHERE {where} GROUP BY 2 "
            "UNION ALL SELECT 'month', substr(a.day, 1, 7), COUNT(DISTINCT a.actor) FROM daily_active a "
            f"WHERE {where} GROUP BY 2",
            params * 4,
        )
    out: dict[str, list[tuple[str, int]]] = {"day": [], "week": [], "month": []}
    for period, key, n in rows:
        out[period].append((key, n))
    return {period: sorted(counts) for period, counts in out.items()}


async def active_learners(conn: Conn, f: Filters, period: str = "day") -> list[tuple[str, int]]:
    return (await active_by_period(conn, f))[period]


async def signups(conn: Conn, f: Filters) -> int:
    where, params = f.where()
    rows = await _rows(
        conn,
        f"SELECT COUNT(DISTINCT e.actor) FROM events e WHERE e.type = 'user_created' AND {where}",
        params,
    )
    return rows[0][0]


async def funnel(conn: Conn, f: Filters) -> list[dict[str, Any]]:
    """Per module: learners who started, who completed, and the completion rate."""
    where, params = f.where()
    counts: dict[str, dict[str, int]] = {}
    for kind in ("module_started", "module_completed"):
        # One type at a time: the (type, dialog_id, actor) index is read in order, no sort.
        rows = await _rows(
            conn,
            "SELECT e.dialog_id, COUNT(DISTINCT e.actor) FROM events e "
            f"WHERE e.type = ? AND e.dialog_id IS NOT NULL AND {where} GROUP BY e.dialog_id",
            [kind, *params],
        )
        for dialog, n in rows:
            counts.setdefault(dialog, {"module_started": 0, "module_completed": 0})[kind] = n
    return [
        {
            "module": dialog,
            "started": c["module_started"],
            "completed": c["module_completed"],
            "rate": round(c["module_completed"] / c["module_started"], 3) if c["module_started"] else None,
        }
        for dialog, c in sorted(counts.items())
    ]


async def quiz_scores(conn: Conn, f: Filters) -> list[dict[str, Any]]:
    """Per quiz: attempts, mean score in percent, and how many scored in each 20-point band."""
    where, params = f.where()
    # Summed in SQL, one row per quiz, for the same reason as active_by_period. The scores are
    # the JSON's, as columns (migration 0012) in an index of completions that holds every
    # column a filter reads: the events themselves are not read.
    lows = range(0, 100, 20)
    rows = await _rows(
        conn,
        "SELECT dialog_id, COUNT(*), SUM(pct), "
        # Each band by its bounds (the last takes 100 too): the same on both backends, where a
        # CAST to integer truncates on SQLite and rounds on PostgreSQL.
        + ", ".join(
            f"COUNT(*) FILTER (WHERE pct >= {lo}{f' AND pct < {lo + 20}' if lo < 80 else ''})" for lo in lows
        )
        + " FROM (SELECT e.dialog_id, 100.0 * e.score / e.max_score AS pct "
        "FROM events e INDEXED BY events_module_completed WHERE e.type = 'module_completed' "
        f"AND e.passed IS NOT NULL AND e.max_score > 0 AND {where}) AS scored "
        "GROUP BY dialog_id ORDER BY dialog_id",
        params,
    )
    return [
        {
            "quiz": quiz,
            "attempts": attempts,
            "mean": round(total / attempts, 1),
            "bands": {f"{lo}-{lo + 19 if lo < 80 else 100}": n for lo, n in zip(lows, bands, strict=True)},
        }
        for quiz, attempts, total, *bands in rows
    ]


async def hardest_questions(conn: Conn, f: Filters, limit: int = 10) -> list[dict[str, Any]]:
    """First answers only (not retries): the questions with the lowest correct rate first, those
    fewer than 5 learners answered last."""
    where, params = f.where()
    # `correct` and `retry` are the JSON's, as columns in an index of answers (migration 0012),
    # read in order of question.
    rows = await _rows(
        conn,
        "SELECT e.dialog_id, e.step_id, COUNT(*), SUM(e.correct) FROM events e "
        "INDEXED BY events_quiz_answer WHERE e.type = 'quiz_answer' AND COALESCE(e.retry, 0) = 0 "
        f"AND {where} GROUP BY e.dialog_id, e.step_id",
        params,
    )
    out = [
        {
            "quiz": r[0],
            "question": r[1],
            "answers": r[2],
            "correct": r[3] or 0,
            "rate": round((r[3] or 0) / r[2], 3),
        }
        for r in rows
    ]
    # A question too few learners answered is not known to be hard (its rate will be hidden):
    # those go last, so that they never push out a question whose rate can be shown.
    return sorted(out, key=lambda q: (q["answers"] < SMALL, q["rate"], q["quiz"], q["question"]))[:limit]


async def free_text(conn: Conn, f: Filters) -> dict[str, int]:
    where, params = f.where()
    rows = await _rows(
        conn,
        f"SELECT COUNT(*), COUNT(DISTINCT e.actor) FROM events e WHERE e.type = 'free_text' AND {where}",
        params,
    )
    return {"answers": rows[0][0], "learners": rows[0][1]}


async def badges(conn: Conn, f: Filters) -> dict[str, int]:
    where, params = f.where()
    rows = await _rows(
        conn,
        "SELECT e.badge, COUNT(DISTINCT e.actor) FROM events e INDEXED BY events_badge "
        f"WHERE e.type = 'badge' AND {where} GROUP BY 1 ORDER BY 1",
        params,
    )
    return {r[0]: r[1] for r in rows}


async def sessions(conn: Conn, f: Filters) -> dict[str, Any]:
    """Invitations sent and delivered, RSVP yes, and the attendance rate of those who said yes."""
    parts, params = ["1 = 1"], []
    if f.club_ids is not None:
        parts.append(f"s.club_id IN ({','.join('?' * len(f.club_ids)) or 'NULL'})")
        params += list(f.club_ids)
    if f.district:
        parts.append("s.club_id IN (SELECT id FROM clubs WHERE district = ?)")
        params.append(f.district)
    if f.since is not None:
        parts.append("s.starts_at >= ?")
        params.append(iso(f.since))
    if f.until is not None:
        parts.append("s.starts_at < ?")
        params.append(iso(f.until))
    # An invitation whose message was pruned from the outbox keeps its status in `delivery`.
    status = "COALESCE(o.status, i.delivery)"
    rows = await _rows(
        conn,
        "SELECT COUNT(DISTINCT s.id), COUNT(i.id), "
        f"COUNT(*) FILTER (WHERE {status} IN ('sent', 'delivered', 'read')), "
        f"COUNT(*) FILTER (WHERE {status} IN ('delivered', 'read')), COUNT(*) FILTER (WHERE i.rsvp = 'yes'), "
        "COUNT(*) FILTER (WHERE i.rsvp = 'yes' AND i.attended = 1), COUNT(*) FILTER (WHERE i.attended = 1) "
        "FROM club_sessions s LEFT JOIN invitations i ON i.session_id = s.id "
        f"LEFT JOIN outbox o ON o.id = i.outbox_id WHERE s.status = 'scheduled' AND {' AND '.join(parts)}",
        params,
    )
    n_sessions, invited, sent, delivered, yes, yes_came, attended = (v or 0 for v in rows[0])
    return {
        "sessions": n_sessions,
        "invited": invited,
        "sent": sent,
        "delivered": delivered,
        "rsvp_yes": yes,
        "attended": attended,
        "attendance_rate": round(yes_came / yes, 3) if yes else None,
    }


async def retention(conn: Conn, f: Filters) -> dict[str, Any]:
    """Of learners who signed up in the range: the share active again in days 7–13 and 28–34
    (from 7 days after the moment they signed up to, not including, 14 days after it; and from
    28 to 35)."""
    where, params = f.where()

    # A learner's days come from the `daily_active` roll-up (migration 0012), looked up by learner
    # and day: "7 days after" signing up is the day 7 days on, at the same time of day ("+00:00"
    # kept: UTC has no summer time), so the days strictly between the two ends count whole, and
    # on the two end days the last (and the first) message of the day says whether one fell
    # inside. The days' dates are worked out once per day of signing up (k), not per learner.
    def back(first: int, last: int) -> str:
        lo, hi, time = f"k.d{first}", f"k.d{last}", "substr(c.created, 11)"
        return (
            "COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM daily_active a WHERE a.actor = c.actor "
            f"AND a.day >= {lo} AND a.day <= {hi} "
            f"AND (a.day > {lo} OR a.last_at >= {lo} || {time}) "
            f"AND (a.day < {hi} OR a.first_at < {hi} || {time})))"
        )

    offsets = (7, 14, 28, 35)
    rows = await _rows(
        conn,
        "WITH c AS MATERIALIZED (SELECT e.actor, MIN(e.at) AS created FROM events e "
        f"WHERE e.type = 'user_created' AND {where} GROUP BY e.actor), "
        "k AS MATERIALIZED (SELECT d, "
        + ", ".join(f"date(d, '+{n} days') AS d{n}" for n in offsets)
        + " FROM (SELECT DISTINCT substr(created, 1, 10) AS d FROM c) AS days) "
        f"SELECT COUNT(*), {back(7, 14)}, {back(28, 35)} FROM c JOIN k ON k.d = substr(c.created, 1, 10)",
        params,
    )
    cohort, week_1, week_4 = rows[0][0], rows[0][1] or 0, rows[0][2] or 0
    return {
        "cohort": cohort,
        "week_1": round(week_1 / cohort, 3) if cohort else None,
        "week_4": round(week_4 / cohort, 3) if cohort else None,
    }


async def learning_gain(conn: Conn, f: Filters) -> list[dict[str, Any]]:
    """Per module with a pre-test: the learners who answered its items both before and after, their
    mean share right before (`pre`) and after (`post`), and the mean gain (`gain`), as fractions.

    A learner's pair for an item is their first `pre` answer to it (when they first met the
    module: a later `pre`, after a try that got as far as the content, is not "before") and the
    first `post` answer after that. Each learner's gain is (post right - pre right) / items paired;
    the module's is the mean over its learners, so gain = post - pre, on the same learners and the
    same items. The who-filters apply to every answer; the dates to the `post` answer: the gain
    shown for a period is the gain made in it.
    """
    who, who_params = f.who("e")
    who_x, _ = f.who("x")
    dates, date_params = Filters(since=f.since, until=f.until).where("pair")

    # Read from migration 0013's index of pre-test answers alone (item, learner, phase, time): the
    # first `pre` per item and learner in one pass in order, then a seek to the `post` after it.
    # The answer at that first moment is a seek too (`ok`): a column beside MIN() that is not
    # grouped is SQLite's alone, and PostgreSQL refuses it. (The learner's answer at that very
    # microsecond: the filters were met by the MIN's row.)
    def answer_at(alias: str, outer: str, phase: str) -> str:
        return (
            f"(SELECT {alias}.correct FROM events {alias} INDEXED BY events_pretest "
            f"WHERE {alias}.type = 'pretest' AND {alias}.dialog_id = {outer}.dialog_id "
            f"AND {alias}.step_id = {outer}.step_id AND {alias}.actor = {outer}.actor "
            f"AND {alias}.phase = '{phase}' AND {alias}.at = {outer}.at LIMIT 1)"
        )

    rows = await _rows(
        conn,
        "WITH first AS MATERIALIZED (SELECT e.dialog_id, e.step_id, e.actor, MIN(e.at) AS at "
        "FROM events e INDEXED BY events_pretest WHERE e.type = 'pretest' AND e.phase = 'pre' "
        f"AND {who} GROUP BY e.dialog_id, e.step_id, e.actor), "
        "pre AS MATERIALIZED (SELECT f.dialog_id, f.step_id, f.actor, f.at, "
        f"{answer_at('p', 'f', 'pre')} AS ok FROM first f), "
        # MIN(x.at) is the first `post` after it; `ok` is that answer's.
        "post AS MATERIALIZED (SELECT pre.dialog_id, pre.step_id, pre.actor, pre.ok AS pre_ok, "
        "MIN(x.at) AS at FROM pre JOIN events x INDEXED BY events_pretest ON x.type = 'pretest' "
        "AND x.dialog_id = pre.dialog_id AND x.step_id = pre.step_id AND x.actor = pre.actor "
        f"AND x.phase = 'post' AND x.at > pre.at AND {who_x} "
        "GROUP BY pre.dialog_id, pre.step_id, pre.actor, pre.ok), "
        "pair AS MATERIALIZED (SELECT q.dialog_id, q.actor, q.pre_ok, q.at, "
        f"{answer_at('y', 'q', 'post')} AS ok FROM post q), "
        "learner AS MATERIALIZED (SELECT pair.dialog_id, pair.actor, COUNT(*) AS items, "
        "SUM(COALESCE(pair.pre_ok, 0)) AS pre_ok, SUM(COALESCE(pair.ok, 0)) AS post_ok FROM pair "
        f"WHERE {dates} GROUP BY pair.dialog_id, pair.actor) "
        "SELECT dialog_id, COUNT(*), AVG(1.0 * pre_ok / items), AVG(1.0 * post_ok / items), "
        "AVG(1.0 * (post_ok - pre_ok) / items) FROM learner GROUP BY dialog_id ORDER BY dialog_id",
        [*who_params, *who_params, *date_params],
    )
    return [
        {"module": m, "learners": n, "pre": round(pre, 3), "post": round(post, 3), "gain": round(gain, 3)}
        for m, n, pre, post, gain in rows
    ]


def present_gain(gains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Learning gain as shown: fewer than 5 learners hide the learners and every figure of theirs."""
    return [
        {
            "module": g["module"],
            "learners": suppress(g["learners"]),
            **{k: g[k] if g["learners"] >= SMALL else "<5" for k in ("pre", "post", "gain")},
        }
        for g in gains
    ]


def signed_points(points: int, ngettext: Callable[[str, str, int], str]) -> str:
    """A gain in percentage points as people read it: "+30 points", "-5 points", "0 points", in
    the language of `ngettext` (the dashboard's words, or a chat turn's)."""
    return ngettext("{n} point", "{n} points", abs(points)).format(n=f"{points:+d}" if points else "0")


async def shown(conn: Conn, f: Filters) -> dict[str, Any]:
    """Every figure as shown to people (`present`), with the learning gain per module."""
    return {**present(await summary(conn, f)), "learning_gain": present_gain(await learning_gain(conn, f))}


@dataclass
class Summary:
    filters: Filters
    active_by_day: list[tuple[str, int]] = field(default_factory=list)
    active_by_week: list[tuple[str, int]] = field(default_factory=list)
    active_by_month: list[tuple[str, int]] = field(default_factory=list)
    signups: int = 0
    funnel: list[dict[str, Any]] = field(default_factory=list)
    quiz_scores: list[dict[str, Any]] = field(default_factory=list)
    hardest_questions: list[dict[str, Any]] = field(default_factory=list)
    free_text: dict[str, int] = field(default_factory=dict)
    badges: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, Any] = field(default_factory=dict)
    retention: dict[str, Any] = field(default_factory=dict)


async def summary(conn: Conn, f: Filters) -> Summary:
    active = await active_by_period(conn, f)
    return Summary(
        filters=f,
        active_by_day=active["day"],
        active_by_week=active["week"],
        active_by_month=active["month"],
        signups=await signups(conn, f),
        funnel=await funnel(conn, f),
        quiz_scores=await quiz_scores(conn, f),
        hardest_questions=await hardest_questions(conn, f),
        free_text=await free_text(conn, f),
        badges=await badges(conn, f),
        sessions=await sessions(conn, f),
        retention=await retention(conn, f),
    )


def present(s: Summary) -> dict[str, Any]:
    """The summary as shown to people: counts of people under 5 hidden, and rates built on
    fewer than 5 people hidden too (a rate of 1 in 2 names someone)."""

    def rate(value: float | None, base: int) -> float | str | None:
        return value if value is None or base >= SMALL else "<5"

    invited = s.sessions.get("invited", 0)

    return {
        "active_by_day": [(p, suppress(n)) for p, n in s.active_by_day],
        "active_by_week": [(p, suppress(n)) for p, n in s.active_by_week],
        "active_by_month": [(p, suppress(n)) for p, n in s.active_by_month],
        "signups": suppress(s.signups),
        "funnel": [
            {
                **m,
                "started": suppress(m["started"]),
                "completed": part(m["completed"], m["started"]),
                "rate": rate(m["rate"], m["started"]),
            }
            for m in s.funnel
        ],
        "quiz_scores": [
            {
                **q,
                "attempts": suppress(q["attempts"]),
                "mean": rate(q["mean"], q["attempts"]),
                "bands": {k: part(v, q["attempts"]) for k, v in q["bands"].items()},
            }
            for q in s.quiz_scores
        ],
        "hardest_questions": [
            {
                **q,
                "answers": suppress(q["answers"]),
                "correct": part(q["correct"], q["answers"]),
                "rate": rate(q["rate"], q["answers"]),
            }
            for q in s.hardest_questions
        ],
        "free_text": {
            # Answers by fewer than 5 learners are few too: "2 answers" would say "1 or 2 learners".
            "answers": part(s.free_text.get("answers", 0), s.free_text.get("learners", 0)),
            "learners": suppress(s.free_text.get("learners", 0)),
        },
        "badges": {k: suppress(v) for k, v in s.badges.items()},
        "sessions": {
            **s.sessions,
            "invited": suppress(invited),
            # Each of these counts some of the invited: "<5 invited, 2 sent, 0 delivered" is as
            # telling as "<5 answers, 0 correct".
            **{k: part(s.sessions.get(k, 0), invited) for k in ("sent", "delivered", "rsvp_yes", "attended")},
            "attendance_rate": rate(s.sessions.get("attendance_rate"), s.sessions.get("rsvp_yes", 0)),
        },
        "retention": {
            "cohort": suppress(s.retention.get("cohort", 0)),
            "week_1": rate(s.retention.get("week_1"), s.retention.get("cohort", 0)),
            "week_4": rate(s.retention.get("week_4"), s.retention.get("cohort", 0)),
        },
    }


def rows(shown: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(metric, key, value) rows, for CSV and tables."""
    out: list[tuple[str, str, Any]] = [("signups", "", shown["signups"])]
    for name in ("active_by_day", "active_by_week", "active_by_month"):
        out += [(name, period, n) for period, n in shown[name]]
    for m in shown["funnel"]:
        out += [("funnel", f"{m['module']}.{k}", m[k]) for k in ("started", "completed", "rate")]
    for q in shown["quiz_scores"]:
        out += [("quiz_scores", f"{q['quiz']}.{k}", q[k]) for k in ("attempts", "mean")]
        out += [("quiz_scores", f"{q['quiz']}.band.{band}", n) for band, n in q["bands"].items()]
    for q in shown["hardest_questions"]:
        out.append(("hardest_questions", f"{q['quiz']}/{q['question']}", q["rate"]))
    out += [("free_text", k, v) for k, v in shown["free_text"].items()]
    out += [("badges", k, v) for k, v in shown["badges"].items()]
    out += [("sessions", k, v) for k, v in shown["sessions"].items()]
    out += [("retention", k, v) for k, v in shown["retention"].items()]
    for g in shown.get("learning_gain", []):
        out += [("learning_gain", f"{g['module']}.{k}", g[k]) for k in ("learners", "pre", "post", "gain")]
    return out


async def sessions_by_club(conn: Conn, f: Filters) -> list[dict[str, Any]]:
    """Per club: invitations, RSVP yes, and attendance (for the dashboard chart)."""
    parts, params = ["s.status = 'scheduled'"], []
    if f.club_ids is not None:
        parts.append(f"c.id IN ({','.join('?' * len(f.club_ids)) or 'NULL'})")
        params += list(f.club_ids)
    if f.district:
        parts.append("c.district = ?")
        params.append(f.district)
    rows = await _rows(
        conn,
        "SELECT c.name, COUNT(i.id), COUNT(*) FILTER (WHERE i.rsvp = 'yes'), "
        "COUNT(*) FILTER (WHERE i.attended = 1) FROM clubs c "
        "JOIN club_sessions s ON s.club_id = c.id LEFT JOIN invitations i ON i.session_id = s.id "
        f"WHERE {' AND '.join(parts)} GROUP BY c.id ORDER BY c.name",
        params,
    )
    return [
        {
            "club": r[0],
            "invited": suppress(r[1] or 0),
            "yes": part(r[2] or 0, r[1] or 0),
            "attended": part(r[3] or 0, r[1] or 0),
        }
        for r in rows
    ]
