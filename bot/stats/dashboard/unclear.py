"""/dashboard/unclear: the texts learners flagged as unclear, most-flagged first, per language.

A learner who answers "?", "I don't understand" or "sinumva" on a content step leaves an `unclear`
event with the message's msgctxt and their language (bot/learning/unclear.py). This page is the
native reviewers' work queue: which text, its English source, how often and in which languages it
was flagged, and, for one language, how it reads now. Staff logins only (a facilitator's login
sees its clubs' figures, not the curriculum's review work). No learner appears: only counts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.content.loader import Content
from bot.content.models import context as text_context
from bot.stats.dashboard.web import LANGUAGES, SESSION, TEMPLATES, Dashboard, _secured
from bot.storage.repo import Conn

EVENT = "unclear"
LIMIT = 100  # rows on the page: a work queue, most-flagged first


@dataclass
class Flagged:
    context: str
    flags: int = 0
    learners: int = 0
    languages: Counter[str] = field(default_factory=Counter)


async def flagged_texts(conn: Conn, language: str | None = None, limit: int = LIMIT) -> list[Flagged]:
    """The msgctxts flagged as unclear, most flags first; only flags in `language` if given.

    Flags are few next to the other events (one per "?"), so they are counted here, not in SQL:
    the context sits in the event's JSON data, read the same way on every backend."""
    sql = "SELECT e.actor, e.data FROM events e WHERE e.type = ?"
    rows = await conn.execute_fetchall(sql, (EVENT,))
    found: dict[str, Flagged] = {}
    learners: dict[str, set[str]] = {}
    for actor, raw in rows:
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            continue
        ctx, lang = data.get("context"), data.get("lang")
        if not isinstance(ctx, str) or not ctx or (language and lang != language):
            continue
        row = found.setdefault(ctx, Flagged(ctx))
        row.flags += 1
        row.languages[str(lang or "?")] += 1
        learners.setdefault(ctx, set()).add(actor or "")
    for ctx, row in found.items():
        row.learners = len(learners[ctx])
    return sorted(found.values(), key=lambda r: (-r.flags, -r.learners, r.context))[:limit]


def sources(content: Content) -> dict[str, tuple[str, bool]]:
    """Every msgctxt of the curriculum: its English text, and whether simpler words exist for it."""
    found: dict[str, tuple[str, bool]] = {}
    for d in content.dialogs.values():
        texts = list(d.texts())
        simpler = {step_id for step_id, fld, _ in texts if fld == "simple"}
        for step_id, fld, text in texts:
            found[text_context(d.id, step_id, fld)] = (text, fld == "text" and step_id in simpler)
    return found


@dataclass
class UnclearPage:
    dashboard: Dashboard

    def routes(self) -> list[Route]:
        return [Route("/dashboard/unclear", _secured(self.page), methods=["GET"])]

    async def page(self, request: Request) -> Response:
        dashboard = self.dashboard
        account = await dashboard._account(request)
        if account is None:
            return RedirectResponse("/dashboard/login", status_code=303)
        words = _ = dashboard.words(request.query_params.get("lang"))
        if account.club_ids is not None:
            return PlainTextResponse(_("Only staff logins can see this page."), status_code=403)
        language = request.query_params.get("language") or ""
        language = language if language in LANGUAGES else ""
        async with dashboard.db.reader() as conn:
            flagged = await flagged_texts(conn, language or None)
        known = sources(dashboard.content)
        rows: list[dict[str, Any]] = []
        for f in flagged:
            source, simpler = known.get(f.context, (None, False))
            current = None
            if source is not None and language:
                current = dashboard.catalogs.lookup(language, source, f.context)
                if current is None and language == "en":
                    current = source
            rows.append(
                {
                    "context": f.context,
                    "module": words.module(f.context.partition("/")[0]),
                    "source": source,
                    "current": current,
                    "simpler": simpler,
                    "flags": f.flags,
                    "learners": f.learners,
                    "languages": ", ".join(
                        f"{LANGUAGES.get(lang, lang)} {n}" for lang, n in f.languages.most_common()
                    ),
                }
            )
        context = {
            "_": words,
            "lang": words.lang,
            "languages": LANGUAGES,
            "language": language,
            "title": _("Texts learners found unclear"),
            "username": account.username,
            "rows": rows,
            "csrf": dashboard.signer.csrf(request.cookies.get(SESSION) or ""),
        }
        return TEMPLATES.TemplateResponse(request, "unclear.html", context)


def with_page(dashboard: Dashboard) -> list[BaseRoute]:
    """The dashboard's routes, and this page's beside them (sharing its logins and curriculum)."""
    return [*dashboard.routes(), *UnclearPage(dashboard).routes()]
