"""The orchestrator's review step: hold finished outputs for a person, wait for the decision.

Deterministic like the rest of the orchestrator: the activities read the settings and the row, this
step only waits. The wait races the `review` event (sent once a decision is written on the row)
against a durable timer until the review's expiry and against the job's cancel event.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from datetime import datetime
from typing import Any, Literal

import azure.durable_functions as df

from generation.fanout import FINISH_GRACE, DeadlineReachedError, call_until
from jobs.contracts import (
    REQUEST_REVIEW,
    REVIEW_EVENT,
    SETTLE_REVIEW,
    JobRef,
    ReviewCheck,
    SettleRequest,
    SettleResult,
    review_notice_activity,
)

# What the step ended with: the outputs go out ("pass"), the job was failed by the review
# ("rejected": notify or not), or the cancel event came first ("canceled").
GateResult = Literal["pass", "rejected", "rejected_quietly", "canceled", "gone"]


def _grace(context: df.DurableOrchestrationContext) -> datetime:
    """How long the step's own activities are retried: the job's deadline may be long past by now."""
    now: datetime = context.current_utc_datetime
    return now + FINISH_GRACE


def _notify(context: df.DurableOrchestrationContext, job_id: str, channel: str) -> Generator[Any, Any, None]:
    """Tell a chat that a person checks the answer first (the activity sends it once per job)."""
    activity = review_notice_activity(channel)
    if activity is None:
        return
    ref: JobRef = {"job_id": job_id}
    with contextlib.suppress(DeadlineReachedError):  # the notice is a courtesy; the review goes on
        yield from call_until(context, activity, ref, until=_grace(context), seed=f"{job_id}:review")


def _ended(settled: SettleResult) -> GateResult:
    if settled["decision"] == "approve":
        return "pass"
    if settled["decision"] == "reject":
        return "rejected" if settled.get("notify", True) else "rejected_quietly"
    return "gone"


def review_gate(context: df.DurableOrchestrationContext, job_id: str, *, channel: str,
                cancel: Any) -> Generator[Any, Any, GateResult]:
    """Hold the job for review when it needs it; returns how the review ended."""
    ref: JobRef = {"job_id": job_id}
    try:
        check: ReviewCheck = yield from call_until(context, REQUEST_REVIEW, ref, until=_grace(context),
                                                   seed=job_id)
    except DeadlineReachedError:
        return "gone"  # storage stayed down: the row is still running; maintenance settles it
    if not check["held"]:
        return "canceled" if check.get("canceled") else "pass"
    context.set_custom_status({"state": "review"})
    yield from _notify(context, job_id, channel)
    timer = context.create_timer(datetime.fromisoformat(check["expires_at"]))
    while True:
        decided = context.wait_for_external_event(REVIEW_EVENT)
        winner = yield context.task_any([decided, cancel, timer])
        if winner is cancel:
            timer.cancel()
            return "canceled"
        request: SettleRequest = {"job_id": job_id, "timed_out": winner is timer}
        try:
            settled: SettleResult = yield from call_until(context, SETTLE_REVIEW, request,
                                                          until=_grace(context), seed=job_id)
        except DeadlineReachedError:
            return "gone"
        if settled["decision"] != "pending" or winner is timer:
            if winner is not timer:
                timer.cancel()
            return _ended(settled)
        # An event without a decision on the row (raised by hand): keep waiting.
