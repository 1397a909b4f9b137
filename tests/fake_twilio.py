"""A fake Twilio REST API (Messages) on loopback, for tests and benchmarks.

It checks what the real one would refuse: Basic auth with the account sid and token, a
WhatsApp `To`, a `From` or messaging service, and either a Body or a ContentSid.
Errors can be scripted per recipient, in Twilio's JSON error shape.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"
PUBLIC_URL = "https://bot.example.org"


@dataclass
class Sent:
    to: str
    params: dict[str, str]

    @property
    def body(self) -> str:
        return self.params.get("Body", "")

    @property
    def variables(self) -> dict[str, str]:
        return json.loads(self.params.get("ContentVariables") or "{}")


@dataclass
class FakeTwilio:
    sent: list[Sent] = field(default_factory=list)
    # recipient -> list of (http status, Twilio error code) to answer before accepting
    errors: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)  # why requests were refused, for asserts
    url: str = ""
    on_send: Callable[[Sent], None] | None = None
    down: bool = False  # an outage: every request gets 503
    attempts: int = 0  # requests that reached the fake, accepted or not
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def to(self, address: str) -> list[Sent]:
        return [m for m in self.sent if m.to == address]

    def texts(self, address: str) -> str:
        return "\n".join(m.body or "\n".join(m.variables.values()) for m in self.to(address))

    def _error(self, status: int, code: int, message: str) -> JSONResponse:
        self.rejected.append(f"{code}: {message}")
        return JSONResponse({"code": code, "message": message, "more_info": "", "status": status}, status)

    async def _messages(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.down:
            return self._error(503, 20503, "Service Unavailable")
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return self._error(401, 20003, "Authenticate")
        if request.path_params["sid"] != ACCOUNT_SID:
            return self._error(404, 20404, "The requested resource was not found")
        params = {k: str(v) for k, v in (await request.form()).items()}
        to = params.get("To", "")
        if not to.startswith("whatsapp:+"):
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not (params.get("From", "").startswith("whatsapp:+") or params.get("MessagingServiceSid")):
            return self._error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if bool(params.get("Body")) == bool(params.get("ContentSid")):
            return self._error(400, 21619, "A text message body or content sid is required")
        if len(params.get("Body", "")) > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 character limit")
        scripted = self.errors.get(to)
        if scripted:
            status, code = scripted.pop(0)
            return self._error(status, code, f"scripted error {code}")
        message = Sent(to, params)
        self.sent.append(message)
        if self.on_send is not None:
            self.on_send(message)
        sid = f"SM{next(self._ids):032x}"
        return JSONResponse(
            {
                "sid": sid,
                "status": "queued",
                "to": to,
                "from": params.get("From"),
                "account_sid": ACCOUNT_SID,
            },
            201,
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", self._messages, methods=["POST"])]
        )


@contextlib.asynccontextmanager
async def running(fake: FakeTwilio) -> AsyncIterator[FakeTwilio]:
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    fake.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task


def signed(
    path: str, params: dict[str, str], token: str = AUTH_TOKEN, url: str = PUBLIC_URL
) -> dict[str, str]:
    """The headers Twilio would send: a signature over the public URL and the form."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(f"{url}{path}", params)}
