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
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from babel.numbers import format_percent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.clubs import model as clubs
from bot.config import Settings
from bot.content.loader import Content, InvalidContent, load_content
from bot.content.models import context as text_context
from bot.i18n import N_, Catalogs
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


LANGUAGES = {"rw": "Kinyarwanda", "fr": "Français", "en": "English"}  # each in its own words
QUESTION_CHARS = 60
AGE_BANDS = {"u16": N_("under 16"), "16_17": "16–17", "18_24": "18–24", "25p": "25+"}


def shorten(text: str, limit: int = QUESTION_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _collation(text: str) -> str:
    """A sort key that puts "Écouter" with the e's, not after the z's."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def curriculum(settings: Settings) -> tuple[Content, Catalogs]:
    """The dialogs and catalogs, as `bot.app.load_checked_content` loads them (bot.app itself
    cannot be imported here: it builds the domains, and so this package)."""
    catalogs = Catalogs.load(settings.locales_dir)
    content, errors = load_content(settings.dialogs_dir, catalogs)
    if errors:
        raise InvalidContent(errors)
    return content, catalogs


@dataclass(frozen=True)
class Words:
    """The dashboard in one language (rw, fr or en, the staff member's choice): its own labels,
    the curriculum's module titles and questions, and rates as percentages. Called as `_`."""

    content: Content
    catalogs: Catalogs
    lang: str = "en"

    def __call__(self, msgid: str) -> str:
        return self.catalogs.gettext(self.lang, msgid)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalogs.ngettext(self.lang, singular, plural, n)

    def module(self, dialog_id: str) -> str:
        """A module's title; a module no longer in the curriculum keeps its id."""
        d = self.content.get(dialog_id)
        if d is None:
            return dialog_id
        return self.catalogs.gettext(self.lang, d.title, text_context(d.id, "meta", "title"))

    def question(self, dialog_id: str, step_id: str, limit: int | None = QUESTION_CHARS) -> str:
        """A question as learners read it (shortened to `limit` characters)."""
        d = self.content.get(dialog_id)
        if d is None or not d.has_step(step_id):
            return f"{self.module(dialog_id)} · {step_id}"
        step = d.step(step_id)
        text = self.catalogs.gettext(self.lang, step.text, text_context(d.id, step.id, "text"))
        return shorten(text, limit) if limit else " ".join(text.split())

    def percent(self, rate: float) -> str:
        return format_percent(rate, locale=self.lang)

    def points(self, gain: float | str | None, hidden: str) -> str:
        """A gain (a difference of two shares) in percentage points: "+30 points"."""
        if gain is None:
            return "–"
        if isinstance(gain, str):
            return hidden
        return stats.signed_points(round(100 * gain), self.ngettext)

    def rate(self, rate: float | str | None, hidden: str) -> str:
        """A rate as people read it: "80%"; `hidden` when too few people make it; – when none."""
        if rate is None:
            return "–"
        return hidden if isinstance(rate, str) else self.percent(rate)


def _wait(seconds: float, words: Words) -> str:
    if seconds >= 90:
        n = round(seconds / 60)
        return words.ngettext("{n} minute", "{n} minutes", n).format(n=n)
    n = max(1, round(seconds))
    return words.ngettext("{n} second", "{n} seconds", n).format(n=n)


@dataclass
class Dashboard:
    db: Database
    settings: Settings
    signer: Signer
    throttle: LoginThrottle = field(init=False)
    # Two scrypts at a time (16 MB and a core each): a flood of logins queues, it does not swamp.
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    content: Content = field(default_factory=Content)
    catalogs: Catalogs = field(default_factory=lambda: Catalogs({}))
    proxies: tuple[Network, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = LoginThrottle(self.db)
        self.proxies = tuple(ipaddress.ip_network(a, strict=False) for a in self.settings.forwarded_allow_ips)

    @classmethod
    def create(cls, db: Database, settings: Settings) -> Dashboard:
        # App.create sets a per-process secret when none is configured, so that every dashboard
        # page (stats, reports) signs and checks with the same one.
        content, catalogs = curriculum(settings)  # module titles and questions, in rw, fr and en
        return cls(
            db,
            settings,
            Signer((settings.dashboard_secret or secrets.token_hex(32)).encode()),
            content=content,
            catalogs=catalogs,
        )

    def words(self, lang: str | None) -> Words:
        """The words for the language asked for (a `lang` query or form field); English otherwise."""
        return Words(self.content, self.catalogs, lang if lang in LANGUAGES else "en")

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

    def _login_page(
        self, request: Request, words: Words, error: str | None = None, status: int = 200
    ) -> Response:
        nonce = self._issued_nonce(request) or self.signer.nonce()
        _ = words
        response = TEMPLATES.TemplateResponse(
            request,
            "login.html",
            {
                "title": _("Login"),
                "error": error,
                "csrf": self.signer.csrf(nonce),
                "_": words,
                "lang": words.lang,
                "languages": LANGUAGES,
            },
            status_code=status,
        )
        response.set_cookie(NONCE, nonce, httponly=True, samesite="strict", secure=self.secure)
        return response

    async def login_form(self, request: Request) -> Response:
        return self._login_page(request, self.words(request.query_params.get("lang")))

    async def login(self, request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username") or "")[:80]
        words = _ = self.words(str(form.get("lang") or ""))
        nonce = self._issued_nonce(request)
        token = str(form.get("csrf") or "")
        if nonce is None or not secrets.compare_digest(token, self.signer.csrf(nonce)):
            return PlainTextResponse("forbidden: the form expired, reload the page", status_code=403)
        client = client_address(request, self.proxies)
        wait = await self.throttle.begin(client)
        if wait:
            error = _("Too many attempts. Try again in {wait}.").format(wait=_wait(wait, words))
            response = self._login_page(request, words, error, 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        account = None
        try:
            async with self.hashing:
                account = await authenticate(self.db, username, str(form.get("password") or ""))
        finally:
            failures = await self.throttle.end(client, failed=account is None)
        if account is None:
            # The username helps spot guessing; the password is never logged.
            log.warning(
                "dashboard: failed login as %r from %s (%d failed from there)", username, client, failures
            )
            return self._login_page(request, words, _("Wrong username or password."), 401)
        token = await start_session(self.db, account.id, utcnow(), SESSION_HOURS)
        target = "/dashboard" if words.lang == "en" else f"/dashboard?{urlencode({'lang': words.lang})}"
        response = RedirectResponse(target, status_code=303)
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
        self, request: Request, account: Account, words: Words
    ) -> tuple[stats.Filters, dict[str, str], str | None]:
        _ = words
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
                    problem = _("“{value}” is not a date; it was ignored.").format(value=chosen[key][:40])
                    chosen[key] = ""
        club_ids = account.club_ids
        if chosen["club"]:
            async with self.db.reader() as conn:
                club = await clubs.club_by_code(conn, chosen["club"])
            if club is None or (club_ids is not None and club.id not in club_ids):
                problem, chosen["club"] = _("That club is not one you can see; showing all of yours."), ""
            else:
                club_ids = (club.id,)
        f = stats.Filters(
            club_ids=club_ids,
            district=chosen["district"] or None,
            language=chosen["language"] if chosen["language"] in LANGUAGES else None,
            channel=chosen["channel"] or None,
            age_band=chosen["age"] if chosen["age"] in AGE_BANDS else None,
            since=dates["since"],
            until=dates["until"],
        )
        return f, chosen, problem

    async def page(self, request: Request) -> Response:
        account = await self._account(request)
        if account is None:
            return RedirectResponse("/dashboard/login", status_code=303)
        words = _ = self.words(request.query_params.get("lang"))
        f, chosen, problem = await self._filters(request, account, words)
        async with self.db.reader() as conn:
            shown = await stats.shown(conn, f)
            per_club = await stats.sessions_by_club(conn, f)
            visible = await clubs.clubs_by_ids(
                conn, set(account.club_ids) if account.club_ids is not None else None
            )
        too_few_learners, too_few_answers = _("too few learners"), _("too few answers")
        modules = sorted(
            (
                {
                    "title": words.module(m["module"]),
                    "started": m["started"],
                    "completed": m["completed"],
                    "rate": m["rate"],
                    "shown_rate": words.rate(m["rate"], too_few_learners),
                }
                for m in shown["funnel"]
            ),
            # Rates hidden (or none at all) last: a hidden rate is not a rate of 0.
            key=lambda m: (not isinstance(m["rate"], float), _collation(m["title"])),
        )
        gains = sorted(
            (
                {
                    "title": words.module(g["module"]),
                    "learners": g["learners"],
                    "hidden": not isinstance(g["gain"], float),
                    "pre": words.rate(g["pre"], too_few_learners),
                    "post": words.rate(g["post"], too_few_learners),
                    "gain": words.points(g["gain"], too_few_learners),
                }
                for g in shown["learning_gain"]
            ),
            # As the modules: too few learners to say, last.
            key=lambda g: (g["hidden"], _collation(g["title"])),
        )
        # present() hides a rate built on too few answers; those rows go last, whatever their rate.
        questions = sorted(shown["hardest_questions"], key=lambda q: not isinstance(q["rate"], float))
        sessions = shown["sessions"]
        context = {
            "_": words,
            "lang": words.lang,
            "languages": LANGUAGES,
            "ages": [(band, _(label)) for band, label in AGE_BANDS.items()],
            "title": _("Dashboard"),
            "username": account.username,
            "scope": _("all clubs") if account.club_ids is None else ", ".join(c.name for c in visible),
            "all_clubs": account.club_ids is None,  # staff: the unclear-texts queue is theirs
            "clubs": visible,
            "districts": sorted({c.district for c in visible}),
            "filters": chosen,
            "query": urlencode({k: v for k, v in chosen.items() if v}),
            "problem": problem,
            "shown": shown,
            "figures": {
                "attendance": words.rate(sessions.get("attendance_rate"), too_few_learners),
                "week_1": words.rate(shown["retention"]["week_1"], too_few_learners),
                "week_4": words.rate(shown["retention"]["week_4"], too_few_learners),
            },
            "modules": modules,
            "gains": gains,
            "per_club": per_club,
            "charts": {
                "active": charts.columns(shown["active_by_day"], _("max {n}")),
                "completion": charts.bars(
                    [
                        (m["title"], m["rate"] if isinstance(m["rate"], float) else m["shown_rate"])
                        for m in modules
                    ],
                    fmt=words.percent,
                    top=1,
                ),
                "hardest": charts.bars(
                    [
                        (
                            words.question(q["quiz"], q["question"]),
                            q["rate"] if isinstance(q["rate"], float) else too_few_answers,
                            f"{words.module(q['quiz'])}: {words.question(q['quiz'], q['question'], None)}",
                        )
                        for q in questions
                    ],
                    fmt=words.percent,
                    top=1,
                ),
                # Each club's bars side by side: its "said yes", then its "came".
                "rsvp": charts.bars(
                    [
                        item
                        for r in per_club
                        for item in (
                            (_("{club}: said yes").format(club=r["club"]), r["yes"]),
                            (_("{club}: came").format(club=r["club"]), r["attended"]),
                        )
                    ]
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
        f, _, _ = await self._filters(request, account, self.words(request.query_params.get("lang")))
        async with self.db.reader() as conn:
            shown = await stats.shown(conn, f)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["metric", "key", "value"])
        writer.writerows(stats.rows(shown))
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="clubspeak-stats.csv"'},
        )
