"""WhatsApp end to end: a signed webhook in, the reply out at Twilio; ours against a minimal echo.

N simulated learners each send M messages as Twilio does: form posts signed with the real
RequestValidator, over HTTP to the bot on loopback. Each learner waits until the whole answer
to one message has reached a fake Twilio REST API before sending the next, as a person does.
The learners and the fake Twilio run in their own process, as Twilio is elsewhere.

Both apps are served by uvicorn in this process, one after the other, with the same settings.
The minimal echo is the floor for a WhatsApp bot on Twilio in Python: it checks the signature
with twilio's RequestValidator, answers 200 with empty TwiML, and posts the reply through
twilio's async client to the fake Twilio. Ours checks the signature, commits the message to its
inbox and answers 200; the inbox hands it to the engine (SQLite, the dialog, the reply queued in
the outbox), and the outbox sender posts the reply through the same twilio client. The
maintenance task (WAL checkpoints) runs, as in production.

It prints, for both: throughput (messages answered per second, end to end) and the latency from
a webhook's post to the first reply reaching the fake Twilio (p50, p99), then the ratio with its
goal (>= 0.5x the minimal echo). Compare ratios, which come from one run; absolute numbers
depend on the machine.

    python -m bench.whatsapp --users 20 --messages 25
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bench import Result, pooled, tidy
from bench.engine import SCRIPT
from bot.app import App
from bot.channels.whatsapp import INBOUND_PATH, STATUS_PATH, TWIML_EMPTY, WhatsAppChannel, inbound_from
from bot.config import Settings
from bot.storage.maintenance import Maintenance
from bot.web.server import build_web, make_senders
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, FakeTwilio, Sent, running, signed

FROM = "whatsapp:+14155238886"


@dataclass
class Replies:
    """Counts the replies each learner has received at the fake Twilio, and wakes them."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_at: dict[str, float] = field(default_factory=dict)
    events: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))

    def on_send(self, sent: Sent) -> None:
        self.counts[sent.to] += 1
        self.first_at.setdefault(sent.to, time.monotonic())
        self.events[sent.to].set()

    async def until(self, to: str, count: int) -> None:
        while self.counts[to] < count:
            self.events[to].clear()
            await self.events[to].wait()


async def drive(name: str, fake: FakeTwilio, url: str, expected: list[list[int]], first: int) -> Result:
    """Each learner posts a signed webhook, then waits for all of its replies at the fake Twilio."""
    replies = Replies()
    fake.on_send = replies.on_send
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(expected))
    async with httpx.AsyncClient(base_url=url, limits=limits, trust_env=False) as client:

        async def learner(n: int) -> None:
            number = f"25078{first + n:07d}"
            to = f"whatsapp:+{number}"
            total = 0
            for i, count in enumerate(expected[n]):
                form = {
                    "MessageSid": f"SM{first + n:010d}{i:022d}",
                    "AccountSid": ACCOUNT_SID,
                    "From": to,
                    "To": FROM,
                    "WaId": number,
                    "ProfileName": f"Learner {n}",
                    "Body": SCRIPT[i % len(SCRIPT)],
                    "NumMedia": "0",
                }
                replies.first_at.pop(to, None)
                sent_at = time.monotonic()
                response = await client.post(INBOUND_PATH, data=form, headers=signed(INBOUND_PATH, form))
                if response.status_code != 200:
                    raise SystemExit(f"{name}: the webhook answered {response.status_code}: {response.text}")
                total += count
                try:
                    await asyncio.wait_for(replies.until(to, total), timeout=30)
                except TimeoutError:
                    raise SystemExit(
                        f"{name}: message {i} ({SCRIPT[i % len(SCRIPT)]!r}) from learner {n}: "
                        f"{replies.counts[to]} replies in all, expected {total}"
                    ) from None
                if count:
                    latencies.append(replies.first_at[to] - sent_at)

        start = time.perf_counter()
        await asyncio.gather(*(learner(n) for n in range(len(expected))))
        elapsed = time.perf_counter() - start
    fake.on_send = None
    return Result(name, sum(len(e) for e in expected), elapsed, latencies)


def twilio_process(conn: Connection) -> None:
    """The fake Twilio and the simulated learners, in their own process (spawned)."""

    async def serve() -> None:
        async with running(FakeTwilio()) as fake:
            conn.send(fake.url)
            loop = asyncio.get_running_loop()
            while (command := await loop.run_in_executor(None, conn.recv)) is not None:
                name, url, expected, first = command
                result = await drive(name, fake, url, expected, first)
                conn.send((result.messages, result.elapsed, result.latencies))

    asyncio.run(serve())


@contextlib.asynccontextmanager
async def served(asgi: Starlette) -> AsyncIterator[str]:
    """Serve an ASGI app on a free loopback port with uvicorn, as `python -m bot run` does."""
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


def twilio_client(fake_url: str) -> tuple[Client, AsyncTwilioHttpClient]:
    http = AsyncTwilioHttpClient(timeout=20)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
    client.api.base_url = fake_url
    return client, http


@contextlib.asynccontextmanager
async def minimal_echo(fake_url: str) -> AsyncIterator[Starlette]:
    """Check the signature, answer 200 with empty TwiML, then post the reply to Twilio."""
    validator = RequestValidator(AUTH_TOKEN)
    client, http = twilio_client(fake_url)

    async def reply(to: str, body: str) -> None:
        await client.messages.create_async(
            to=to, from_=FROM, body=body, status_callback=f"{PUBLIC_URL}{STATUS_PATH}"
        )

    async def webhook(request: Request) -> Response:
        form = await request.form()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(f"{PUBLIC_URL}{INBOUND_PATH}", form, signature):
            return PlainTextResponse("forbidden", status_code=403)
        task = BackgroundTask(reply, str(form["From"]), str(form.get("Body") or "…"))
        return Response(TWIML_EMPTY, media_type="text/xml", background=task)

    try:
        yield Starlette(routes=[Route(INBOUND_PATH, webhook, methods=["POST"])])
    finally:
        await http.close()


