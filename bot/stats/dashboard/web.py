"""The staff dashboard at /dashboard: login, filters, SVG charts, tables and a CSV download.

Staff logins see every club; a facilitator login sees its own clubs only. The session is a
signed cookie; every form carries a CSRF token; failed logins are rate-limited. Every query
goes through a read-only connection (`Database.reader`), so a page load never holds up a message.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.clubs import model as clubs
from bot.config import Settings
from bot.stats import metrics as stats
from bot.stats.dashboard import charts
from bot.stats.dashboard.accounts import Account, LoginLimiter, Signer, authenticate, get_account
from bot.storage.db import Database

log = logging.getLogger(__name__)
SESSION, NONCE = "cs_session", "cs_nonce"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class Dashboard:
    db: Database
    settings: Settings
    signer: Signer
    limiter: LoginLimiter = field(default_factory=LoginLimiter)

    @classmethod
    def create(cls, db: Database, settings: Settings) -> Dashboard:
        secret = settings.dashboard_secret
        if not secret:
            log.warning("DASHBOARD_SECRET is not set: dashboard logins end when the process restarts")
        return cls(db, settings, Signer((secret or secrets.token_hex(32)).encode()))

    @property
    def secure(self) -> bool:
        return (self.settings.public_base_url or "").startswith("https://")

    def routes(self) -> list[Route]:
        return [
            Route("/dashboard", self.page, methods=["GET"]),
            Route("/dashboard.csv", self.download, methods=["GET"]),
            Route("/dashboard/login", self.login_form, methods=["GET"]),
            Route("/dashboard/login", self.login, methods=["POST"]),
            Route("/dashboard/logout", self.logout, methods=["POST"]),
        ]

    # -- login ------------------------------------------------------------------------

    def _with_nonce(self, request: Request, template: str, context: dict, status: int = 200) -> Response:
        nonce = request.cookies.get(NONCE) or secrets.token_urlsafe(16)
        response = TEMPLATES.TemplateResponse(
            request, template, {**context, "csrf": self.signer.csrf(nonce)}, status_code=status
        )
        response.set_cookie(NONCE, nonce, httponly=True, samesite="strict", secure=self.secure)
        return response

    def _csrf_ok(self, request: Request, token: str) -> bool:
        nonce = request.cookies.get(NONCE)
        return bool(nonce) and secrets.compare_digest(token, self.signer.csrf(nonce or ""))

    async def login_form(self, request: Request) -> Response:
        return self._with_nonce(request, "login.html", {"title": "Login", "error": None})

    async def login(self, request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username") or "")[:80]
        client = request.client.host if request.client else "?"
        if not self._csrf_ok(request, str(form.get("csrf") or "")):
            return PlainTextResponse("forbidden: the form expired, reload the page", status_code=403)
        if self.limiter.blocked(f"ip:{client}", f"user:{username}"):
            return self._with_nonce(
                request, "login.html", {"title": "Login", "error": "Too many attempts. Wait 15 minutes."}, 429
            )
        async with self.db.reader() as conn:
            account = await authenticate(conn, username, str(form.get("password") or ""))
        if account is None:
            self.limiter.failed(f"ip:{client}", f"user:{username}")
            return self._with_nonce(
                request, "login.html", {"title": "Login", "error": "Wrong username or password."}, 401
            )
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(
            SESSION, self.signer.session(account.id), httponly=True, samesite="lax", secure=self.secure
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not self._csrf_ok(request, str(form.get("csrf") or "")):
            return PlainTextResponse("forbidden", status_code=403)
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(SESSION)
        return response

    async def _account(self, request: Request) -> Account | None:
        account_id = self.signer.session_account(request.cookies.get(SESSION))
        if account_id is None:
            return None
        async with self.db.reader() as conn:
            return await get_account(conn, account_id)

    # -- the page -----------------------------------------------------------------------

    async def _filters(
        self, request: Request, account: Account
    ) -> tuple[stats.Filters, dict[str, str], str | None]:
        q = request.query_params
        chosen = {
            k: (q.get(k) or "").strip()
            for k in ("club", "district", "language", "channel", "age", "since", "until")
        }
        problem = None
        dates: dict[str, datetime | None] = {"since": None, "until": None}
        for key in dates:
            if chosen[key]:
                try:
                    dates[key] = datetime.strptime(chosen[key], "%Y-%m-%d").replace(tzinfo=UTC)
                except ValueError:
                    problem, chosen[key] = f"{chosen[key]!r} is not a date; it was ignored.", ""
        club_ids = account.club_ids
        if chosen["club"]:
            async with self.db.reader() as conn:
                club = await clubs.club_by_code(conn, chosen["club"])
            if club is None or (club_ids is not None and club.id not in club_ids):
                problem, chosen["club"] = "That club is not one you can see; showing all of yours.", ""
            else:
                club_ids = (club.id,)
        f = stats.Filters(
            club_ids=club_ids,
            district=chosen["district"] or None,
            language=chosen["language"] if chosen["language"] in ("rw", "fr", "en") else None,
            channel=chosen["channel"] or None,
            age_band=chosen["age"] if chosen["age"] in ("u16", "16_17", "18_24", "25p") else None,
            since=dates["since"],
            until=dates["until"],
        )
        return f, chosen, problem

    async def page(self, request: Request) -> Response:
        account = await self._account(request)
        if account is None:
            return RedirectResponse("/dashboard/login", status_code=303)
        f, chosen, problem = await self._filters(request, account)
        async with self.db.reader() as conn:
            shown = stats.present(await stats.summary(conn, f))
            per_club = await stats.sessions_by_club(conn, f)
            visible = await clubs.clubs_by_ids(
                conn, set(account.club_ids) if account.club_ids is not None else None
            )
        context = {
            "title": "Dashboard",
            "username": account.username,
            "scope": "all clubs" if account.club_ids is None else ", ".join(c.name for c in visible),
            "clubs": visible,
            "districts": sorted({c.district for c in visible}),
            "filters": chosen,
            "query": urlencode({k: v for k, v in chosen.items() if v}),
            "problem": problem,
            "shown": shown,
            "per_club": per_club,
            "charts": {
                "active": charts.columns(shown["active_by_day"]),
                "completion": charts.bars(
                    [
                        (
                            m["module"],
                            m["rate"] if isinstance(m["rate"], str) else round(100 * (m["rate"] or 0)),
                        )
                        for m in shown["funnel"]
                    ],
                    "%",
                ),
                "hardest": charts.bars(
                    [
                        (
                            f"{q['quiz']}/{q['question']}",
                            q["rate"] if isinstance(q["rate"], str) else round(100 * q["rate"]),
                        )
                        for q in shown["hardest_questions"]
                    ],
                    "%",
                ),
                "rsvp": charts.bars(
                    [(f"{r['club']} · yes", r["yes"]) for r in per_club]
                    + [(f"{r['club']} · came", r["attended"]) for r in per_club]
                ),
            },
        }
        return self._with_nonce(request, "dashboard.html", context)

    async def download(self, request: Request) -> Response:
        account = await self._account(request)
        if account is None:
            return RedirectResponse("/dashboard/login", status_code=303)
        f, _, _ = await self._filters(request, account)
        async with self.db.reader() as conn:
            shown = stats.present(await stats.summary(conn, f))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["metric", "key", "value"])
        writer.writerows(stats.rows(shown))
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="clubspeak-stats.csv"'},
        )
