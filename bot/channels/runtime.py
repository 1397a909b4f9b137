"""What a channel adapter plugs into the process: a transport, web routes, a lifecycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from bot.delivery.outbox import RateLimiter, Transport


@dataclass
class ChannelRuntime:
    name: str
    transport: Transport
    routes: list[BaseRoute] = field(default_factory=list)
    # Connects to the platform; may raise, and is then retried in the background.
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    # Work only one worker may do at a time (Telegram's long poll): run as a role.
    poll: Callable[[], Awaitable[None]] | None = None
    max_in_flight: int = 16
    rate: RateLimiter | None = None
