"""Operator functions: the maintenance timer and the dead-letter redrive.

Both are timer triggers so that an operator can also run them on demand from the Azure portal
(Code + Test → Test/Run) or with `POST /admin/functions/{name}` and the master key. Both are
idempotent, and each job is handled on its own so that one failure does not stop the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from generation.maintenance import (
    Action,
    FailJob,
    InstanceState,
    MaintenancePolicy,
    Redrive,
    Restart,
    WakeReview,
    instance_state,
    plan_maintenance,
)
from jobs import telemetry
from jobs.contracts import (
    DELIVER_ORCHESTRATOR,
    GENERATION_ORCHESTRATOR,
    REVIEW_EVENT,
    DeliverJobInput,
    GenerationPlan,
    deliver_instance_id,
    job_instance_ids,
)
from jobs.domain.errors import InvalidTransitionError, JobNotFoundError
from jobs.domain.models import Job, JobStatus, utcnow
from jobs.removal import JobRemover, signal_cancel
from jobs.services import Services, services
from jobs.tables.deletions import Tombstone

logger = logging.getLogger(__name__)

bp = df.Blueprint()

# Durable client calls are small HTTP requests to the host; a few at a time keeps a big backlog quick
# without flooding the host's connection pool.
STATUS_CONCURRENCY = 16
# One run moves at most this many dead-lettered messages; run it again for more.
REDRIVE_LIMIT = 500
# Tombstones looked at per run (they are few: a deletion normally finishes at once).
TOMBSTONE_LIMIT = 500


@dataclass
class MaintenanceSummary:
    """Counts for the one-line log of a maintenance run."""

    redriven: int = 0
    failed: int = 0
    skipped: int = 0
    purged: int = 0
    events_purged: int = 0
    turns_purged: int = 0
    restarted: int = 0
    deletions_finished: int = 0
    reindexed: int = 0
    errors: int = 0

    def line(self) -> str:
        return " ".join(f"{field.name}={getattr(self, field.name)}" for field in fields(self))


async def _bounded(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """Run the calls at most `limit` at a time; a failing call yields its exception, not a raise."""
    gate = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(run(call) for call in calls), return_exceptions=True)


async def _instance_states(
    client: df.DurableOrchestrationClient, jobs: Sequence[Job], summary: MaintenanceSummary
) -> dict[str, InstanceState]:
    """The orchestration state of each job; a job whose status cannot be read is left for next time."""
    calls = [functools.partial(client.get_status, job.id) for job in jobs]
    results = await _bounded(calls, STATUS_CONCURRENCY)
    states: dict[str, InstanceState] = {}
    for job, result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            summary.errors += 1
            logger.warning("job %s: orchestration status unavailable: %s", job.id, result)
            continue
        runtime = getattr(result, "runtime_status", None) if result else None
        states[job.id] = instance_state(runtime.value if runtime is not None else None)
    return states


async def _redrive(store: Services, job_id: str) -> bool:
    job = await store.jobs.get(job_id)
    if job.status is not JobStatus.QUEUED:
        return False  # it started (or finished) since the listing
    await store.queue.send(job)
    logger.info("job %s: queue message sent again (no orchestration after %s)", job_id, job.created_at)
    return True


async def _restart(store: Services, client: df.DurableOrchestrationClient, action: Restart) -> bool:
    """Start the job's orchestration again (replacing the one that ended without finishing the row)."""
    plan: GenerationPlan = {
        "outputs": action.outputs, "deadline_seconds": store.settings.generation_deadline_seconds
    }
    if store.settings.limiters:
        plan["paced"] = True
    await client.start_new(GENERATION_ORCHESTRATOR, instance_id=action.job_id, client_input=plan)
    logger.warning("job %s: orchestration started again (the last one ended without finishing it)",
                   action.job_id)
    return True


async def _fail(store: Services, client: df.DurableOrchestrationClient, action: FailJob) -> bool:
    try:
        await store.jobs.finish(action.job_id, status=JobStatus.FAILED, error=action.error)
    except (InvalidTransitionError, JobNotFoundError):
        return False  # finished, canceled or deleted by someone else in the meantime
    logger.warning("job %s: failed by maintenance (%s)", action.job_id, action.error.code)
    if action.terminate:
        try:
            await client.terminate(action.job_id, f"maintenance: {action.error.code}")
        except Exception as exc:  # already ended on its own: the row is what counts
            logger.info("job %s: orchestration not terminated: %s", action.job_id, exc)
    if action.deliver_channel is not None or action.callback:
        delivery: DeliverJobInput = {"job_id": action.job_id, "channel": action.deliver_channel or "",
                                     "callback": action.callback}
        await client.start_new(
            DELIVER_ORCHESTRATOR, instance_id=deliver_instance_id(action.job_id), client_input=delivery
        )
        logger.info("job %s: failure delivery started (channel %s, callback %s)", action.job_id,
                    action.deliver_channel, action.callback)
    return True


async def _apply(
    store: Services, client: df.DurableOrchestrationClient, action: Action, summary: MaintenanceSummary
) -> None:
    try:
        if isinstance(action, Redrive):
            done = await _redrive(store, action.job_id)
            summary.redriven += done
        elif isinstance(action, WakeReview):
            await client.raise_event(action.job_id, REVIEW_EVENT, None)
            logger.warning("job %s: review decided but not acted on; event raised again", action.job_id)
            done = True
        elif isinstance(action, Restart):
            done = await _restart(store, client, action)
            summary.restarted += done
        else:
            done = await _fail(store, client, action)
            summary.failed += done
        summary.skipped += not done
    except Exception:
        summary.errors += 1
        logger.exception("job %s: maintenance step failed", action.job_id)


