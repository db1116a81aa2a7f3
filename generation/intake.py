"""The accept path shared by every channel: one row write, one queue send, nothing else."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from jobs.clients import stores
from jobs.domain.errors import IdempotencyConflictError
from jobs.domain.models import Channel, Job, JobRequest, JobStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedJob:
    """The job a request maps to; `created` is False when an idempotent retry found the first one."""

    job: Job
    created: bool


async def accept_job(
    request: JobRequest,
    *,
    channel: Channel,
    delivery: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> AcceptedJob:
    """Store a new queued job and send its queue message.

    Raises QueueUnavailableError when the message cannot be sent (the row stays; the maintenance timer
    re-drives it) and IdempotencyConflictError(same_request=False) when the key was used for another body.
    """
    bundle = stores()
    job = Job.new(request, channel=channel, delivery=delivery)
    try:
        job = await bundle.jobs.create(job, idempotency_key=idempotency_key, fingerprint=fingerprint)
    except IdempotencyConflictError as conflict:
        if not conflict.same_request:
            raise
        return await _replay(conflict.job_id)
    await bundle.queue.send(job)
    logger.info("job %s accepted (channel=%s kind=%s n=%d)", job.id, channel.value, job.kind.value, job.n)
    return AcceptedJob(job=job, created=True)


async def _replay(job_id: str) -> AcceptedJob:
    """The first job of a repeated idempotency key.

    A job still queued may be one whose first send failed; sending again is safe because the
    orchestration instance id is the job id, so a second message never makes a second run.
    """
    bundle = stores()
    job = await bundle.jobs.get(job_id)
    if job.status is JobStatus.QUEUED:
        await bundle.queue.send(job)
    logger.info("job %s returned for a repeated idempotency key", job.id)
    return AcceptedJob(job=job, created=False)
