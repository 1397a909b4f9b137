"""Chat with the bot in a terminal, on the real engine and database.

Choices print as a numbered list; the number or the label both work. With piped
stdin it reads one message a line, prints each reply, and exits at EOF.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from typing import TextIO

from bot.app import App
from bot.delivery import queries as delivery_queries
from bot.delivery.outbox import Delivery, OutboxSender
from bot.messages import Inbound, Outbound, utcnow

CHANNEL = "console"


class ConsoleTransport:
    channel = CHANNEL

    def __init__(self, out: TextIO, address: str):
        self.out = out
        self.address = address
        self._ids = itertools.count(1)

    async def send(self, message: Outbound) -> Delivery:
        if message.address != self.address:
            return Delivery("held", error="another console user; shown when they chat")
        if message.erase:  # a terminal's scrollback is the user's own
            return Delivery.sent(None)
        self.out.write(render(message) + "\n")
        self.out.flush()
        return Delivery.sent(f"console-{next(self._ids)}")


def render(message: Outbound) -> str:
    lines = [f"bot> {message.text}"]
    if message.image:
        lines.append(f"     [image: {message.image}]")
    lines += [f"     {i}. {c.label}" for i, c in enumerate(message.choices, start=1)]
    if message.attachment:
        name, body = message.attachment
        lines.append(f"     [file {name}]\n{body}")
    return "\n".join(lines)


async def chat(app: App, user: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    transport = ConsoleTransport(stdout, user)
    sender = OutboxSender(app.db, transport, max_in_flight=1)
    await sender.recover()
    # What came for this user while another console user was chatting (an invitation, a change,
    # an announcement) was held for them: show it now, before anything else.
    async with app.db.transaction() as conn:
        waiting = await delivery_queries.requeue_held_for(conn, CHANNEL, user, utcnow())
    if waiting:
        await sender.run_once()
    interactive = stdin.isatty()
    if interactive:
        stdout.write("Club Speak bot console. Type a message, or a choice's number. Ctrl-D to quit.\n")
        # Say hello on the user's behalf so the first screen appears at once.
        await app.engine.handle(Inbound(CHANNEL, user, text="/start", name=user))
        await sender.run_once()
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        text = line.rstrip("\n")
        if not interactive:
            stdout.write(f"you> {text}\n")
        await app.engine.handle(Inbound(CHANNEL, user, text=text, name=user))
        await sender.run_once()
