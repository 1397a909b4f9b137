"""The domains the bot is made of: each registers its commands, screens and guards here.

Adding a domain is a folder with a `register(router)` and one line below.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import care, clubs, learning
from bot.core.router import Router

DOMAINS: tuple[Callable[[Router], None], ...] = (
    care.register,
    learning.register,
    clubs.register,
)


def build_router(domains: tuple[Callable[[Router], None], ...] = DOMAINS) -> Router:
    router = Router()
    for register in domains:
        register(router)
    return router