def settings_for(db: Path, fake_url: str, tmp: Path) -> Settings:
    return replace(
        Settings(database_url=f"sqlite:///{db}"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=FROM,
        twilio_api_url=fake_url,
        public_base_url=PUBLIC_URL,
        whatsapp_templates_file=tmp / "none.yaml",  # no quick-reply templates: numbered choices
    )


@contextlib.asynccontextmanager
async def ours(db: Path, fake_url: str, tmp: Path) -> AsyncIterator[Starlette]:
    """Our web app with the inbox, the WhatsApp outbox sender and maintenance running."""
    settings = settings_for(db, fake_url, tmp)
    async with tidy():
        app = await App.create(settings)
        channel = WhatsAppChannel.create(settings, app)
        runtime = replace(channel.runtime(), rate=None)  # no rate limit, as for the minimal echo
        sender = make_senders(app, [runtime])["whatsapp"]
        await channel.start()
        tasks = [
            asyncio.create_task(sender.run()),
            asyncio.create_task(app.inbox.run()),
            asyncio.create_task(Maintenance(app.db, settings).run()),
        ]
        try:
            yield build_web(app, [runtime])
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await channel.stop()
            await app.close()


async def replies_per_message(tmp: Path, messages: int) -> list[int]:
    """How many Twilio messages each message of the script gets from us (it is deterministic)."""
    settings = settings_for(tmp / "dry.db", "http://127.0.0.1:9", tmp)
    app = await App.create(settings)
    channel = WhatsAppChannel.create(settings, app)
    counts = []
    for i in range(messages):
        form = {"MessageSid": f"SMdry{i}", "From": "whatsapp:+250780000001", "WaId": "250780000001"}
        form |= {"Body": SCRIPT[i % len(SCRIPT)], "ProfileName": "Learner 0", "NumMedia": "0"}
        inbound = inbound_from(FormData(form))
        assert inbound is not None
        out = await app.engine.handle(inbound) or []
        counts.append(sum(len(channel.render(o)) for o in out if o.channel == "whatsapp"))
    await app.close()
    return counts


async def alternate(
    tmp: Path, remote, fake_url: str, users: int, expected: list[int], rounds: int
) -> tuple[list[Result], list[Result]]:  # type: ignore[no-untyped-def]
    """The minimal echo, then ours, `rounds` times: a machine busy for a while slows both alike."""
    echoes, ours_runs = [], []
    for n in range(rounds):
        first = 100_000 * (n + 1)  # new learners each round
        async with minimal_echo(fake_url) as asgi, served(asgi) as url:
            echoes.append(await remote("minimal Twilio echo", url, [[1] * len(expected)] * users, first))
        async with ours(tmp / f"round{n}.db", fake_url, tmp) as asgi, served(asgi) as url:
            ours_runs.append(await remote("Club Speak bot", url, [expected] * users, first + 50_000))
    return echoes, ours_runs


def report(result: Result) -> str:
    return (
        f"{result.name:<20} {result.throughput:8.1f} msg/s   "
        f"p50 {result.percentile(50) * 1000:7.1f} ms   p99 {result.percentile(99) * 1000:7.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated learners")
    parser.add_argument("--messages", type=int, default=len(SCRIPT), help="messages per learner")
    parser.add_argument("--rounds", type=int, default=3, help="minimal echo then ours, this many times")
    args = parser.parse_args()
    if args.users < 1 or args.messages < 1 or args.rounds < 1:
        parser.error("--users, --messages and --rounds must be at least 1")
    context = multiprocessing.get_context("spawn")
    ours_end, theirs = context.Pipe()
    process = context.Process(target=twilio_process, args=(theirs,), daemon=True)
    process.start()
    loop = asyncio.get_running_loop()

    async def remote(name: str, url: str, expected: list[list[int]], first: int) -> Result:
        ours_end.send((name, url, expected, first))
        count, elapsed, latencies = await loop.run_in_executor(None, ours_end.recv)
        return Result(name, count, elapsed, latencies)

    try:
        fake_url = await loop.run_in_executor(None, ours_end.recv)
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            expected = await replies_per_message(tmp, args.messages)
            echoes, ours_runs = await alternate(tmp, remote, fake_url, args.users, expected, args.rounds)
        ours_end.send(None)
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    echo, mine = pooled(echoes), pooled(ours_runs)
    ratios = [o.throughput / e.throughput for e, o in zip(echoes, ours_runs, strict=True)]
    ratio = mine.throughput / echo.throughput
    print("signed webhooks over HTTP to uvicorn on loopback; learners and fake Twilio in their own process")
    print(
        f"users={args.users} messages/user={args.messages} rounds={args.rounds} (echo, then ours, each round)"
    )
    print(report(echo))
    print(report(mine))
    spread = f" (rounds {min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
    verdict = "met" if ratio >= 0.5 else "NOT met"
    print(f"end-to-end throughput ours/minimal echo: {ratio:.2f}{spread}   goal >= 0.5: {verdict}")
    p50 = mine.percentile(50) / echo.percentile(50)
    p99 = mine.percentile(99) / echo.percentile(99)
    print(f"latency to the first reply, ours/minimal echo: p50 {p50:.2f}, p99 {p99:.2f} (no goal)")
    print(
        f"Twilio messages per message: ours {statistics.mean(expected):.2f} on average, echo 1 "
        "(choices as a numbered list, no quick-reply templates)"
    )


if __name__ == "__main__":
    asyncio.run(main())
