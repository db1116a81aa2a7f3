"""The generation orchestrator: a deterministic generator replayed by Durable Functions.

No I/O, clock, random or settings reads here: the activities do those, the orchestrator only decides.
History carries ids and small dicts, never image bytes or answers.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from generation.delivery import delivery_activity
from generation.retry_policy import may_retry, retry_delay
from jobs.domain.messages import usable_output_count

CANCEL_EVENT = "cancel"
DELIVERY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=5)

Steps = Generator[Any, Any, Any]


class _Progress:
    """What the orchestrator knows about each output: attempts made, failures, how many are done."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.attempts = dict.fromkeys(range(total), 0)
        self.failures: dict[int, dict[str, str]] = {}
        self.succeeded = 0
        self.job_finished = False  # the write that stored the last output also finished the job

    def custom_status(self, state: str) -> dict[str, Any]:
        return {"state": state, "completed": self.succeeded, "total": self.total}


def _attempt(context: df.DurableOrchestrationContext, job_id: str, index: int, attempt: int) -> Any:
    return context.call_activity("generate_output", {"job_id": job_id, "index": index, "attempt": attempt})


def _result_of(task: Any, index: int) -> dict[str, Any]:
    """An activity's answer; an activity that crashed counts as a transient failure."""
    value = task.result
    if isinstance(value, dict):
        return value
    return {"index": index, "status": "retry", "error": {"code": "internal", "message": "The worker failed."}}


def _planned_outputs(plan: Any) -> int:
    """How many outputs the queue message said the job has (0 when it did not say)."""
    return (usable_output_count(plan.get("outputs")) if isinstance(plan, dict) else None) or 0


def _generate_all(context: df.DurableOrchestrationContext, job_id: str, progress: _Progress,
                  deadline: Any, started: dict[int, Any]) -> Steps:
    """Run one activity per output (some `started` already), retrying transient failures, until done,
    canceled or out of time."""
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    deadline_timer = context.create_timer(deadline)
    in_flight = {index: started.get(index) or _attempt(context, job_id, index, 0)
                 for index in range(progress.total)}
    waiting: dict[int, Any] = {}
    while in_flight or waiting:
        winner = yield context.task_any([*in_flight.values(), *waiting.values(), cancel, deadline_timer])
        if winner is cancel:
            return "canceled"
        if winner is deadline_timer:
            return "deadline_exceeded"
        retry_due = [i for i, task in waiting.items() if task is winner]
        if retry_due:
            index = retry_due[0]
            del waiting[index]
            progress.attempts[index] += 1
            in_flight[index] = _attempt(context, job_id, index, progress.attempts[index])
            continue
        index = next(i for i, task in in_flight.items() if task is winner)
        del in_flight[index]
        result = _result_of(winner, index)
        if result["status"] == "canceled":
            return "canceled"  # the row says stop; the cancel event may still be on its way
        if result["status"] == "retry" and may_retry(progress.attempts[index]):
            delay = retry_delay(progress.attempts[index], result.get("retry_after"))
            waiting[index] = context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
            continue
        if result["status"] == "succeeded":
            progress.succeeded += 1
            progress.job_finished = progress.job_finished or bool(result.get("job_finished"))
        else:
            progress.failures[index] = result["error"]
        context.set_custom_status(progress.custom_status("running"))
    return "completed"


def _deliver(context: df.DurableOrchestrationContext, job_id: str, channel: str) -> Steps:
    """Hand the finished job to its channel; a delivery that keeps failing does not fail the job."""
    activity = delivery_activity(channel)
    if activity is None:
        return False
    try:
        yield context.call_activity_with_retry(activity, DELIVERY_RETRY, {"job_id": job_id})
    except Exception:  # the activity logged why; the job's own status is already final
        return False
    return True


def generation_orchestrator(context: df.DurableOrchestrationContext) -> Steps:
    """Instance id = job id. Mark running and fan out together, finalize, deliver."""
    job_id = context.instance_id
    starting = context.call_activity("mark_job_running", {"job_id": job_id})
    # The outputs the queue message announced start with the mark, not after it. An output of a job
    # that may not run (canceled, gone) reads the row and ends without work.
    started = {index: _attempt(context, job_id, index, 0)
               for index in range(_planned_outputs(context.get_input()))}
    if started:
        # Progress is known from the start, so the instance's status is written once, not twice.
        context.set_custom_status(_Progress(len(started)).custom_status("running"))
        yield context.task_any([starting, *started.values()])  # schedules them all in this episode
    start = yield starting
    if not start["proceed"]:
        context.set_custom_status(None)
        delivered = False
        if start.get("notify"):
            delivered = yield from _deliver(context, job_id, start["channel"])
        return {"job_id": job_id, "status": start["status"], "skipped": True, "delivered": delivered}
    progress = _Progress(start["total"])
    context.set_custom_status(progress.custom_status("running"))
    deadline = context.current_utc_datetime + timedelta(seconds=start["deadline_seconds"])
    outcome = yield from _generate_all(context, job_id, progress, deadline, started)
    if outcome == "completed" and progress.job_finished:
        final: dict[str, Any] = {"status": "succeeded", "notify": True}
    else:
        failures = {str(i): e for i, e in progress.failures.items()}
        final = yield context.call_activity(
            "finalize_job", {"job_id": job_id, "outcome": outcome, "failures": failures}
        )
    context.set_custom_status(progress.custom_status(final["status"]))
    delivered = False
    if final["notify"]:
        delivered = yield from _deliver(context, job_id, start["channel"])
    return {"job_id": job_id, "status": final["status"], "delivered": delivered}


def deliver_job(context: df.DurableOrchestrationContext) -> Steps:
    """Deliver a job finished outside the pipeline (the maintenance timer failing a stuck job)."""
    data = context.get_input() or {}
    delivered = yield from _deliver(context, data["job_id"], data["channel"])
    return {"job_id": data["job_id"], "delivered": delivered}
