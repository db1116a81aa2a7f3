"""A fake LINE Messaging API over real HTTP, for the calls the app makes.

It runs an aiohttp server on 127.0.0.1 in a background thread with its own event loop, so the real
`line-bot-sdk` client talks to it through sockets. It implements:

- `POST /v2/bot/message/reply`: single-use reply tokens that expire. Tokens come from
  `issue_reply_token(ttl=...)`; unknown, used or expired tokens get 400 "Invalid reply token".
- `POST /v2/bot/message/push`: `X-Line-Retry-Key` semantics. A key whose request was accepted
  before gets 409 with the `x-line-accepted-request-id` header and nothing is sent again; a request
  that failed (e.g. an injected 500) does not consume its key, as on LINE.
- `POST /v2/bot/chat/loading/start`: user ids (`U...`) only, 5-60 seconds in steps of 5.
- Bearer-token check (401), injected failures (`fail_next`), message shape checks (at most 5
  messages, text at most 5000 characters, image URLs at most 2000 characters).

LINE requires HTTPS image URLs. Blob SAS URLs from Azurite are http, so the fake records a
`scheme_warning` on the sent entry instead of rejecting it; production LINE would refuse them.

Run standalone for manual tests: `python -m testing.fakes.line_server --port 8090`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MAX_MESSAGES = 5
MAX_TEXT_UTF16 = 5000
MAX_URL_CHARS = 2000
_CHAT_ID = re.compile(r"^[UCR][0-9a-f]{32}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_FAULT_MESSAGES = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class _Fault:
    path_suffix: str
    status: int
    remaining: int


def _problem(status: int, message: str, details: list[dict[str, str]] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return web.json_response(body, status=status, headers={"x-line-request-id": str(uuid.uuid4())})


def _invalid(prop: str, message: str) -> web.Response:
    return _problem(400, "The request body has 1 error(s)", [{"message": message, "property": prop}])


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _message_errors(messages: Any) -> list[dict[str, str]]:
    """LINE's validation of the `messages` array, for the message types the app sends."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return [{"message": "Size must be between 1 and 5", "property": "messages"}]
    errors: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not 1 <= _utf16_length(text) <= MAX_TEXT_UTF16:
                errors.append({"message": "Length must be between 1 and 5000", "property": f"{where}.text"})
        elif kind == "image":
            for key in ("originalContentUrl", "previewImageUrl"):
                url = message.get(key)
                if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                    errors.append({"message": "must be a valid URL", "property": f"{where}.{key}"})
                elif len(url) > MAX_URL_CHARS:
                    errors.append({"message": "Length must be at most 2000", "property": f"{where}.{key}"})
        else:
            errors.append({"message": "unknown or unsupported message type", "property": f"{where}.type"})
    return errors


