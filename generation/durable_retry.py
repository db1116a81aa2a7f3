"""Orchestrator-side retries of an activity until a deadline (deterministic: replay-safe).

The orchestrator owns every retry of the pipeline: an activity that raises (storage down, worker
lost, a LINE 5xx) is called again after a durable timer, with the back-off below, until
the given instant. Nothing here reads the clock, the environment or `random`.

When to try a transient failure again is bounded by the job's deadline, never by a count. The policy
is pure and deterministic, so the orchestrator may call it while replaying: the jitter is derived from a
seed (instance id, what is retried) and the attempt number, never from `random` or the clock.
Transient failures (429, 5xx, timeouts, connection errors, storage faults, a crashed worker) are
retried with capped exponential back-off until the deadline; permanent ones (rejected content, bad
key, unknown model or deployment) are never handed to this policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from jobs.contracts import INTERNAL, ErrorPayload, error_payload

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


Steps = Generator[Any, Any, Any]


class DeadlineReachedError(Exception):
    """The activity kept failing until the deadline; `last_error` is its last failure."""

    def __init__(self, name: str, last_error: ErrorPayload) -> None:
        super().__init__(f"{name} kept failing until the deadline: {last_error['message']}")
        self.last_error = last_error


def next_attempt(context: df.DurableOrchestrationContext, attempt: int, *, seed: str, until: datetime,
                 retry_after: float | None = None) -> datetime | None:
    """When to try again (None: the deadline comes first). Module-level so tests can shorten waits."""
    return next_attempt_at(context.current_utc_datetime, attempt, seed=seed, until=until,
                                        retry_after=retry_after)


def call_until(context: df.DurableOrchestrationContext, name: str, payload: Any, *,
               until: datetime, seed: str, first: Any = None) -> Steps:
    """The activity's result, calling it again after each failure until `until`; raises DeadlineReachedError.

    `first` is a call of the same activity already scheduled (its failure counts as the first one).
    """
    attempt = 0
    task = first
    while True:
        try:
            return (yield task if task is not None else context.call_activity(name, payload))
        except Exception:  # the activity logged why; a failure here is treated as transient
            task = None
        when = next_attempt(context, attempt, seed=f"{seed}:{name}", until=until)
        if when is None:
            raise DeadlineReachedError(name, error_payload(INTERNAL))
        yield context.create_timer(when)
        attempt += 1
