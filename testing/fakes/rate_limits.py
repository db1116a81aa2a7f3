"""Provider rate limits for the fake OpenAI server: token buckets, the headers OpenAI and Azure OpenAI
send, 429s with `retry-after`/`retry-after-ms`, and outages of a given length.

Each limit is a token bucket that refills at `per_minute / 60` per second and holds at most
`burst_seconds` of it (at least one unit), the way providers enforce a per-minute quota over
shorter periods: a limit of 60 images a minute admits about one image a second, not 60 at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass
class TokenBucket:
    """`per_minute` units a minute; starts full."""

    name: str  # "requests", "tokens" or "images": the header suffix
    per_minute: int
    burst_seconds: float = 1.0
    level: float = 0.0
    updated: float | None = None  # None until first used: the bucket starts full

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute / 60.0 * self.burst_seconds)

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0

    def refill(self, now: float) -> None:
        if self.updated is None:
            self.level, self.updated = self.capacity, now
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` units are there (0 if they are); more than capacity never fits."""
        wanted = min(amount, self.capacity)
        return 0.0 if self.level >= wanted else (wanted - self.level) / self.rate

    def headers(self) -> dict[str, str]:
        until_full = (self.capacity - self.level) / self.rate
        return {
            f"x-ratelimit-limit-{self.name}": str(self.per_minute),
            f"x-ratelimit-remaining-{self.name}": str(max(0, int(self.level))),
            f"x-ratelimit-reset-{self.name}": duration_text(until_full),
        }


def duration_text(seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1s`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


@dataclass
class Admission:
    """The answer to one call: admitted (with headers to add) or refused with a status."""

    status: int  # 200 admitted, 429 throttled, 5xx outage
    headers: dict[str, str]
    limit_name: str = ""
    wait_seconds: float = 0.0


@dataclass
class RateStats:
    admitted: int = 0
    throttled: int = 0
    outage: int = 0
    admitted_at: list[float] = field(default_factory=list)
    admitted_prompts: list[str] = field(default_factory=list)


class ProviderLimits:
    """The limits of one fake account (shared by its OpenAI and Azure OpenAI routes)."""

    def __init__(
        self,
        *,
        images_per_minute: int | None = None,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        burst_seconds: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        wanted = {"requests": requests_per_minute, "tokens": tokens_per_minute, "images": images_per_minute}
        self.buckets = {
            name: TokenBucket(name, per_minute, burst_seconds)
            for name, per_minute in wanted.items() if per_minute is not None
        }
        self.stats = RateStats()
        self._clock = clock
        self._lock = threading.Lock()
        self._outage_until = 0.0
        self._outage_status = 503

    def start_outage(self, seconds: float, *, status: int = 503) -> None:
        """Every call for the next `seconds` answers `status` (an outage of the service)."""
        with self._lock:
            self._outage_until = self._clock() + seconds
            self._outage_status = status

    def admit(self, *, images: int = 0, tokens: int = 0) -> Admission:
        """Take one request (and `images`, `tokens`) from the buckets, or say how long to wait."""
        with self._lock:
            now = self._clock()
            if now < self._outage_until:
                self.stats.outage += 1
                return Admission(self._outage_status, {})
            cost = {"requests": 1, "images": images, "tokens": tokens}
            for bucket in self.buckets.values():
                bucket.refill(now)
            waits = {name: bucket.wait_for(cost[name]) for name, bucket in self.buckets.items()}
            blocking = max(waits, key=lambda name: waits[name], default="")
            if blocking and waits[blocking] > 0:
                self.stats.throttled += 1
                return self._refusal(blocking, waits[blocking])
            for name, bucket in self.buckets.items():
                # A call bigger than the burst goes into debt that later calls wait out.
                bucket.level -= cost[name]
            self.stats.admitted += 1
            self.stats.admitted_at.append(now)
            return Admission(200, self._headers())

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for bucket in self.buckets.values():
            headers.update(bucket.headers())
        return headers

    def _refusal(self, name: str, wait: float) -> Admission:
        headers = self._headers()
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return Admission(429, headers, limit_name=name, wait_seconds=wait)


def openai_throttle_body(admission: Admission, *, model: str) -> dict[str, object]:
    """OpenAI's 429 body for a per-minute limit."""
    unit = {"images": "images per min (IPM)", "tokens": "tokens per min (TPM)"}.get(
        admission.limit_name, "requests per min (RPM)"
    )
    message = (
        f"Rate limit reached for {model} in organization org-fake on {unit}. "
        f"Please try again in {duration_text(admission.wait_seconds)}."
    )
    return {"error": {"message": message, "type": admission.limit_name or "requests", "param": None,
                      "code": "rate_limit_exceeded"}}


def azure_throttle_body(admission: Admission, *, operation: str) -> dict[str, object]:
    """Azure OpenAI's 429 body."""
    message = (
        f"Requests to the {operation} Operation under Azure OpenAI API version 2025-04-01-preview have "
        f"exceeded call rate limit of your current pricing tier. Please retry after "
        f"{admission.headers['retry-after']} seconds."
    )
    return {"error": {"code": "429", "message": message}}


def outage_body() -> dict[str, object]:
    return {"error": {"message": "The engine is currently overloaded, please try again later.",
                      "type": "server_error", "param": None, "code": None}}
