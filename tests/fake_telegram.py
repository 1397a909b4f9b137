"""A fake Telegram Bot API on loopback, for tests and benchmarks.

It speaks just enough of the real protocol for python-telegram-bot's HTTP stack:
form-encoded parameters (nested ones as JSON strings), `{"ok": ..., "result": ...}`
answers, long-polled getUpdates, and scripted errors (403, 429 with retry_after).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT_USER = {
    "id": 999,
    "is_bot": True,
    "first_name": "Club Speak",
    "username": "ClubSpeakBot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    ok: bool = True  # False when the fake answered with a scripted error


@dataclass
class FakeBotAPI:
    token: str = "123456:TEST-TOKEN"
    calls: list[Call] = field(default_factory=list)
    updates: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    # method -> list of error answers to give before behaving (e.g. {"sendMessage": [(429, 1)]})
    errors: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)
    forbidden_chats: set[int] = field(default_factory=set)
    url: str = ""
    # Called with each accepted sendMessage/sendPhoto (benchmarks time replies with it).
    on_send: Callable[[Call], None] | None = None
    # Awaited with every call before it is answered (a test does something at that moment).
    on_call: Callable[[Call], Awaitable[None]] | None = None
    # Like Telegram: beyond this many sends in any second, answer 429 with retry_after.
    limit_per_second: int | None = None
    # An outage: every method answers 502 Bad Gateway, as Telegram's front does when it is down.
    down: bool = False
    # Files users sent, by file_id: served by getFile and the file download URL.
    files: dict[str, bytes] = field(default_factory=dict)
    _window: list[float] = field(default_factory=list)
    _unconfirmed: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    # -- what tests do ------------------------------------------------------------

    def push_text(self, chat_id: int, text: str, language_code: str | None = "en") -> int:
        update_id = next(self._update_ids)
        user = {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}"}
        if language_code:
            user["language_code"] = language_code
        self.updates.put_nowait(
            {
                "update_id": update_id,
                "message": {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "text": text,
                    "chat": {"id": chat_id, "type": "private"},
                    "from": user,
                    **(
                        {"entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}
                        if text.startswith("/")
                        else {}
                    ),
                },
            }
        )
        return update_id

    def push_message(self, chat_id: int, **content: Any) -> int:
        """Any other message: a photo (`photo=[{...}]`, `caption=`) or a location (`location={...}`)."""
        update_id = next(self._update_ids)
        user = {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}", "language_code": "en"}
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
        }
        self.updates.put_nowait({"update_id": update_id, "message": message | {"from": user} | content})
        return update_id

    def push_tap(self, chat_id: int, data: str, update_id: int | None = None) -> int:
        update_id = update_id or next(self._update_ids)
        self.updates.put_nowait(self.tap_update(chat_id, data, update_id))
        return update_id

    def tap_update(self, chat_id: int, data: str, update_id: int | None = None) -> dict[str, Any]:
        user = {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}"}
        return {
            "update_id": update_id or next(self._update_ids),
            "callback_query": {
                "id": str(next(self._ids)),
                "from": user,
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "text": "…",
                    "chat": {"id": chat_id, "type": "private"},
                    "from": BOT_USER,
                },
            },
        }

    def sent(self, chat_id: int | None = None, *, refused: bool = False) -> list[Call]:
        """Messages the fake accepted (or, with refused=True, answered with an error)."""
        return [
            c
            for c in self.calls
            if c.method in ("sendMessage", "sendPhoto")
            and c.ok is not refused
            and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]

    def last_keyboard(self, chat_id: int) -> list[tuple[str, str]]:
        """The buttons of the newest message to this chat ([] if it has none)."""
        sent = self.sent(chat_id)
        markup = sent[-1].params.get("reply_markup") if sent else None
        if not markup:
            return []
        rows = json.loads(markup)["inline_keyboard"]
        return [(b["text"], b["callback_data"]) for row in rows for b in row]

    # -- the server ---------------------------------------------------------------

    async def _method(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        if token != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        if request.headers.get("content-type", "").startswith("application/json"):
            params = await request.json()
        else:
            params = dict(await request.form())
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        if self.on_call is not None:
            await self.on_call(call)
        if self.down:
            call.ok = False
            return JSONResponse({"ok": False, "error_code": 502, "description": "Bad Gateway"}, 502)
        scripted = self.errors.get(method)
        if scripted:
            code, retry_after = scripted.pop(0)
            call.ok = False
            body: dict[str, Any] = {"ok": False, "error_code": code, "description": f"Error {code}"}
            if code == 429:
                body["description"] = f"Too Many Requests: retry after {retry_after}"
                body["parameters"] = {"retry_after": retry_after}
            if code == 403:
                body["description"] = "Forbidden: bot was blocked by the user"
            return JSONResponse(body, status_code=code)
        if method in ("sendMessage", "sendPhoto") and self.limit_per_second is not None:
            now = time.monotonic()
            self._window = [t for t in self._window if now - t < 1.0]
            if len(self._window) >= self.limit_per_second:
                call.ok = False
                body = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1"}
                return JSONResponse({**body, "parameters": {"retry_after": 1}}, status_code=429)
            self._window.append(now)
        if method in ("sendMessage", "sendPhoto") and int(params.get("chat_id", 0)) in self.forbidden_chats:
            call.ok = False
            return JSONResponse(
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}, 403
            )
        result = await self._result(method, params)
        if self.on_send is not None and method in ("sendMessage", "sendPhoto"):
            self.on_send(call)
        return JSONResponse({"ok": True, "result": result})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            # Like Telegram: an update is given again until a later call's offset confirms it.
            timeout = float(params.get("timeout", 0) or 0)
            offset = int(params.get("offset", 0) or 0)
            self._unconfirmed = [u for u in self._unconfirmed if u["update_id"] >= offset]
            if not self._unconfirmed and self.updates.empty():
                with contextlib.suppress(asyncio.TimeoutError):
                    self._unconfirmed.append(
                        await asyncio.wait_for(self.updates.get(), timeout=max(timeout, 0.05))
                    )
            while not self.updates.empty():
                self._unconfirmed.append(self.updates.get_nowait())
            return [u for u in self._unconfirmed if u["update_id"] >= offset]
        if method in ("sendMessage", "sendPhoto"):
            return {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
                "text": params.get("text") or params.get("caption") or "",
            }
        if method == "editMessageReplyMarkup":
            return True
        if method == "getFile":
            file_id = str(params.get("file_id"))
            if file_id in self.files:
                return {"file_id": file_id, "file_unique_id": file_id, "file_path": f"photos/{file_id}.jpg"}
        return True  # setWebhook, deleteWebhook, setMyCommands, answerCallbackQuery, sendChatAction

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        body = self.files.get(request.path_params["name"].removesuffix(".jpg"))
        return Response(body, media_type="image/jpeg") if body else Response(status_code=404)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/photos/{name}", self._file, methods=["GET"]),
            ]
        )


@contextlib.asynccontextmanager
async def running(fake: FakeBotAPI, port: int = 0) -> AsyncIterator[FakeBotAPI]:
    """Serve the fake on a loopback port (a free one by default) for the duration of the block."""
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(condition, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition (sync or async) until it holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
