"""The outputs of one job under way, for the generation orchestrator: activities in flight, retries
asking the shared limiter for a slot, and timers until a slot, the end of a back-off or the next ask.

Deterministic like the orchestrator (no I/O, clock or random): it only schedules tasks and records
their answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.durable_functions as df

from generation.durable_retry import next_attempt
from generation.pacing import Pacing, after_pause, ask_slots, granted_times, reask_timer, slot_timer
from generation.providers.base import RateLimitedError
from jobs.contracts import (
    GENERATE_OUTPUT,
    INTERNAL,
    ErrorPayload,
    Outcome,
    OutputRequest,
    OutputResult,
    error_payload,
)


class Progress:
    """What the orchestrator knows about each output: attempts made, failures, how many are done."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.attempts = dict.fromkeys(range(total), 0)
        self.failures: dict[int, ErrorPayload] = {}
        self.last_errors: dict[int, ErrorPayload] = {}  # of outputs still being retried
        self.out_of_time = False  # an output's next attempt would come after the deadline
        self.succeeded = 0
        self.job_finished = False  # the write that stored the last output also finished the job

    def custom_status(self, state: str) -> dict[str, Any]:
        return {"state": state, "completed": self.succeeded, "total": self.total}


def attempt(context: df.DurableOrchestrationContext, job_id: str, index: int,
            slot: datetime | None = None) -> Any:
    """The output's `generate_output` call; when paced, the call waits for `slot` before it starts."""
    request: OutputRequest = {"job_id": job_id, "index": index}
    if slot is not None:
        request["not_before"] = slot.isoformat()
    return context.call_activity(GENERATE_OUTPUT, request)


def result_of(task: Any, index: int) -> OutputResult:
    """An activity's answer; an activity that crashed (storage down, worker lost) is transient."""
    value = task.result
    if isinstance(value, dict):
        result: OutputResult = value  # type: ignore[assignment]  # JSON from the generate_output activity
        return result
    return {"index": index, "status": "retry", "error": error_payload(INTERNAL)}


# What an output's timer leads to: its granted slot, the end of a back-off (then it asks for a
# slot), or the moment to ask the limiter again.
SLOT, BACKOFF, REASK = "slot", "backoff", "reask"


class Fanout:
    """The outputs under way: activities in flight, retries asking the limiter for a slot, and
    timers until a slot, the end of a back-off or the next ask. Nothing here blocks: a retry that
    waits its turn in the line never holds up the other outputs' slots."""

    def __init__(self, context: df.DurableOrchestrationContext, job_id: str, progress: Progress, *,
                 pacing: Pacing | None, deadline: datetime) -> None:
        self.context, self.job_id, self.progress = context, job_id, progress
        self.pacing, self.deadline = pacing, deadline
        self.in_flight: dict[int, Any] = {}
        self.asking: dict[int, Any] = {}  # index -> the limiter's answer on its way
        self.waiting: dict[int, tuple[Any, str]] = {}  # index -> (timer, SLOT | BACKOFF | REASK)
        self.slots: dict[int, datetime] = {}  # index -> the granted slot its timer leads to

    def busy(self) -> bool:
        return bool(self.in_flight or self.asking or self.waiting)

    def tasks(self) -> list[Any]:
        return [*self.in_flight.values(), *self.asking.values(), *(t for t, _ in self.waiting.values())]

    def in_line(self) -> list[str]:
        """The asks of this job waiting in the limiter's line (to leave it when the job stops)."""
        asks = [*self.asking, *(i for i, (_, leads_to) in self.waiting.items() if leads_to == REASK)]
        return [f"{index}:{self.progress.attempts[index]}" for index in sorted(asks)]

    def start_at(self, index: int, slot: datetime | None) -> None:
        """Start the output in its slot: now (the activity waits the last moments itself), or at a
        timer shortly before it."""
        timer = None if slot is None else slot_timer(self.context, slot)
        if slot is not None and timer is not None:
            self.waiting[index] = (timer, SLOT)
            self.slots[index] = slot
        else:
            self.in_flight[index] = attempt(self.context, self.job_id, index, slot)

    def step(self, winner: Any) -> Outcome | None:
        """Act on the task that finished; "canceled" when the row says stop."""
        if winner in self.in_flight.values():
            return self._finished(winner)
        if winner in self.asking.values():
            index = next(i for i, task in self.asking.items() if task is winner)
            del self.asking[index]
            times = granted_times(winner.result)
            if times is None:
                self.waiting[index] = (reask_timer(self.context, winner.result), REASK)
            else:
                self.start_at(index, times[0] if times else None)
            return None
        index = next(i for i, (timer, _) in self.waiting.items() if timer is winner)
        _, leads_to = self.waiting.pop(index)
        if leads_to == SLOT:
            self.in_flight[index] = attempt(self.context, self.job_id, index, self.slots.pop(index))
            return None
        if leads_to == BACKOFF:
            self.progress.attempts[index] += 1
        if self.pacing is None:
            self.in_flight[index] = attempt(self.context, self.job_id, index)
        else:
            entry = f"{index}:{self.progress.attempts[index]}"
            self.asking[index] = ask_slots(self.context, self.pacing, entry=entry, count=1,
                                           waited=leads_to == REASK)
        return None

    def _finished(self, winner: Any) -> Outcome | None:
        """Record an activity's answer; "canceled" when the row says stop."""
        index = next(i for i, task in self.in_flight.items() if task is winner)
        del self.in_flight[index]
        result = result_of(winner, index)
        progress = self.progress
        if result["status"] == "canceled":
            return "canceled"  # the row says stop; the cancel event may still be on its way
        if result["status"] == "retry":
            self._retry_later(index, result)
            return None
        progress.last_errors.pop(index, None)
        if result["status"] == "succeeded":
            progress.succeeded += 1
            progress.job_finished = progress.job_finished or bool(result.get("job_finished"))
        else:
            progress.failures[index] = result.get("error") or error_payload(INTERNAL)
        self.context.set_custom_status(progress.custom_status("running"))
        return None

    def _retry_later(self, index: int, result: OutputResult) -> None:
        """A timer until the output's next attempt (time-bounded back-off, never sooner than the
        provider asked); none when that would come after the deadline."""
        progress = self.progress
        error = progress.last_errors[index] = result.get("error") or error_payload(INTERNAL)
        if self.pacing is not None and error["code"] == RateLimitedError.code:
            when = after_pause(self.context, result.get("retry_after"), until=self.deadline)
        else:
            when = next_attempt(self.context, progress.attempts[index], seed=f"{self.job_id}:{index}",
                                until=self.deadline, retry_after=result.get("retry_after"))
        if when is None:
            progress.out_of_time = True
        else:
            self.waiting[index] = (self.context.create_timer(when), BACKOFF)
