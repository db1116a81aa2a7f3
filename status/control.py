"""Changing jobs: cancel (signal the orchestration) and delete (row, blobs, history)."""

from __future__ import annotations

import asyncio
import logging

import azure.functions as func

from jobs.blobs.outputs import OutputStore
from jobs.domain.errors import InvalidTransitionError, JobUnreadableError
from jobs.domain.models import Job, JobStatus
from jobs.http import (
    check_owner,
    job_resource,
    json_response,
    problem,
    retry_after,
    status_url,
    wait_until_terminal,
)
from jobs.removal import JobRemover, Orchestrations, instance_running, signal_cancel
from jobs.tables.deletions import DeletionLedger
from jobs.tables.salvage import salvage_job
from jobs.tables.store import JobStore

logger = logging.getLogger(__name__)

# How long a DELETE of a running job waits for the orchestration to finish canceling, so that its
# history can be purged (a running instance cannot be) before the row that names it is gone. What
# is still running after that is finished later by maintenance (the job's tombstone says so).
DELETE_SETTLE_SECONDS = 10.0
INSTANCE_POLL_SECONDS = 0.1


async def cancel_job(
    job_id: str, *, jobs: JobStore, client: Orchestrations, base_url: str, owner: str | None = None
) -> func.HttpResponse:
    try:
        if owner is not None:
            # Only behind Easy Auth: the cancel itself is a write, so ownership needs a read first.
            check_owner(await jobs.get(job_id), owner)
        job = await jobs.request_cancel(job_id)
    except InvalidTransitionError as done:
        return problem(
            409, title="Job already finished",
            detail=f"Job '{job_id}' is already {done.current} and cannot be canceled.")
    except JobUnreadableError as unreadable:
        if owner is not None:
            check_owner(salvage_job(job_id, unreadable.entity), owner)
        return problem(
            409, title="Job record damaged",
            detail=f"Job '{job_id}' has a damaged stored record and cannot be canceled; DELETE removes it.")
    resource = job_resource(job, base_url=base_url)
    if job.status is JobStatus.CANCELED:
        logger.info("job %s canceled before it started", job_id)
        return json_response(resource)
    await signal_cancel(client, job_id)
    logger.info("job %s cancel requested while %s", job_id, job.status)
    headers = {"Location": status_url(base_url, job_id), **retry_after(job)}
    return json_response(resource, status=202, headers=headers)


async def _stop(job: Job, *, jobs: JobStore, client: Orchestrations, settle_seconds: float) -> None:
    """Cancel the job and give its orchestration (if one runs, or is just starting) a moment to end."""
    deadline = asyncio.get_running_loop().time() + settle_seconds
    if not job.status.is_terminal:
        try:
            job = await jobs.request_cancel(job.id)
        except InvalidTransitionError:
            pass  # it finished meanwhile
        else:
            if job.status is JobStatus.RUNNING:
                await signal_cancel(client, job.id)
                await wait_until_terminal(jobs, job, seconds=settle_seconds)
    await _await_instance_end(job.id, client=client, deadline=deadline)


async def _stop_orchestration(job_id: str, *, client: Orchestrations, settle_seconds: float) -> None:
    """The cancel event alone, for a row that cannot be changed; the orchestration ends on it."""
    await signal_cancel(client, job_id)
    deadline = asyncio.get_running_loop().time() + settle_seconds
    await _await_instance_end(job_id, client=client, deadline=deadline)


async def _await_instance_end(job_id: str, *, client: Orchestrations, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        if not await instance_running(client, job_id):
            return
        await asyncio.sleep(INSTANCE_POLL_SECONDS)


async def delete_job(
    job_id: str,
    *,
    jobs: JobStore,
    outputs: OutputStore,
    deletions: DeletionLedger,
    client: Orchestrations,
    settle_seconds: float = DELETE_SETTLE_SECONDS,
    owner: str | None = None,
) -> func.HttpResponse:
    """Tombstone first, then stop, then row, blobs and history; whatever a race leaves behind (an
    orchestration still ending, an output stored late) the tombstone lets maintenance remove."""
    try:
        job, damaged = await jobs.get(job_id), False
    except JobUnreadableError as unreadable:
        job, damaged = salvage_job(job_id, unreadable.entity), True
    job = check_owner(job, owner)
    await deletions.record(job_id)
    if damaged:
        # A damaged row can still be deleted: it is not changed first, only its orchestration stopped.
        await _stop_orchestration(job_id, client=client, settle_seconds=settle_seconds)
    else:
        if job.callback is not None:
            # Before the stop, so that a cancel this delete causes is not called back to a receiver.
            job = await jobs.record_callback(job_id, lambda callback: callback.dropped())
        await _stop(job, jobs=jobs, client=client, settle_seconds=settle_seconds)
    removal = await JobRemover(jobs, outputs, deletions, client).finish(job_id)
    if removal.complete:
        logger.info("job %s deleted (%d blobs, %d histories)", job_id, removal.blobs, removal.histories)
    else:
        logger.warning("job %s deleted; left for maintenance to finish: %s", job_id, ", ".join(removal.left))
    return func.HttpResponse(status_code=204)
