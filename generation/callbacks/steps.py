"""The orchestrator's callback step: attempts on durable timers with capped exponential back-off.

Deterministic (no I/O, no clock but the context's): composed into any orchestrator with
`yield from deliver_callback(context, job_id)` once the job is terminal.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from jobs.contracts import SEND_CALLBACK, CallbackAnswer, CallbackAttempt, CallbackOutcome

FIRST_DELAY_SECONDS = 5
MAX_DELAY_SECONDS = 600
RETRY_WINDOW_SECONDS = 3600


def retry_delays(
    *, first: int = FIRST_DELAY_SECONDS, cap: int = MAX_DELAY_SECONDS, window: int = RETRY_WINDOW_SECONDS
) -> tuple[int, ...]:
    """Seconds to wait before each retry: doubling from `first`, at most `cap`, until `window` is spent."""
    delays: list[int] = []
    delay = first
    while sum(delays) < window:
        delays.append(delay)
        delay = min(delay * 2, cap)
    return tuple(delays)


RETRY_DELAYS = retry_delays()


def deliver_callback(
    context: df.DurableOrchestrationContext, job_id: str
) -> Generator[Any, Any, CallbackOutcome]:
    """Send the job's callback until a receiver takes it, the retries run out, or the job is deleted."""
    waits = (0, *RETRY_DELAYS)
    for attempt, wait in enumerate(waits, start=1):
        if wait:
            yield context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
        request: CallbackAttempt = {"job_id": job_id, "attempt": attempt, "last": attempt == len(waits)}
        try:
            answer: CallbackAnswer = yield context.call_activity(SEND_CALLBACK, request)
        except Exception:  # the activity crashed (storage down): another attempt later
            continue
        if answer["outcome"] != "retry":
            return answer["outcome"]
    return "failed"
