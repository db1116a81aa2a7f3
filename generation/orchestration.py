"""The generation orchestration: its start from the job queue, and the orchestrator itself.

The starter (`start_generation`, called by the queue triggers) runs outside the replay: it checks for
the instance, reads the row and starts the orchestrator, whose instance id is the job id, so starts
are idempotent. The orchestrators (`generation_orchestrator`, `deliver_job`) are deterministic
generators replayed by Durable Functions: no I/O, clock, random or settings reads in them (the
activities do those, the orchestrator only decides). History carries ids and the small typed payloads
of `jobs.contracts`, never image bytes or answers.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from generation.callbacks.steps import deliver_callback
from generation.fanout import (
    FINISH_GRACE,
    DeadlineReachedError,
    Fanout,
    Pacing,
    Progress,
    attempt,
    call_until,
    first_slots,
    leave_line,
)
from generation.review_gate import review_gate
from jobs import telemetry
from jobs.contracts import (
    CANCEL_EVENT,
    FINALIZE_JOB,
    GENERATION_ORCHESTRATOR,
    MARK_JOB_RUNNING,
    DeliverJobInput,
    FinalizeRequest,
    FinalizeResult,
    GenerationPlan,
    JobMessage,
    JobRef,
    Outcome,
    StartResult,
    delivery_activity,
    usable_output_count,
)
from jobs.services import Services

logger = logging.getLogger(__name__)

# The job's deadline when the starter did not pass one (an instance started by hand or by an older
# starter); the row's own deadline replaces it once the job is marked running.
DEFAULT_DEADLINE_SECONDS = 600

Steps = Generator[Any, Any, Any]


def _planned_outputs(plan: Any) -> int:
    """How many outputs the queue message said the job has (0 when it did not say)."""
    return (usable_output_count(plan.get("outputs")) if isinstance(plan, dict) else None) or 0


def _planned_deadline(plan: Any) -> int:
    """GENERATION_DEADLINE_SECONDS as the starter read it (the default when it did not say)."""
    value = plan.get("deadline_seconds") if isinstance(plan, dict) else None
    return value if type(value) is int and value > 0 else DEFAULT_DEADLINE_SECONDS


def _job_deadline(start: StartResult, provisional: datetime) -> datetime:
    """The row's deadline (created_at + GENERATION_DEADLINE_SECONDS), as the activity computed it."""
    deadline_at = start.get("deadline_at")
    if isinstance(deadline_at, str):
        return datetime.fromisoformat(deadline_at)
    return provisional


def _stopped(winner: Any, cancel: Any) -> Outcome:
    return "canceled" if winner is cancel else "deadline_exceeded"


def _generate_all(context: df.DurableOrchestrationContext, job_id: str, progress: Progress,
                  deadline: datetime, started: dict[int, Any], *, cancel: Any,
                  pacing: Pacing | None = None) -> Generator[Any, Any, Outcome]:
    """Run one activity per output (some `started` already), each in its provider slot when paced,
    retrying transient failures, until done, canceled or out of time (`cancel`: the cancel event)."""
    stop = [cancel, context.create_timer(deadline)]
    slotted = yield from first_slots(context, pacing, progress.total, stop)
    if not isinstance(slotted, dict):
        return _stopped(slotted, cancel)
    fanout = Fanout(context, job_id, progress, pacing=pacing, deadline=deadline)
    for index in range(progress.total):
        if index in slotted:
            fanout.start_at(index, slotted[index])
        else:
            fanout.in_flight[index] = started.get(index) or attempt(context, job_id, index)
    while fanout.busy():
        winner = yield context.task_any([*fanout.tasks(), *stop])
        ended = _stopped(winner, cancel) if winner in stop else fanout.step(winner)
        if ended is not None:
            yield from leave_line(context, pacing, fanout.in_line())
            return ended
    return "deadline_exceeded" if progress.out_of_time else "completed"


def _deliver(context: df.DurableOrchestrationContext, job_id: str, channel: str, *, until: datetime,
             callback: bool = False) -> Steps:
    """Hand the finished job to its channel, then to its callback; a delivery that keeps failing
    does not fail the job."""
    delivered = yield from _deliver_to_channel(context, job_id, channel, until=until)
    if callback:
        yield from deliver_callback(context, job_id)
    return delivered


