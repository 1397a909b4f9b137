"""The committee's pages at /dashboard/reports: the review queue, a report with its review
actions, and the overview.

They ride on the staff dashboard's login: its sessions, its signed cookie and its CSRF tokens,
its security headers (no script at all; base.html's one stylesheet). Only a dashboard login with
a reports role (committee or admin) gets in, and every report it opens goes through
`review.open_report`, held to the login's areas: a report out of them and one that does not
exist get the same 404. A reviewer only ever sees a reporter's code; an admin can resolve it,
with a reason, and that lookup is logged before the answer is read.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.config import Settings
from bot.i18n import Catalogs
from bot.messages import utcnow
from bot.reports import model, photos, review
from bot.reports.cli import reviewer_login
from bot.reports.config import EarlyWarning
from bot.reports.dashboard import charts
from bot.reports.model import Filters, Report, ReportError
from bot.reports.overview import overview
from bot.reports.review import Reviewer
from bot.stats.dashboard import charts as stats_charts
from bot.stats.dashboard.accounts import Account, Signer, session_account
from bot.stats.dashboard.web import SESSION, _secured
from bot.storage.db import Database
from bot.storage.repo import Conn

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATS_TEMPLATES = HERE.parent.parent / "stats" / "dashboard" / "templates"
# Our templates first, then the staff dashboard's: ours extend its base.html, whose one
# stylesheet is the only one the Content-Security-Policy allows.
TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(HERE / "templates"), jinja2.FileSystemLoader(STATS_TEMPLATES)]
        ),
        autoescape=True,
    )
)
PAGE_SIZE = 50
BASE = "/dashboard/reports"

STATUS_LABELS = {
    "received": "received",
    "in_review": "in review",
    "verified": "verified",
    "unverifiable": "unverifiable",
    "referred": "referred",
    "closed": "closed",
}
PEOPLE_LABELS = {
    "none": "nobody",
    "1_5": "1 to 5 people",
    "6_20": "6 to 20 people",
    "21p": "more than 20 people",
    "unknown": "not known",
}
# What a redirect after an action may say: fixed words only, so a link cannot put text of its
# own choosing on the page.
DONE = {
    "claimed": "You claimed this report: others cannot change it while you review it.",
    "released": "You released this report.",
    "urgency": "Urgency saved.",
    "checklist": "Checklist saved.",
    "note": "Note added.",
    "duplicate": "Marked as a duplicate.",
    "status": "Status changed; the reporter will be told.",
    "referral": "Referral recorded; the reporter will be told.",
    "trusted": "The reporter is now marked trusted.",
}


class Denied(Exception):
    """The request ends here with this response (a redirect to the login, a 403, a 404)."""

    def __init__(self, response: Response):
        self.response = response


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Denied as denied:
            return denied.response

    return endpoint


@dataclass(frozen=True)
class Visitor:
    account: Account
    reviewer: Reviewer
    cookie: str  # the signed session cookie: CSRF tokens are bound to it


@dataclass
class ReportsPages:
    db: Database
    settings: Settings
    ew: EarlyWarning
    catalogs: Catalogs
    # Wakes a channel's sender: a status update or an alert goes out now, not at the next poll.
    outbox_changed: Callable[[str], None] = lambda channel: None
    _signer: Signer = field(init=False)

    def __post_init__(self) -> None:
        # The staff dashboard signs sessions with this very secret (App.create sets one per
        # process when none is configured), so one login opens both.
        self._signer = Signer((self.settings.dashboard_secret or secrets.token_hex(32)).encode())

    @classmethod
    def create(
        cls, db: Database, settings: Settings, outbox_changed: Callable[[str], None] | None = None
    ) -> ReportsPages:
        ew = EarlyWarning.load(settings.reports_file, settings.areas_dir, settings.reports_open)
        return cls(db, settings, ew, Catalogs.load(settings.locales_dir), outbox_changed or (lambda c: None))

    def routes(self) -> list[BaseRoute]:
        actions: dict[str, Handler] = {
            "claim": self.claim,
            "release": self.release,
            "urgency": self.urgency,
            "checklist": self.checklist,
            "note": self.note,
            "duplicate": self.duplicate,
            "status": self.status,
            "referral": self.referral,
            "trusted": self.trusted,
            "reveal": self.reveal,
        }
        routes: list[BaseRoute] = [
            Route(BASE, _secured(_guarded(self.queue_page)), methods=["GET"]),
            Route(f"{BASE}/overview", _secured(_guarded(self.overview_page)), methods=["GET"]),
            Route(BASE + "/{ref}", _secured(_guarded(self.report_page)), methods=["GET"]),
            Route(BASE + "/{ref}/photos/{n:int}", _secured(_guarded(self.photo)), methods=["GET"]),
        ]
        routes += [
            Route(BASE + "/{ref}/" + name, _secured(_guarded(handler)), methods=["POST"])
            for name, handler in actions.items()
        ]
        return routes

    # -- who is asking --------------------------------------------------------------------

    def signer(self, request: Request) -> Signer:
        return self._signer

    async def _visitor(self, request: Request) -> Visitor:
        cookie = request.cookies.get(SESSION) or ""
        token = self.signer(request).unsign(cookie)
        account = None if token is None else await session_account(self.db, token, utcnow())
        if account is None:
            raise Denied(RedirectResponse("/dashboard/login", status_code=303))
        try:
            async with self.db.reader() as conn:
                reviewer = await reviewer_login(conn, account.username)
        except ReportError:
            raise Denied(
                self._message(
                    request,
                    None,
                    "Not for this login",
                    "This login has no access to early-warning reports. A committee or admin "
                    "login is made with `python -m bot reports login`.",
                    403,
                )
            ) from None
        return Visitor(account, reviewer, cookie)

    async def _posted(self, request: Request) -> tuple[Visitor, FormData]:
        """The visitor and the form, once the form's CSRF token is the one for this session."""
        visitor = await self._visitor(request)
        form = await request.form()
        expected = self.signer(request).csrf(visitor.cookie)
        if not secrets.compare_digest(str(form.get("csrf") or ""), expected):
            raise Denied(PlainTextResponse("forbidden: the form expired, reload the page", status_code=403))
        return visitor, form

    # -- shared bits of every page --------------------------------------------------------

    def _context(self, request: Request, visitor: Visitor | None, title: str) -> dict[str, Any]:
        context: dict[str, Any] = {"title": title, "base": BASE}
        if visitor is not None:
            reviewer = visitor.reviewer
            context |= {
                "username": visitor.account.username,
                "role": reviewer.role,
                "scope_label": "all areas" if reviewer.scope.everything else f"areas {reviewer.scope}",
                "csrf": self.signer(request).csrf(visitor.cookie),
            }
        return context

    def _message(
        self, request: Request, visitor: Visitor | None, title: str, text: str, status: int
    ) -> Response:
        context = self._context(request, visitor, title) | {"message": text}
        return TEMPLATES.TemplateResponse(request, "reports_message.html", context, status_code=status)

    def _not_found(self, request: Request, visitor: Visitor, ref: str) -> Response:
        # The same words whether the report does not exist or is outside the login's areas.
        text = f"There is no report {ref.strip().upper()[:40]} in your areas."
        return self._message(request, visitor, "Not found", text, 404)

    def _type_label(self, type_id: str) -> str:
        found = self.ew.type(type_id)
        return found.label if found else type_id

    def _area_choices(self, reviewer: Reviewer) -> list[tuple[str, str]]:
        """The areas the filter offers: a whole country, or one level-1 area, in the login's scope."""
        choices = []
        for country in self.ew.countries:
            whole = reviewer.scope.everything or country.code in reviewer.scope.countries
            if whole:
                choices.append((country.code, f"{country.names['en']} (all)"))
            for area in country.areas:
                if whole or (country.code, area.name) in reviewer.scope.areas:
                    choices.append((f"{country.code}/{area.name}", f"{country.code} · {area.name}"))
        return choices

    def _filters(self, request: Request, default_status: str) -> tuple[Filters, dict[str, str], list[str]]:
        """The filters from the query string, what the form shows as chosen, and what was ignored."""
        q = request.query_params
        chosen = {k: (q.get(k) or "").strip()[:80] for k in ("type", "area", "since", "until", "urgency")}
        chosen["status"] = (q.get("status") if "status" in q else default_status) or ""
        problems = []
        if chosen["status"] not in ("", "open", *model.STATUSES):
            problems.append("That status is not one we know; showing open reports.")
            chosen["status"] = "open"
        if chosen["type"] and self.ew.type(chosen["type"]) is None:
            problems.append("That type is not one we know; it was ignored.")
            chosen["type"] = ""
        if chosen["urgency"] and chosen["urgency"] not in model.URGENCIES:
            problems.append("That urgency is not one we know; it was ignored.")
            chosen["urgency"] = ""
        for key in ("since", "until"):
            if chosen[key]:
                try:
                    chosen[key] = datetime.strptime(chosen[key], "%Y-%m-%d").date().isoformat()
                except ValueError:
                    problems.append(f"{chosen[key]!r} is not a date (YYYY-MM-DD); it was ignored.")
                    chosen[key] = ""
        country, area1 = self._area(chosen["area"])
        if chosen["area"] and country is None:
            problems.append(
                f"{chosen['area']!r} is not an area we know (e.g. RW/Gasabo or BI); it was ignored."
            )
        chosen["area"] = (country or "") + (f"/{area1}" if area1 else "")
        f = Filters(
            status=chosen["status"] or None,
            type=chosen["type"] or None,
            country=country,
            area1=area1,
            since=chosen["since"] or None,
            until=chosen["until"] or None,
            urgency=chosen["urgency"] or None,
        )
        return f, chosen, problems

    def _area(self, value: str) -> tuple[str | None, str | None]:
        """("RW", "Gasabo") for "RW/Gasabo" (any case), ("BI", None) for "BI", (None, None) if unknown."""
        if not value:
            return None, None
        code, slash, name = value.partition("/")
        country = self.ew.country(code.strip().upper())
        if country is None:
            return None, None
        if not slash:
            return country.code, None
        area = next((a for a in country.areas if a.name.lower() == name.strip().lower()), None)
        return (country.code, area.name) if area else (None, None)

    def _filter_context(self, visitor: Visitor, chosen: dict[str, str]) -> dict[str, Any]:
        return {
            "filters": chosen,
            "statuses": [(s, STATUS_LABELS[s]) for s in model.STATUSES],
            "types": [(t.id, t.label) for t in self.ew.types],
            "urgencies": model.URGENCIES,
            "area_choices": self._area_choices(visitor.reviewer),
        }

    # -- the queue ------------------------------------------------------------------------

    async def queue_page(self, request: Request) -> Response:
        visitor = await self._visitor(request)
        f, chosen, problems = self._filters(request, default_status="open")
        try:
            page = max(1, min(int(request.query_params.get("page") or 1), 10_000))
        except ValueError:
            page = 1
        scope = visitor.reviewer.scope
        async with self.db.reader() as conn:
            found = await model.queue(conn, scope, f, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
            counts = await model.count_by_status(conn, scope, replace(f, status=None))
        now = utcnow()
        rows = [self._row(r, now) for r in found[:PAGE_SIZE]]
        query = {k: v for k, v in chosen.items() if v} | {"status": chosen["status"]}  # "" is any status
        context = self._context(request, visitor, "Reports") | self._filter_context(visitor, chosen)
        context |= {
            "problems": problems,
            "rows": rows,
            "counts": [(STATUS_LABELS[s], n) for s, n in counts.items()],
            "page": page,
            "previous": f"?{urlencode(query | {'page': page - 1})}" if page > 1 else None,
            "next": f"?{urlencode(query | {'page': page + 1})}" if len(found) > PAGE_SIZE else None,
        }
        return TEMPLATES.TemplateResponse(request, "reports_queue.html", context)

    def _row(self, r: Report, now: datetime) -> dict[str, Any]:
        return {
            "ref": r.ref,
            "url": f"{BASE}/{quote(r.ref)}",
            "status": STATUS_LABELS.get(r.status, r.status),
            "urgency": r.urgency or "",
            "danger": r.danger,
            "type": self._type_label(r.type),
            "area": " / ".join(a for a in (r.area1, r.area2) if a),
            "country": r.country,
            "filed": _when(r.created_at),
            "holder": r.claim_holder(now),
            "code": r.reporter_code or "—",
            "duplicate": r.duplicate_of is not None,
        }

    # -- the overview ---------------------------------------------------------------------

    async def overview_page(self, request: Request) -> Response:
        visitor = await self._visitor(request)
        f, chosen, problems = self._filters(request, default_status="")
        minimum = self.ew.min_area_reports
        async with self.db.reader() as conn:
            shown = await overview(conn, visitor.reviewer.scope, f, minimum)
        weeks = shown.weeks
        known = [t.id for t in self.ew.types]  # in the taxonomy's order, then any retired type
        order = [t for t in known if t in shown.per_type_week] + sorted(set(shown.per_type_week) - set(known))
        per_type = [(self._type_label(t), [shown.per_type_week[t].get(w, 0) for w in weeks]) for t in order]
        per_week = [(w, sum(counts.get(w, 0) for counts in shown.per_type_week.values())) for w in weeks]
        top = max((n for _, _, n, _ in shown.by_area), default=0)
        areas = [
            {
                "country": country,
                "area": area,
                "reports": n,
                "verified": v,
                "heat": charts.heat(n, top),
            }
            for country, area, n, v in shown.by_area
        ]
        share = shown.share_verified
        context = self._context(request, visitor, "Reports overview") | self._filter_context(visitor, chosen)
        context |= {
            "problems": problems,
            "shown": shown,
            "share": f"{round(100 * share)}%" if share is not None else "–",
            "median": ("about " if shown.approximate else "") + f"{shown.median_hours_to_verify:g} h"
            if shown.median_hours_to_verify is not None
            else "–",
            "weeks": weeks,
            "per_type": per_type,
            "per_week_chart": stats_charts.bars(per_week),
            "types_chart": stats_charts.bars([(label, sum(counts)) for label, counts in per_type]),
            "areas": areas,
            "minimum": minimum,
        }
        return TEMPLATES.TemplateResponse(request, "reports_overview.html", context)

    # -- one report -----------------------------------------------------------------------

    async def photo(self, request: Request) -> Response:
        """One of a report's photos, fetched from the channel that keeps it, for this reviewer's
        browser only (no-store): never written to our disk, never forwarded."""
        visitor = await self._visitor(request)
        ref = request.path_params["ref"]
        async with self.db.reader() as conn:
            try:
                report = await review.open_report(conn, visitor.reviewer, ref)
            except ReportError:
                return self._not_found(request, visitor, ref)
            refs = await model.photo_refs(conn, report.id)
        index = request.path_params["n"]
        if not 1 <= index <= len(refs):
            return self._not_found(request, visitor, ref)
        try:
            body, kind = await photos.fetch(self.settings, *refs[index - 1])
        except photos.PhotoUnavailable as exc:
            return PlainTextResponse(f"this photo is not available: {exc}", status_code=404)
        return Response(body, media_type=kind, headers={"Content-Disposition": "inline"})

    async def report_page(self, request: Request) -> Response:
        visitor = await self._visitor(request)
        done = DONE.get(request.query_params.get("done") or "")
        return await self._render_report(request, visitor, request.path_params["ref"], done=done)

    async def _render_report(
        self,
        request: Request,
        visitor: Visitor,
        ref: str,
        *,
        done: str | None = None,
        problem: str | None = None,
        revealed: tuple[str, str] | None = None,
        looked_up: bool = False,
        status: int = 200,
    ) -> Response:
        reviewer = visitor.reviewer
        async with self.db.reader() as conn:
            try:
                report = await review.open_report(conn, reviewer, ref)
            except ReportError:
                return self._not_found(request, visitor, ref)
            record = await model.reporter_record(conn, report.reporter_id)
            events = await model.events_of(conn, report.id)
            duplicates = await model.possible_duplicates(conn, report, self.ew.duplicate_hours)
            original = await _ref_of(conn, report.duplicate_of)
        now = utcnow()
        holder = report.claim_holder(now)
        share = record.share_verified if record else None
        context = self._context(request, visitor, report.ref) | {
            "report": report,
            "url": f"{BASE}/{quote(report.ref)}",
            "is_admin": reviewer.is_admin,
            "done": done,
            "problem": problem,
            "revealed": revealed,
            "looked_up": looked_up,
            "type_label": self._type_label(report.type),
            "people": PEOPLE_LABELS.get(report.people, report.people),
            "status_label": STATUS_LABELS.get(report.status, report.status),
            "filed": _when(report.created_at),
            "holder": holder,
            "held_until": _when(report.claimed_until) if holder else None,
            "mine": holder == reviewer.name,
            "by_other": holder is not None and holder != reviewer.name,
            "claim_minutes": self.ew.claim_minutes,
            "record": record,
            "share_verified": f"{round(100 * share)}%" if share is not None else "–",
            "may_trust": bool(
                record
                and report.reporter_code
                and not record.trusted
                and record.verified >= self.ew.trusted_after
            ),
            "trusted_after": self.ew.trusted_after,
            "urgencies": model.URGENCIES,
            "next_statuses": [
                (s, STATUS_LABELS[s]) for s in model.NEXT_STATUS.get(report.status, ()) if s != "referred"
            ],
            "may_refer": report.status in ("verified", "referred") and not report.committee_only,
            "checklist": [(c.id, c.label, c.id in report.checklist) for c in self.ew.checklist],
            "duplicates": [self._row(d, now) for d in duplicates],
            "original": original,
            "events": [_event(e) for e in events],
        }
        return TEMPLATES.TemplateResponse(request, "reports_report.html", context, status_code=status)

    # -- the actions ----------------------------------------------------------------------

    async def _act(
        self,
        request: Request,
        done: str,
        action: Callable[[Conn, Visitor, Report, FormData, datetime], Awaitable[None]],
    ) -> Response:
        """Run one review action in a transaction; back to the report with `?done=`, or the page
        again with the reason it could not be done (and nothing written)."""
        visitor, form = await self._posted(request)
        ref = request.path_params["ref"]
        try:
            async with self.db.transaction() as conn:
                try:
                    report = await review.open_report(conn, visitor.reviewer, ref)
                except ReportError:
                    raise Denied(self._not_found(request, visitor, ref)) from None
                await action(conn, visitor, report, form, utcnow())
        except ReportError as exc:
            return await self._render_report(request, visitor, ref, problem=str(exc), status=409)
        self.outbox_changed("*")  # a status update to the reporter, or an alert, may be waiting
        return RedirectResponse(f"{BASE}/{quote(report.ref)}?done={done}", status_code=303)

    async def claim(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            await review.claim_and_tell(conn, self.catalogs, self.ew, v.reviewer, report.ref, now)

        return await self._act(request, "claimed", act)

    async def release(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            await model.release(conn, report, v.reviewer.name, now)

        return await self._act(request, "released", act)

    async def urgency(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            chosen = str(form.get("urgency") or "")
            await review.set_urgency(conn, self.catalogs, self.ew, v.reviewer, report.ref, chosen, now)

        return await self._act(request, "urgency", act)

    async def checklist(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            done = [str(x) for x in form.getlist("done")]
            known = {c.id for c in self.ew.checklist}
            await model.set_checklist(conn, report, done, known, v.reviewer.name, now)

        return await self._act(request, "checklist", act)

    async def note(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            await model.add_note(conn, report, str(form.get("note") or ""), v.reviewer.name, now)

        return await self._act(request, "note", act)

    async def duplicate(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            wanted = str(form.get("original") or "").strip()[:40]
            if not wanted:
                raise ReportError("say which report this one duplicates (its reference, e.g. EW-2026-0042)")
            original = await review.open_report(conn, v.reviewer, wanted)  # held to the same areas
            await model.mark_duplicate(conn, report, original, v.reviewer.name, now)

        return await self._act(request, "duplicate", act)

    async def status(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            chosen, reason = str(form.get("status") or ""), str(form.get("reason") or "")[:500]
            await review.change_status(conn, self.catalogs, v.reviewer, report.ref, chosen, reason, now)

        return await self._act(request, "status", act)

    async def referral(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            to, when = str(form.get("to") or ""), str(form.get("when") or "")
            await review.refer(conn, self.catalogs, v.reviewer, report.ref, to, when, now)

        return await self._act(request, "referral", act)

    async def trusted(self, request: Request) -> Response:
        async def act(conn: Conn, v: Visitor, report: Report, form: FormData, now: datetime) -> None:
            if not report.reporter_code:
                raise ReportError("no reporter is linked to this report any more")
            await model.set_trusted(
                conn, report.reporter_code, True, v.reviewer.name, self.ew.trusted_after, now, report.id
            )

        return await self._act(request, "trusted", act)

    async def reveal(self, request: Request) -> Response:
        """Admins only: the person behind the reporter code, shown on this response alone (never
        in a URL); the lookup is written, with who and why, before the answer is read."""
        visitor, form = await self._posted(request)
        if not visitor.reviewer.is_admin:
            return self._message(
                request, visitor, "Admins only", "Only an admin login can see who a reporter is.", 403
            )
        ref = request.path_params["ref"]
        try:
            async with self.db.transaction() as conn:
                try:
                    report = await review.open_report(conn, visitor.reviewer, ref)
                except ReportError:
                    raise Denied(self._not_found(request, visitor, ref)) from None
                if not report.reporter_code:
                    raise ReportError("no reporter is linked to this report any more (they used forget)")
                reason = str(form.get("reason") or "")[:500]
                found = await model.resolve_code(
                    conn, report.reporter_code, visitor.account.username, reason, utcnow()
                )
        except ReportError as exc:
            return await self._render_report(request, visitor, ref, problem=str(exc), status=409)
        log.warning(
            "reports dashboard: %s resolved reporter code %s", visitor.account.username, report.reporter_code
        )
        return await self._render_report(request, visitor, report.ref, revealed=found, looked_up=True)


async def _ref_of(conn: Conn, report_id: int | None) -> str | None:
    if report_id is None:
        return None
    rows = await conn.execute_fetchall("SELECT ref FROM reports WHERE id = ?", (report_id,))
    return rows[0]["ref"] if rows else None


def _when(at: str | None) -> str:
    """'2026-03-02 14:05 UTC' from a stored ISO time."""
    if not at:
        return ""
    try:
        return datetime.fromisoformat(at).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return at[:16]


EVENT_LABELS = {
    "filed": "filed",
    "claimed": "claimed",
    "released": "released",
    "status": "status",
    "urgency": "urgency",
    "checklist": "checklist",
    "note": "note",
    "duplicate": "duplicate",
    "referral": "referral",
    "reporter_trusted": "reporter trusted",
    "reporter_untrusted": "reporter no longer trusted",
}


def _event(e: dict[str, Any]) -> dict[str, str]:
    """One line of the audit trail in plain words."""
    kind = e.get("type", "")
    if kind == "status":
        was, now = (STATUS_LABELS.get(str(e.get(k)), str(e.get(k))) for k in ("from", "to"))
        details = f"{was} → {now}"
        if e.get("reason"):
            details += f": {e['reason']}"
    elif kind == "urgency":
        details = f"{e.get('from') or 'none'} → {e.get('to')}"
    elif kind == "claimed":
        details = f"until {_when(e.get('until'))}"
    elif kind == "checklist":
        details = ", ".join(e.get("done") or []) or "nothing ticked"
    elif kind == "note":
        details = str(e.get("note", ""))
    elif kind == "duplicate":
        details = f"of {e.get('of')}"
    elif kind == "referral":
        details = f"to {e.get('to')}" + (f", {e['when']}" if e.get("when") else "")
    else:
        extra = {k: v for k, v in e.items() if k not in ("at", "actor", "type")}
        details = ", ".join(f"{k}: {v}" for k, v in extra.items())
    return {
        "at": _when(e.get("at")),
        "actor": str(e.get("actor", "")),
        "type": EVENT_LABELS.get(kind, kind),
        "details": details,
    }
