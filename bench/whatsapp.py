"""WhatsApp webhooks per second: our ASGI app against a minimal signature-checking endpoint.

N simulated learners each send M signed Twilio webhooks (form posts signed with the real
RequestValidator) through an in-process ASGI client. Ours validates, answers `<Response/>`,
runs the engine and sends every reply to a fake Twilio REST server on loopback. The
minimal endpoint, in the same run and through the same client, only validates the
signature and answers `<Response/>`: the floor for any Twilio webhook in Python.

It prints requests per second for both (webhooks acknowledged), ours end to end (until the
last reply reached the fake Twilio), and the ratio. Compare ratios; absolute numbers depend
on the machine.

    python -m bench.whatsapp --users 20 --messages 25
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bench.engine import SCRIPT
from bot.app import App
from bot.channels.whatsapp import TWIML_EMPTY, WhatsAppChannel
from bot.config import Settings
from bot.web.server import build_web, make_senders
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, FakeTwilio, running, signed

PATH = "/twilio/whatsapp"


def minimal_app() -> Starlette:
    validator = RequestValidator(AUTH_TOKEN)

    async def webhook(request: Request) -> Response:
        form = await request.form()
        if not validator.validate(f"{PUBLIC_URL}{PATH}", form, request.headers.get("X-Twilio-Signature", "")):
            return PlainTextResponse("forbidden", status_code=403)
        return Response(TWIML_EMPTY, media_type="text/xml")

    return Starlette(routes=[Route(PATH, webhook, methods=["POST"])])


async def blast(asgi: Starlette, users: int, messages: int, prefix: str) -> float:
    """Requests per second acknowledged with 200; each learner sends in order."""
    sids = itertools.count(1)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def learner(n: int) -> None:
            for i in range(messages):
                form = {
                    "MessageSid": f"SM{prefix}{next(sids):030d}",
                    "AccountSid": ACCOUNT_SID,
                    "From": f"whatsapp:+25078{n:07d}",
                    "To": "whatsapp:+14155238886",
                    "WaId": f"25078{n:07d}",
                    "Body": SCRIPT[i % len(SCRIPT)],
                    "NumMedia": "0",
                }
                response = await client.post(PATH, data=form, headers=signed(PATH, form))
                if response.status_code != 200:
                    raise SystemExit(f"webhook answered {response.status_code}: {response.text}")

        start = time.perf_counter()
        await asyncio.gather(*(learner(n) for n in range(users)))
        return users * messages / (time.perf_counter() - start)


async def run_ours(tmp: Path, fake: FakeTwilio, users: int, messages: int) -> tuple[float, float, int]:
    settings = replace(
        Settings(database_url=f"sqlite:///{tmp / 'bench.db'}"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from="whatsapp:+14155238886",
        twilio_api_url=fake.url,
        public_base_url=PUBLIC_URL,
        whatsapp_templates_file=tmp / "none.yaml",
    )
    app = await App.create(settings)
    channel = WhatsAppChannel.create(settings, app)
    runtime = replace(channel.runtime(), rate=None)  # no rate limit, as for the minimal endpoint
    sender = make_senders(app, [runtime])["whatsapp"]
    await channel.start()
    tasks = [asyncio.create_task(sender.run()), asyncio.create_task(app.inbox.run())]
    try:
        start = time.perf_counter()
        acknowledged = await blast(build_web(app, [runtime]), users, messages, "o")
        while await pending(app):  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.01)
        end_to_end = users * messages / (time.perf_counter() - start)
        return acknowledged, end_to_end, len(fake.sent)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await channel.stop()
        await app.close()


async def pending(app: App) -> int:
    sql = "SELECT (SELECT COUNT(*) FROM inbox) + COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')"
    async with app.db.conn.execute(sql) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated learners")
    parser.add_argument("--messages", type=int, default=len(SCRIPT), help="webhooks per learner")
    args = parser.parse_args()
    if args.users < 1 or args.messages < 1:
        parser.error("--users and --messages must be at least 1")
    with tempfile.TemporaryDirectory() as tmp_dir:
        minimal = await blast(minimal_app(), args.users, args.messages, "m")
        async with running(FakeTwilio()) as fake:
            ours, end_to_end, replies = await run_ours(Path(tmp_dir), fake, args.users, args.messages)
    total = args.users * args.messages
    print(f"users={args.users} webhooks/user={args.messages}")
    print("(in-process ASGI client, fake Twilio REST server on loopback)")
    print(f"minimal validate-and-answer endpoint: {minimal:8.0f} webhooks/s")
    print(f"Club Speak bot, acknowledged:         {ours:8.0f} webhooks/s")
    print(f"Club Speak bot, end to end:           {end_to_end:8.0f} webhooks/s")
    print(f"replies sent: {replies} for {total} webhooks")
    print(f"ratio ours/minimal (acknowledged): {ours / minimal:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