def _deliver_to_channel(context: df.DurableOrchestrationContext, job_id: str, channel: str, *,
                        until: datetime) -> Steps:
    activity = delivery_activity(channel)
    if activity is None:
        return False
    request: JobRef = {"job_id": job_id}
    try:
        yield from call_until(context, activity, request, until=until, seed=job_id)
    except DeadlineReachedError:  # the activity logged why; the job's own status is already final
        return False
    return True


def _finish_by(context: df.DurableOrchestrationContext, deadline: datetime) -> datetime:
    """Finalizing and delivering may go on a little past the job's deadline (a job that ran out of
    time must still be written down and told)."""
    now: datetime = context.current_utc_datetime
    return max(deadline, now) + FINISH_GRACE


def _mark_running(context: df.DurableOrchestrationContext, job_id: str, provisional: datetime,
                  paced: bool) -> Steps:
    """Mark the job running, retried until the provisional deadline (outputs announced by the queue
    message start at the same time, unless they must wait for provider slots)."""
    mark: JobRef = {"job_id": job_id}
    starting = context.call_activity(MARK_JOB_RUNNING, mark)
    # An output of a job that may not run reads the row and ends.
    started = {} if paced else {index: attempt(context, job_id, index)
                                for index in range(_planned_outputs(context.get_input()))}
    if started:
        # Progress is known from the start, so the instance's status is written once, not twice.
        context.set_custom_status(Progress(len(started)).custom_status("running"))
        yield context.task_any([starting, *started.values()])  # schedules them all in this episode
    start: StartResult = yield from call_until(context, MARK_JOB_RUNNING, mark, until=provisional,
                                               seed=job_id, first=starting)
    return start, started


def _finalize(context: df.DurableOrchestrationContext, job_id: str, progress: Progress, outcome: Outcome,
              deadline: datetime) -> Generator[Any, Any, FinalizeResult | None]:
    """The terminal status (None when storage stayed down too long: maintenance settles the row)."""
    if outcome == "completed" and progress.job_finished:
        return {"status": "succeeded", "notify": True}
    request: FinalizeRequest = {
        "job_id": job_id,
        "outcome": outcome,
        "failures": {str(i): e for i, e in progress.failures.items()},
        "last_errors": {str(i): e for i, e in progress.last_errors.items()},
    }
    try:
        final: FinalizeResult = yield from call_until(
            context, FINALIZE_JOB, request, until=_finish_by(context, deadline), seed=job_id)
    except DeadlineReachedError:
        return None
    return final


def generation_orchestrator(context: df.DurableOrchestrationContext) -> Steps:
    """Instance id = job id. Mark running and fan out together, finalize, deliver."""
    job_id = context.instance_id
    plan = context.get_input()
    paced = isinstance(plan, dict) and bool(plan.get("paced"))
    # Until the row says when the job is due, the deadline counts from this start.
    provisional = context.current_utc_datetime + timedelta(seconds=_planned_deadline(plan))
    try:
        start, started = yield from _mark_running(context, job_id, provisional, paced)
    except DeadlineReachedError:
        # Storage stayed down past the deadline: the row is still queued; maintenance fails it.
        context.set_custom_status(None)
        return {"job_id": job_id, "status": "deadline_exceeded", "skipped": True, "delivered": False}
    if not start["proceed"]:
        context.set_custom_status(None)
        delivered = False
        if start.get("notify"):
            until = _finish_by(context, provisional)
            delivered = yield from _deliver(context, job_id, start.get("channel", ""), until=until,
                                            callback=start.get("callback", False))
        return {"job_id": job_id, "status": start["status"], "skipped": True, "delivered": delivered}
    progress = Progress(start.get("total", 0))
    context.set_custom_status(progress.custom_status("running"))
    deadline = _job_deadline(start, provisional)
    pacing = Pacing(job_id, start.get("kind", "image"), start.get("user"), deadline,
                    channel=start.get("channel", "")) if paced else None
    # One wait for the cancel event serves the whole run, the review too (a second wait on the
    # same event name would compete with the first for it).
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    outcome = yield from _generate_all(context, job_id, progress, deadline, started, cancel=cancel,
                                       pacing=pacing)
    if _reviewed(start, progress, outcome):
        gate = yield from review_gate(context, job_id, channel=start.get("channel", ""), cancel=cancel)
        if gate not in ("pass", "canceled"):
            return (yield from _after_rejection(context, job_id, start, gate == "rejected", deadline))
        outcome = "canceled" if gate == "canceled" else outcome
    final = yield from _finalize(context, job_id, progress, outcome, deadline)
    if final is None:
        return {"job_id": job_id, "status": "unfinalized", "delivered": False}
    context.set_custom_status(progress.custom_status(final["status"]))
    delivered = False
    if final["notify"]:
        until = _finish_by(context, deadline)
        delivered = yield from _deliver(context, job_id, start.get("channel", ""), until=until,
                                        callback=start.get("callback", False))
    return {"job_id": job_id, "status": final["status"], "delivered": delivered}


