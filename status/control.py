"""Changing jobs: cancel (signal the orchestration) and delete (row, blobs, history)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import azure.functions as func

from jobs.blobs.outputs import OutputStore
from jobs.contracts import CANCEL_EVENT, job_instance_ids
from jobs.domain.errors import InvalidTransitionError
from jobs.domain.models import Job, JobStatus
from jobs.http.principal import check_owner
from jobs.http.resource import job_resource
from jobs.http.responses import json_response, problem
from jobs.http.urls import status_url
from jobs.tables.store import JobStore
from status.jobs_api import retry_after, wait_until_terminal

logger = logging.getLogger(__name__)

# How long a DELETE of a running job waits for the orchestration to finish canceling, so that its
# history can be purged (a running instance cannot be) before the row that names it is gone.
DELETE_SETTLE_SECONDS = 10.0
# The library raises a bare Exception for these answers of the durable HTTP API (v1.7 wording).
_ABSENT_INSTANCE_MARKERS = ("No instance with ID", "is gone")


class Orchestrations(Protocol):
    """The part of DurableOrchestrationClient the status API uses."""

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None: ...

    async def purge_instance_history(self, instance_id: str) -> Any: ...


async def signal_cancel(client: Orchestrations, job_id: str) -> None:
    """Tell a running orchestration to stop.

    An instance not started yet (or already gone) needs no event: the orchestrator reads the row's
    cancel request when it starts, and a finished one has nothing left to stop.
    """
    try:
        await client.raise_event(job_id, CANCEL_EVENT, None)
    except Exception as exc:
        if not any(marker in str(exc) for marker in _ABSENT_INSTANCE_MARKERS):
            raise
        logger.info("job %s: no live orchestration to signal; the cancel request is on the row", job_id)


async def cancel_job(
    job_id: str, *, jobs: JobStore, client: Orchestrations, base_url: str, owner: str | None = None
) -> func.HttpResponse:
    if owner is not None:
        # Only behind Easy Auth: the cancel itself is a write, so ownership needs a read first.
        check_owner(await jobs.get(job_id), owner)
    try:
        job = await jobs.request_cancel(job_id)
    except InvalidTransitionError as done:
        return problem(
            409, title="Job already finished",
            detail=f"Job '{job_id}' is already {done.current} and cannot be canceled.")
    resource = job_resource(job, base_url=base_url)
    if job.status is JobStatus.CANCELED:
        logger.info("job %s canceled before it started", job_id)
        return json_response(resource)
    await signal_cancel(client, job_id)
    logger.info("job %s cancel requested while %s", job_id, job.status)
    headers = {"Location": status_url(base_url, job_id), **retry_after(job)}
    return json_response(resource, status=202, headers=headers)


async def _stop_if_unfinished(
    job: Job, *, jobs: JobStore, client: Orchestrations, settle_seconds: float
) -> None:
    if job.status.is_terminal:
        return
    try:
        job = await jobs.request_cancel(job.id)
    except InvalidTransitionError:
        return  # it finished meanwhile
    if job.status is JobStatus.RUNNING:
        await signal_cancel(client, job.id)
        job = await wait_until_terminal(jobs, job, seconds=settle_seconds)
        if not job.status.is_terminal:
            logger.warning("job %s: still %s when deleted; its history is left behind", job.id, job.status)


async def _purge_history(client: Orchestrations, job_id: str) -> None:
    """Best effort: a running instance cannot be purged yet and the retention timer sweeps later."""
    for instance_id in job_instance_ids(job_id):
        try:
            await client.purge_instance_history(instance_id)
        except Exception as exc:
            logger.warning("job %s: orchestration history %s not purged: %s", job_id, instance_id, exc)


async def delete_job(
    job_id: str,
    *,
    jobs: JobStore,
    outputs: OutputStore,
    client: Orchestrations,
    settle_seconds: float = DELETE_SETTLE_SECONDS,
    owner: str | None = None,
) -> func.HttpResponse:
    job = check_owner(await jobs.get(job_id), owner)
    if job.callback is not None:
        # First, so that a cancel this delete causes is not called back to a receiver.
        job = await jobs.record_callback(job_id, lambda callback: callback.dropped())
    await _stop_if_unfinished(job, jobs=jobs, client=client, settle_seconds=settle_seconds)
    # Blobs before the row: if a step fails the job is still there and the DELETE can be repeated.
    removed = await outputs.delete_job(job_id)
    await jobs.delete(job_id)
    await _purge_history(client, job_id)
    logger.info("job %s deleted (%d blobs)", job_id, removed)
    return func.HttpResponse(status_code=204)
