"""When to try a transient failure again: bounded by the job's deadline, never by a count.

Pure and deterministic, so the orchestrator may call it while replaying: the jitter is derived from a
seed (instance id, what is retried) and the attempt number, never from `random` or the clock.
Transient failures (429, 5xx, timeouts, connection errors, storage faults, a crashed worker) are
retried with capped exponential back-off until the deadline; permanent ones (rejected content, bad
key, unknown model or deployment) are never handed to this policy.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

BASE_DELAY_SECONDS = 1.0
# The cap bounds how long a job idles after an outage ends: at most this much past the recovery.
MAX_DELAY_SECONDS = 30.0
# Finalizing and delivering a job must still be possible after its deadline: they get this much more.
FINISH_GRACE = timedelta(minutes=3)


def jitter_fraction(seed: str, attempt: int) -> float:
    """A number in [0, 1) that looks random but is the same on every replay of the same attempt."""
    digest = hashlib.sha256(f"{seed}#{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def backoff_seconds(attempt: int, *, seed: str, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempt + 1`: capped exponential back-off with "equal jitter" (half
    fixed, half spread, so parallel retries do not arrive together), never sooner than the provider
    asked. A provider's own hint is honoured even past the cap: the deadline bounds the wait."""
    ceiling = min(BASE_DELAY_SECONDS * 2.0 ** min(attempt, 32), MAX_DELAY_SECONDS)
    delay = ceiling / 2 + jitter_fraction(seed, attempt) * ceiling / 2
    return max(delay, retry_after or 0.0)


def next_attempt_at(
    now: datetime, attempt: int, *, seed: str, until: datetime, retry_after: float | None = None
) -> datetime | None:
    """When to make attempt `attempt + 1`, or None when that would be past `until` (give up)."""
    when = now + timedelta(seconds=backoff_seconds(attempt, seed=seed, retry_after=retry_after))
    return when if when < until else None
