"""Waiting for provider slots inside the orchestrator: durable timers, never a sleeping activity.

`wait_for_slots` asks the shared limiter (an activity) for slots; while the answer is "not yet" it
sleeps on a durable timer until shortly before its turn, and asks again. A cancel event or the
deadline ends the wait, and the job leaves the line so that the jobs behind it move up. A devhost or
worker that dies meanwhile loses nothing: the timer and the place in line are both stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from jobs.contracts import (
    ACQUIRE_PROVIDER_SLOTS,
    LEAVE_PROVIDER_QUEUE,
    WAITING_NOTICE_ACTIVITIES,
    LeaveRequest,
    SlotAnswer,
    SlotRequest,
    WaitingNoticeRequest,
)

# The limiter's record is in Table Storage: a blip there is ridden out, not turned into a failed job
# (asking again with the same entry id is idempotent).
STORAGE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=6)
# Bounds on one sleep: not a busy loop, and the `waiting` note stays fresh on long waits.
MIN_SLEEP = timedelta(milliseconds=100)
MAX_SLEEP = timedelta(seconds=30)
# How long before its slot an output's activity is dispatched (covers the timer's episode and the
# dispatch; the activity waits what is left, see `generation.pacing_activities.until_slot`).
SLOT_LEAD = timedelta(milliseconds=250)
# A job whose first slot is further away than this tells its chat (LINE), once, roughly when it starts:
# long enough that the usual short wait goes unmentioned, short enough to come before users wonder.
WAIT_NOTICE = timedelta(seconds=20)
NOTICE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)

Steps = Generator[Any, Any, Any]


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
    alongside the other outputs: `generation.fanout.Fanout`)."""
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