def _scheme_warning(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        for key in ("originalContentUrl", "previewImageUrl"):
            url = message.get(key)
            if isinstance(url, str) and not url.startswith("https://"):
                return f"{key} is not https (LINE would reject it): {url[:60]}"
    return None


class FakeLine:
    """The LINE Messaging API endpoints the app calls, on one local port."""

    def __init__(self, channel_access_token: str = "dummy-token", *, port: int = 0) -> None:
        self.channel_access_token = channel_access_token
        self.sent: list[dict[str, Any]] = []  # {to, messages, via, retry_key, scheme_warning}
        self.loading: list[dict[str, Any]] = []  # accepted loading-animation calls
        self.requests: list[dict[str, Any]] = []  # every call: {path, status, headers, json}
        self._tokens: dict[str, dict[str, Any]] = {}  # reply token -> {expires, to, used}
        self._accepted_keys: dict[str, str] = {}  # retry key -> accepted request id
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()  # re-entrant: wait_for predicates may read snapshots
        self._changed = threading.Condition(self._lock)
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeLine:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-line", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake LINE server did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start_site())
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        self._loop.close()

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/v2/bot/message/reply", self._reply)
        app.router.add_post("/v2/bot/message/push", self._push)
        app.router.add_post("/v2/bot/chat/loading/start", self._loading)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        self._port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeLine:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- test controls ---------------------------------------------------------------------
    def issue_reply_token(self, ttl: float = 60.0, *, to: str | None = None) -> str:
        """A fresh single-use reply token valid for `ttl` seconds (for the chat `to`, if given)."""
        token = uuid.uuid4().hex
        with self._lock:
            self._tokens[token] = {"expires": time.monotonic() + ttl, "to": to, "used": False}
        return token

    def fail_next(self, path_suffix: str, status: int, times: int = 1) -> None:
        """Answer the next `times` calls whose path ends with `path_suffix` with `status`."""
        with self._lock:
            self._faults.append(_Fault(path_suffix=path_suffix, status=status, remaining=times))

    def sent_snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.sent)

    def wait_for(self, predicate: Callable[[FakeLine], bool], timeout: float = 30.0) -> bool:
        """Block until `predicate(self)` holds (checked on every call the fake answers) or time runs out."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def wait_for_sent(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The sent entries once there are at least `count` of them (fewer if the time runs out)."""
        self.wait_for(lambda fake: len(fake.sent) >= count, timeout)
        return self.sent_snapshot()

    # ---- plumbing --------------------------------------------------------------------------
    async def _admit(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Record the call; answer 401 for a wrong token and injected faults before anything else."""
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        with self._changed:
            self.requests.append({"path": request.path, "headers": dict(request.headers), "json": payload})
            self._changed.notify_all()
        if request.headers.get("Authorization") != f"Bearer {self.channel_access_token}":
            return payload, _problem(401, "Authentication failed. Confirm that the access token is valid.")
        fault = self._take_fault(request.path)
        if fault is not None:
            return payload, _problem(fault, _FAULT_MESSAGES.get(fault, f"Injected HTTP {fault}"))
        if not isinstance(payload, dict):
            return payload, _problem(400, "The request body has 1 error(s)")
        sends = request.path.startswith("/v2/bot/message/")
        errors = _message_errors(payload.get("messages")) if sends else []
        if errors:
            return payload, _problem(400, f"The request body has {len(errors)} error(s)", errors)
        return payload, None

    def _take_fault(self, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if path.endswith(fault.path_suffix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault.status
        return None

    def _record_sent(
        self, *, to: str | None, messages: list[dict[str, Any]], via: str, retry_key: str | None
    ) -> list[dict[str, str]]:
        entry = {
            "to": to,
            "messages": messages,
            "via": via,
            "retry_key": retry_key,
            "scheme_warning": _scheme_warning(messages),
        }
        with self._changed:
            self.sent.append(entry)
            self._changed.notify_all()
        return [{"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in messages]

    # ---- endpoints -------------------------------------------------------------------------
    async def _reply(self, request: web.Request) -> web.Response:
        payload, refusal = await self._admit(request)
        if refusal is not None:
            return refusal
        token = payload.get("replyToken")
        with self._lock:
            record = self._tokens.get(token) if isinstance(token, str) else None
            valid = record is not None and not record["used"] and record["expires"] > time.monotonic()
            if valid:
                record["used"] = True
        if not valid:
            return _problem(400, "Invalid reply token")
        sent = self._record_sent(to=record["to"], messages=payload["messages"], via="reply", retry_key=None)
        return web.json_response({"sentMessages": sent}, headers={"x-line-request-id": str(uuid.uuid4())})

    async def _push(self, request: web.Request) -> web.Response:
        payload, refusal = await self._admit(request)
        if refusal is not None:
            return refusal
        to = payload.get("to")
        if not isinstance(to, str) or not _CHAT_ID.match(to):
            return _invalid("to", "Invalid to")
        retry_key = request.headers.get("X-Line-Retry-Key")
        if retry_key is not None and not _UUID.match(retry_key):
            return _problem(400, "The retry key is invalid")
        request_id = str(uuid.uuid4())
        with self._lock:
            accepted = self._accepted_keys.get(retry_key) if retry_key else None
            if retry_key and accepted is None:
                self._accepted_keys[retry_key] = request_id
        if accepted is not None:
            response = _problem(409, "The retry key is already accepted")
            response.headers["x-line-accepted-request-id"] = accepted
            return response
        sent = self._record_sent(to=to, messages=payload["messages"], via="push", retry_key=retry_key)
        return web.json_response({"sentMessages": sent}, headers={"x-line-request-id": request_id})

    async def _loading(self, request: web.Request) -> web.Response:
        payload, refusal = await self._admit(request)
        if refusal is not None:
            return refusal
        chat_id = payload.get("chatId")
        seconds = payload.get("loadingSeconds", 20)
        if not isinstance(chat_id, str) or not chat_id.startswith("U") or not _CHAT_ID.match(chat_id):
            return _invalid("chatId", "Not a valid user ID")
        if not isinstance(seconds, int) or not 5 <= seconds <= 60 or seconds % 5:
            return _invalid("loadingSeconds", "Must be a multiple of 5 between 5 and 60")
        with self._changed:
            self.loading.append({"chatId": chat_id, "loadingSeconds": seconds})
            self._changed.notify_all()
        return web.json_response({}, status=202)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", default="dummy-token")
    args = parser.parse_args()
    with FakeLine(args.token, port=args.port) as server:
        print(f"LINE_API_HOST={server.base_url}")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
