"""How the generation orchestrator calls its activities: deterministic (no I/O, clock or random), so
every step is replay-safe. Three parts, in this order:

- Retries until a deadline. The orchestrator owns every retry of the pipeline: an activity that
  raises (storage down, worker lost, a LINE 5xx) is called again after a durable timer, with capped
  exponential back-off, until the given instant, never for a count. The jitter is derived from a seed
  (instance id, what is retried) and the attempt number. Transient failures (429, 5xx, timeouts,
  connection errors, storage faults, a crashed worker) are retried; permanent ones (rejected content,
  bad key, unknown model or deployment) are never handed to this policy.
- Waiting for provider slots: the shared limiter is asked (an activity) for slots; while the answer
  is "not yet" the orchestrator sleeps on a durable timer until shortly before its turn, and asks
  again. A cancel event or the deadline ends the wait, and the job leaves the line so that the jobs
  behind it move up. A worker that dies meanwhile loses nothing: the timer and the place in line are
  both stored.
- The outputs of one job under way (`Fanout`): activities in flight, retries asking the limiter for a
  slot, and timers until a slot, the end of a back-off or the next ask.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from generation.providers.base import RateLimitedError
from jobs.contracts import (
    ACQUIRE_PROVIDER_SLOTS,
    GENERATE_OUTPUT,
    INTERNAL,
    LEAVE_PROVIDER_QUEUE,
    WAITING_NOTICE_ACTIVITIES,
    ErrorPayload,
    LeaveRequest,
    Outcome,
    OutputRequest,
    OutputResult,
    SlotAnswer,
    SlotRequest,
    WaitingNoticeRequest,
    error_payload,
)

# --- Retries until a deadline ---

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


# --- Waiting for provider slots ---

# The limiter's record is in Table Storage: a blip there is ridden out, not turned into a failed job
# (asking again with the same entry id is idempotent).
STORAGE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=6)
# Bounds on one sleep: not a busy loop, and the `waiting` note stays fresh on long waits.
MIN_SLEEP = timedelta(milliseconds=100)
MAX_SLEEP = timedelta(seconds=30)
# How long before its slot an output's activity is dispatched (covers the timer's episode and the
# dispatch; the activity waits what is left, see `generation.activities.until_slot`).
SLOT_LEAD = timedelta(milliseconds=250)
# A job whose first slot is further away than this tells its chat (LINE), once, roughly when it starts:
# long enough that the usual short wait goes unmentioned, short enough to come before users wonder.
WAIT_NOTICE = timedelta(seconds=20)
NOTICE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)


@dataclass(frozen=True)
class Pacing:
    """What the orchestrator needs to ask for slots (from `mark_job_running`)."""

    job_id: str
    kind: str
    user: str | None
    deadline: datetime
    channel: str = ""

    def ask(self, entry: str, count: int, *, waited: bool) -> SlotRequest:
        return {
            "job_id": self.job_id, "kind": self.kind, "user": self.user, "entry": f"{self.job_id}:{entry}",
            "count": count, "waited": waited, "deadline": self.deadline.isoformat(),
        }


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _sleep_until(context: df.DurableOrchestrationContext, wake_at: str | None) -> datetime:
    now: datetime = context.current_utc_datetime
    wanted = _instant(wake_at) if wake_at else now
    return min(max(wanted, now + MIN_SLEEP), now + MAX_SLEEP)


def ask_slots(context: df.DurableOrchestrationContext, pacing: Pacing, *, entry: str, count: int,
              waited: bool) -> Any:
    """The limiter's answer (a `SlotAnswer`) for the ask `entry`, as a task."""
    return context.call_activity_with_retry(
        ACQUIRE_PROVIDER_SLOTS, STORAGE_RETRY, pacing.ask(entry, count, waited=waited)
    )


def granted_times(answer: Any) -> list[datetime] | None:
    """The slot times of a granted answer; None for "not yet" (or an ask that kept failing)."""
    if not isinstance(answer, dict) or not answer.get("granted"):
        return None
    return [_instant(moment) for moment in answer.get("times", [])]


