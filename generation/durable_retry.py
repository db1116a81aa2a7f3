"""Orchestrator-side retries of an activity until a deadline (deterministic: replay-safe).

The orchestrator owns every retry of the pipeline: an activity that raises (storage down, worker
lost, a LINE 5xx) is called again after a durable timer, with the back-off of `retry_policy`, until
the given instant. Nothing here reads the clock, the environment or `random`.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from generation import retry_policy
from jobs.contracts import INTERNAL, ErrorPayload, error_payload

Steps = Generator[Any, Any, Any]


class DeadlineReachedError(Exception):
    """The activity kept failing until the deadline; `last_error` is its last failure."""

    def __init__(self, name: str, last_error: ErrorPayload) -> None:
        super().__init__(f"{name} kept failing until the deadline: {last_error['message']}")
        self.last_error = last_error


def next_attempt(context: df.DurableOrchestrationContext, attempt: int, *, seed: str, until: datetime,
                 retry_after: float | None = None) -> datetime | None:
    """When to try again (None: the deadline comes first). Module-level so tests can shorten waits."""
    return retry_policy.next_attempt_at(context.current_utc_datetime, attempt, seed=seed, until=until,
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
