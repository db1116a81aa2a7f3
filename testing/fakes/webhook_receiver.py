"""A callback receiver on loopback that verifies every request with the real Standard Webhooks verifier.

Runs in a thread of its own (stdlib HTTP server), so sync e2e tests and async tests can both use it.
Each request takes the next scripted answer: an HTTP status, or `"hang"` (answer after `hang_seconds`,
past the sender's timeout); past the script it answers 204.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# Obvious test dummies, in the `whsec_<base64>` form (the second is another key of the same form).
TEST_SECRET = "whsec_" + "dGVzdC1vbmx5LWNhbGxiYWNrLXNlY3JldC1kdW1teQ=="  # "test-only-callback-secret-dummy"
OTHER_SECRET = "whsec_" + "YW5vdGhlci10ZXN0LW9ubHktc2VjcmV0LWR1bW15"  # "another-test-only-secret-dummy"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int | str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    secret: str = TEST_SECRET
    script: list[int | str] = field(default_factory=list)
    hang_seconds: float = 2.0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = receiver.script.pop(0) if receiver.script else 204
                receiver.received.append(Received(headers, body, receiver.verify(headers, body), answer))
                if answer == "hang":
                    time.sleep(receiver.hang_seconds)
                    answer = 204
                # An unverified request is refused, as a real receiver would.
                status = int(answer) if receiver.received[-1].verified else 401
                with contextlib.suppress(OSError):  # the sender gave up waiting ("hang") and closed
                    self._answer(status)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/redirected")
                # A body the sender must ignore (none is allowed with 204).
                payload = b"" if status == 204 else b'{"ignored":true}'
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
