"""The staff dashboard at /dashboard: login, filters, SVG charts, tables and a CSV download.

Staff logins see every club; a facilitator login sees its own clubs only. Sessions live in the
database (logging out ends one for good); every form carries a CSRF token the server issued;
failed logins slow down the client that made them, never the account. Every response carries a
strict Content-Security-Policy and no-store. Every query goes through a read-only connection
(`Database.reader`), so a page load never holds up a message.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import ipaddress
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
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
from bot.messages import utcnow
from bot.stats import metrics as stats
from bot.stats.dashboard import charts
from bot.stats.dashboard.accounts import (
    SESSION_HOURS,
    Account,
    LoginThrottle,
    Signer,
    authenticate,
    end_session,
    session_account,
    start_session,
)
from bot.storage.db import Database

log = logging.getLogger(__name__)
SESSION, NONCE = "cs_session", "cs_nonce"
HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _style_hash() -> str:
    """The CSP hash of base.html's one <style> block: that stylesheet, and no other, may apply."""
    found = re.search(r"<style>(.*?)</style>", (HERE / "templates" / "base.html").read_text(), re.DOTALL)
    if found is None:
        return "'none'"
    return "'sha256-" + base64.b64encode(hashlib.sha256(found.group(1).encode()).digest()).decode() + "'"


SECURITY_HEADERS = {
    # No script at all, the inline stylesheet by its hash, forms only to us, never in a frame.
    "Content-Security-Policy": (
        f"default-src 'none'; style-src {_style_hash()}; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Every page shows figures or a form token: no copy in a shared computer's cache.
    "Cache-Control": "no-store",
}

Handler = Callable[[Request], Awaitable[Response]]


def _secured(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return endpoint


def _trusted(host: str, proxies: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def client_address(request: Request, proxies: tuple[Network, ...]) -> str:
    """The address the login throttle counts. X-Forwarded-For only counts when the direct peer
    is a proxy we were told to trust: anyone else could write any address there. Hops are read
    from the right (the trusted proxy's own entry) to the first address not a trusted proxy."""
    peer = request.client.host if request.client else "?"
    if not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:64]
    return (hops[0] if hops else peer)[:64]


def _wait(seconds: float) -> str:
    amount, unit = (round(seconds / 60), "minute") if seconds >= 90 else (max(1, round(seconds)), "second")
    return f"{amount} {unit}{'s' * (amount != 1)}"


@dataclass
class Dashboard:
    db: Database
    settings: Settings
    signer: Signer
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Two scrypts at a time (16 MB and a core each): a flood of logins queues, it does not swamp.
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    proxies: tuple[Network, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.proxies = tuple(ipaddress.ip_network(a, strict=False) for a in self.settings.forwarded_allow_ips)

    @classmethod
    def create(cls, db: Database, settings: Settings) -> Dashboard:
        # App.create sets a per-process secret when none is configured, so that every dashboard
        # page (stats, reports) signs and checks with the same one.
        return cls(db, settings, Signer((settings.dashboard_secret or secrets.token_hex(32)).encode()))

    @property
    def secure(self) -> bool:
        return (self.settings.public_base_url or "").startswith("https://")

    def routes(self) -> list[Route]:
        return [
            Route("/dashboard", _secured(self.page), methods=["GET"]),
            Route("/dashboard.csv", _secured(self.download), methods=["GET"]),
            Route("/dashboard/login", _secured(self.login_form), methods=["GET"]),
            Route("/dashboard/login", _secured(self.login), methods=["POST"]),
            Route("/dashboard/logout", _secured(self.logout), methods=["POST"]),
        ]

    # -- login ------------------------------------------------------------------------

    def _issued_nonce(self, request: Request) -> str | None:
        """The nonce cookie, if this server issued it; a nonce the client made up is ignored."""
        nonce = request.cookies.get(NONCE) or ""
        return nonce if self.signer.unsign(nonce) else None

    def _login_page(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        nonce = self._issued_nonce(request) or self.signer.nonce()
        response = TEMPLATES.TemplateResponse(
            request,
            "login.html",
            {"title": "Login", "error": error, "csrf": self.signer.csrf(nonce)},
            status_code=status,
        )
        response.set_cookie(NONCE, nonce, httponly=True, samesite="strict", secure=self.secure)
        return response

    async def login_form(self, request: Request) -> Response:
        return self._login_page(request)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username") or "")[:80]
        nonce = self._issued_nonce(request)
        token = str(form.get("csrf") or "")
        if nonce is None or not secrets.compare_digest(token, self.signer.csrf(nonce)):
            return PlainTextResponse("forbidden: the form expired, reload the page", status_code=403)
        client = client_address(request, self.proxies)
        wait = self.throttle.begin(client)
        if wait:
            response = self._login_page(request, f"Too many attempts. Try again in {_wait(wait)}.", 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        account = None
        try:
            async with self.hashing:
                account = await authenticate(self.db, username, str(form.get("password") or ""))
        finally:
            failures = self.throttle.end(client, failed=account is None)
        if account is None:
            # The username helps spot guessing; the password is never logged.
            log.warning(
                "dashboard: failed login as %r from %s (%d failed from there)", username, client, failures
            )
            return self._login_page(request, "Wrong username or password.", 401)
        token = await start_session(self.db, account.id, utcnow(), SESSION_HOURS)
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(
            SESSION,
            self.signer.sign(token),
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        cookie = request.cookies.get(SESSION) or ""
        token = self.signer.unsign(cookie)
        if token is None or not secrets.compare_digest(str(form.get("csrf") or ""), self.signer.csrf(cookie)):
            return PlainTextResponse("forbidden", status_code=403)
        await end_session(self.db, token)
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(SESSION, httponly=True, samesite="lax", secure=self.secure)
        return response

    async def _account(self, request: Request) -> Account | None:
        token = self.signer.unsign(request.cookies.get(SESSION) or "")
        return None if token is None else await session_account(self.db, token, utcnow())

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
        # Bound to this session: a token from another session, or a made-up one, is refused.
        context["csrf"] = self.signer.csrf(request.cookies.get(SESSION) or "")
        return TEMPLATES.TemplateResponse(request, "dashboard.html", context)

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