def _reviewed(start: StartResult, progress: Progress, outcome: Outcome) -> bool:
    """Whether the review gate sees the outputs: a gated job that made some and was not canceled."""
    return bool(start.get("review")) and outcome != "canceled" and progress.succeeded > 0 \
        and not progress.job_finished


def _after_rejection(context: df.DurableOrchestrationContext, job_id: str, start: StartResult,
                     notify: bool, deadline: datetime) -> Steps:
    """The review failed the job (or it vanished meanwhile): tell its channel and callback if asked."""
    context.set_custom_status(None)
    delivered = False
    if notify:
        delivered = yield from _deliver(context, job_id, start.get("channel", ""),
                                        until=_finish_by(context, deadline),
                                        callback=start.get("callback", False))
    return {"job_id": job_id, "status": "failed" if notify else "ended", "delivered": delivered}


def deliver_job(context: df.DurableOrchestrationContext) -> Steps:
    """Deliver a job finished outside the pipeline (the maintenance timer failing a stuck job)."""
    data: DeliverJobInput = context.get_input()
    until = context.current_utc_datetime + FINISH_GRACE
    delivered = yield from _deliver(context, data["job_id"], data["channel"], until=until,
                                    callback=data.get("callback", False))
    return {"job_id": data["job_id"], "delivered": delivered}


# --- Starting the orchestration (client side: outside the replay, I/O allowed) ---

async def _instance_exists(client: df.DurableOrchestrationClient, job_id: str) -> bool:
    status = await client.get_status(job_id)
    return status is not None and status.runtime_status is not None


async def start_generation(
    services: Services, client: df.DurableOrchestrationClient, message: JobMessage, *, paced: bool = False
) -> bool:
    """Start the job's orchestration; False when it already exists (a redelivered or repeated message).

    The status check comes first because a start for the id of a finished instance is not refused:
    it would replace that instance and run the job's orchestration a second time. A job whose row is
    gone (deleted while queued, or purged) starts nothing. The message's output count and the deadline
    become the orchestration input, so the outputs can start without waiting for the row (unless
    `paced`: then they wait for provider slots).

    Any failure (storage or the host unreachable) raises: the trigger then leaves the message for
    another delivery, and maintenance re-sends it if it ends in the poison queue.
    """
    with telemetry.job_span("job.start", message.job_id, {"paced": paced}) as span:
        started = await _start(services, client, message, paced=paced)
        span.set_attribute("started", started)
        return started


async def _start(
    services: Services, client: df.DurableOrchestrationClient, message: JobMessage, *, paced: bool
) -> bool:
    job_id = message.job_id
    if await _instance_exists(client, job_id):
        logger.info("job %s: orchestration already exists; message acknowledged", job_id)
        return False
    if await services.jobs.find(job_id) is None:
        logger.info("job %s: no job row (deleted); message acknowledged, nothing started", job_id)
        return False
    plan: GenerationPlan = {"deadline_seconds": services.settings.generation_deadline_seconds}
    if message.outputs is not None:
        plan["outputs"] = message.outputs
    if paced:
        plan["paced"] = True
    try:
        await client.start_new(GENERATION_ORCHESTRATOR, instance_id=job_id, client_input=plan)
    except Exception:
        # Two deliveries racing: the loser's start is refused because the instance now exists.
        if await _instance_exists(client, job_id):
            logger.info("job %s: orchestration started by another delivery; message acknowledged", job_id)
            return False
        raise
    logger.info("job %s: orchestration started", job_id)
    return True