async def _purge_job(store: Services, client: df.DurableOrchestrationClient, job: Job) -> None:
    """Blobs and history first, the row last: a run cut short leaves the row to find the rest again."""
    await store.outputs.delete_job(job.id)
    for instance_id in job_instance_ids(job.id):
        await client.purge_instance_history(instance_id)
    with contextlib.suppress(JobNotFoundError):  # deleted through the API while this run was purging
        await store.jobs.delete(job.id)
    logger.info("job %s: purged after retention", job.id)


async def _purge_expired(
    store: Services, client: df.DurableOrchestrationClient, cutoff: datetime, summary: MaintenanceSummary
) -> None:
    for job in await store.jobs.list_expired(cutoff):
        try:
            await _purge_job(store, client, job)
            summary.purged += 1
        except Exception:
            summary.errors += 1
            logger.exception("job %s: purge failed", job.id)
    try:
        summary.events_purged = await store.events.purge_older_than(cutoff)
    except Exception:
        summary.errors += 1
        logger.exception("webhook de-duplication records: purge failed")
    try:
        # Conversation turns live as long as the jobs that made them.
        summary.turns_purged = await store.conversations.purge_older_than(cutoff)
    except Exception:
        summary.errors += 1
        logger.exception("conversation turns: purge failed")


async def _finish_deletion(store: Services, client: df.DurableOrchestrationClient, tombstone: Tombstone,
                           summary: MaintenanceSummary) -> None:
    """One more pass of a deletion that did not finish at once (or that the pipeline reopened)."""
    job_id = tombstone.job_id
    job = await store.jobs.find(job_id)
    if job is not None and not job.status.is_terminal:
        # A DELETE cut short before it stopped the job: stop it now, remove it on the next run.
        with contextlib.suppress(InvalidTransitionError):
            await store.jobs.request_cancel(job_id)
        await signal_cancel(client, job_id)
        logger.info("job %s: deleted but still %s; cancel requested", job_id, job.status.value)
        return
    removal = await JobRemover(store.jobs, store.outputs, store.deletions, client).finish(job_id)
    if removal.complete:
        summary.deletions_finished += 1
        logger.info("job %s: deletion finished by maintenance (%d blobs, %d histories removed)",
                    job_id, removal.blobs, removal.histories)
    else:
        logger.info("job %s: deletion still waiting for %s", job_id, ", ".join(removal.left))


async def _finish_deletions(store: Services, client: df.DurableOrchestrationClient,
                            summary: MaintenanceSummary) -> None:
    try:
        tombstones = await store.deletions.list(limit=TOMBSTONE_LIMIT)
    except Exception:
        summary.errors += 1
        logger.exception("maintenance: listing deleted jobs failed")
        return
    for tombstone in tombstones:
        try:
            await _finish_deletion(store, client, tombstone, summary)
        except Exception:
            summary.errors += 1
            logger.exception("job %s: finishing its deletion failed", tombstone.job_id)


async def run_maintenance(
    store: Services, client: df.DurableOrchestrationClient, *, now: datetime
) -> MaintenanceSummary:
    """Move index entries an older version wrote, re-drive lost queued jobs, restart or fail stuck
    ones, purge expired ones, finish deletions; returns the counts."""
    settings = store.settings
    policy = MaintenancePolicy.from_settings(
        deadline_seconds=settings.generation_deadline_seconds, retention_days=settings.job_retention_days
    )
    summary = MaintenanceSummary()
    try:
        # First, so that jobs written by a version before the bucketed index are seen by this run.
        summary.reindexed = await store.jobs.reindex_legacy()
    except Exception:
        summary.errors += 1
        logger.exception("maintenance: moving pre-bucket index entries failed")
    try:
        jobs = await store.jobs.list_unfinished(policy.unfinished_cutoff(now))
        states = await _instance_states(client, jobs, summary)
        for action in plan_maintenance(jobs, states, now=now, policy=policy):
            await _apply(store, client, action, summary)
    except Exception:
        summary.errors += 1
        logger.exception("maintenance: listing unfinished jobs failed")
    await _purge_expired(store, client, policy.expiry_cutoff(now), summary)
    await _finish_deletions(store, client, summary)
    await _measure_queue(store, summary)
    return summary


async def _measure_queue(store: Services, summary: MaintenanceSummary) -> None:
    try:
        depth = await store.queue.depth()
    except Exception:
        summary.errors += 1
        logger.exception("maintenance: queue depth unavailable")
        return
    telemetry.record_queue_depth(store.settings.queue_name, depth)
    if depth is not None:
        logger.info("maintenance: queue %s holds %d, dead-lettered %d", store.settings.queue_name, *depth)


async def redrive_dead_letter_messages(store: Services, *, limit: int = REDRIVE_LIMIT) -> int:
    """Move dead-lettered (Service Bus) or poisoned (Storage queue) job messages back to the queue."""
    return await store.queue.redrive(limit)


@bp.function_name("maintenance")
@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def maintenance(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    summary = await run_maintenance(services(), client, now=utcnow())
    logger.info("maintenance finished: %s past_due=%s", summary.line(), timer.past_due)


@bp.function_name("redrive_dead_letters")
@bp.timer_trigger(arg_name="timer", schedule="0 30 3 * * *", run_on_startup=False)
async def redrive_dead_letters(timer: func.TimerRequest) -> None:
    store = services()
    moved = await redrive_dead_letter_messages(store)
    logger.info(
        "redrive_dead_letters finished: moved=%d queue=%s past_due=%s",
        moved, store.settings.queue_name, timer.past_due,
    )
