"""Time windows in which a fake server misbehaves on every call (an outage, not a single failure).

Kinds: `500` (server errors), `429` (rate limited, with `retry-after`), `timeout` (the call hangs,
then a gateway answers 504 Gateway Timeout, as a proxy in front of a stuck service does).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

KINDS = ("500", "429", "timeout")


@dataclass(frozen=True)
class _Window:
    kind: str
    until: float  # time.monotonic()
    retry_after: float
    hang: float


class FaultWindows:
    """The current window (at most one at a time), and how many calls each kind has spoiled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: _Window | None = None
        self.spoiled: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.latency = 0.0  # seconds every healthy answer takes (so calls are in flight when faults hit)

    def open(self, kind: str, *, seconds: float, retry_after: float = 2.0, hang: float = 3.0) -> None:
        """Misbehave as `kind` for the next `seconds`."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {KINDS}")
        with self._lock:
            self._window = _Window(kind, time.monotonic() + seconds, retry_after, hang)

    def close(self) -> None:
        with self._lock:
            self._window = None

    def reset(self) -> None:
        """No window, no latency, counts back to zero."""
        with self._lock:
            self._window = None
            self.spoiled = dict.fromkeys(KINDS, 0)
        self.latency = 0.0

    def _current(self) -> _Window | None:
        with self._lock:
            window = self._window
            if window is not None and time.monotonic() >= window.until:
                self._window = window = None
            if window is not None:
                self.spoiled[window.kind] += 1
            return window

    async def answer(self, error_body: Any) -> web.Response | None:
        """The fault answer while a window is open, else None. `error_body(message, code)` shapes it."""
        window = self._current()
        if window is None:
            if self.latency:
                await asyncio.sleep(self.latency)
            return None
        if window.kind == "429":
            body = error_body("Rate limit reached. Please try again later.", "rate_limit_exceeded")
            return web.json_response(body, status=429, headers={"retry-after": f"{window.retry_after:g}"})
        if window.kind == "timeout":
            await asyncio.sleep(window.hang)
            body = error_body("The upstream server did not answer in time.", None)
            return web.json_response(body, status=504)
        body = error_body("The server had an error while processing your request.", None)
        return web.json_response(body, status=500)
