"""Waiting for provider slots inside the orchestrator: durable timers, never a sleeping activity.

`wait_for_slots` asks the shared limiter (an activity) for slots; while the answer is "not yet" it
sleeps on a durable timer until shortly before its turn, and asks again. A cancel event or the
deadline ends the wait, and the job leaves the line so that the jobs behind it move up. A devhost or
worker that dies meanwhile loses nothing: the timer and the place in line are both stored.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from jobs.contracts import ACQUIRE_PROVIDER_SLOTS, LEAVE_PROVIDER_QUEUE, LeaveRequest, SlotAnswer, SlotRequest

# The limiter's record is in Table Storage: a blip there is ridden out, not turned into a failed job
# (asking again with the same entry id is idempotent).
STORAGE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=6)
# Bounds on one sleep: not a busy loop, and the `waiting` note stays fresh on long waits.
MIN_SLEEP = timedelta(milliseconds=100)
MAX_SLEEP = timedelta(seconds=30)

Steps = Generator[Any, Any, Any]


@dataclass(frozen=True)
class Pacing:
    """What the orchestrator needs to ask for slots (from `mark_job_running`)."""

    job_id: str
    kind: str
    user: str | None
    deadline: datetime

    def ask(self, entry: str, count: int, *, waited: bool) -> SlotRequest:
        return {
            "job_id": self.job_id, "kind": self.kind, "user": self.user, "entry": f"{self.job_id}:{entry}",
            "count": count, "waited": waited, "deadline": self.deadline.isoformat(),
        }


def _sleep_until(context: df.DurableOrchestrationContext, wake_at: str | None) -> datetime:
    now: datetime = context.current_utc_datetime
    wanted = datetime.fromisoformat(wake_at.replace("Z", "+00:00")) if wake_at else now
    return min(max(wanted, now + MIN_SLEEP), now + MAX_SLEEP)


def wait_for_slots(
    context: df.DurableOrchestrationContext, pacing: Pacing, *, entry: str, count: int, stop: Sequence[Any]
) -> Steps:
    """Slot times for `count` calls (one per call), or the task of `stop` that ended the wait."""
    waited = False
    while True:
        answer: SlotAnswer = yield context.call_activity_with_retry(
            ACQUIRE_PROVIDER_SLOTS, STORAGE_RETRY, pacing.ask(entry, count, waited=waited)
        )
        if answer["granted"]:
            return [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in answer.get("times", [])]
        waited = True
        timer = context.create_timer(_sleep_until(context, answer.get("wake_at")))
        winner = yield context.task_any([timer, *stop])
        if winner is not timer:
            timer.cancel()
            leave: LeaveRequest = {
                "job_id": pacing.job_id, "kind": pacing.kind, "entries": [f"{pacing.job_id}:{entry}"]
            }
            yield context.call_activity_with_retry(LEAVE_PROVIDER_QUEUE, STORAGE_RETRY, leave)
            return winner


def slot_starts(context: df.DurableOrchestrationContext, times: Sequence[datetime]) -> dict[int, Any]:
    """A timer for each slot still ahead, by output index; outputs whose slot has come start now."""
    now = context.current_utc_datetime
    return {index: context.create_timer(moment) for index, moment in enumerate(times) if moment > now}