def reask_timer(context: df.DurableOrchestrationContext, answer: Any) -> Any:
    """A timer until the owner of a "not yet" should ask again (shortly before its turn)."""
    wake_at = answer.get("wake_at") if isinstance(answer, dict) else None
    return context.create_timer(_sleep_until(context, wake_at))


def leave_line(context: df.DurableOrchestrationContext, pacing: Pacing | None, entries: list[str]) -> Steps:
    """Take the job's asks `entries` out of the line (canceled, out of time): the jobs behind move up."""
    if pacing is None or not entries:
        return
    leave: LeaveRequest = {
        "job_id": pacing.job_id, "kind": pacing.kind, "entries": [f"{pacing.job_id}:{e}" for e in entries]
    }
    yield context.call_activity_with_retry(LEAVE_PROVIDER_QUEUE, STORAGE_RETRY, leave)


def wait_for_slots(
    context: df.DurableOrchestrationContext, pacing: Pacing, *, entry: str, count: int, stop: Sequence[Any]
) -> Steps:
    """Slot times for `count` calls (one per call), or the task of `stop` that ended the wait.
    Used for a job's first slots, while nothing else of the job runs (a retry's slot is asked for
    alongside the other outputs: `Fanout` below)."""
    waited = False
    told = False  # the chat is told once, when the wait turns out long
    while True:
        answer: SlotAnswer = yield ask_slots(context, pacing, entry=entry, count=count, waited=waited)
        times = granted_times(answer)
        if times is not None:
            return times
        waited = True
        if not told:
            told = yield from _notice_if_long(context, pacing, answer)
        timer = reask_timer(context, answer)
        winner = yield context.task_any([timer, *stop])
        if winner is not timer:
            timer.cancel()
            yield from leave_line(context, pacing, [entry])
            return winner


def _notice_if_long(context: df.DurableOrchestrationContext, pacing: Pacing, answer: SlotAnswer) -> Steps:
    """Tell the job's chat it waits, when its first slot is more than `WAIT_NOTICE` away and its
    channel has a notice (True once told or tried)."""
    activity = WAITING_NOTICE_ACTIVITIES.get(pacing.channel)
    note = answer.get("waiting")
    if activity is None or note is None:
        return True
    if _instant(note["estimated_start_at"]) - context.current_utc_datetime <= WAIT_NOTICE:
        return False
    request: WaitingNoticeRequest = {
        "job_id": pacing.job_id, "estimated_start_at": note["estimated_start_at"]
    }
    # A courtesy: a notice LINE keeps refusing neither holds up nor fails the job.
    with contextlib.suppress(Exception):
        yield context.call_activity_with_retry(activity, NOTICE_RETRY, request)
    return True


def slot_timer(context: df.DurableOrchestrationContext, slot: datetime) -> Any:
    """A timer that fires `SLOT_LEAD` before `slot` (None when that moment has come): the activity
    is dispatched meanwhile and waits the rest itself (`not_before`), so the call starts on its slot
    rather than a variable 20-60 ms after it."""
    if slot - SLOT_LEAD <= context.current_utc_datetime:
        return None
    return context.create_timer(slot - SLOT_LEAD)


def first_slots(context: df.DurableOrchestrationContext, pacing: Pacing | None, total: int,
                 stop: list[Any]) -> Steps:
    """Each output's provider slot by index ({} unpaced), or the stop task that ended the wait."""
    if pacing is None:
        return {}
    times = yield from wait_for_slots(context, pacing, entry="start", count=total, stop=stop)
    return dict(enumerate(times)) if isinstance(times, list) else times


def after_pause(context: df.DurableOrchestrationContext, retry_after: float | None, *,
                until: datetime) -> datetime | None:
    """When a paced output refused with 429 asks for its next slot: once the provider's retry-after
    has passed. No back-off on top: the limiter already paused everyone for it (and, learning,
    slowed down), and the new slot paces the retry."""
    when = context.current_utc_datetime + timedelta(seconds=retry_after or 0.0)
    return when if when < until else None


# --- The outputs of one job under way ---

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
