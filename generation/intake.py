"""The accept path shared by every channel: one row write, one queue send, nothing else."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from jobs import telemetry
from jobs.domain.errors import IdempotencyConflictError, QuotaExceededError
from jobs.domain.models import Channel, ChatDelivery, Job, JobRequest, JobStatus
from jobs.services import Services
from jobs.tables.quotas import Reservation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedJob:
    """The job a request maps to; `created` is False when an idempotent retry found the first one."""

    job: Job
    created: bool


async def accept_job(
    services: Services,
    request: JobRequest,
    *,
    channel: Channel,
    delivery: ChatDelivery | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> AcceptedJob:
    """Store a new queued job and send its queue message.

    Raises QueueUnavailableError when the message cannot be sent (the row stays; the maintenance timer
    re-drives it), IdempotencyConflictError(same_request=False) when the key was used for another body,
    and QuotaExceededError when the user is over a quota (nothing is stored).
    """
    started_ns = time.time_ns()
    job = Job.new(request, channel=channel, delivery=delivery)
    try:
        reservation = await services.quotas.reserve(job, find_job=services.jobs.find)
    except QuotaExceededError:
        # A repeated request for a job accepted before the quota filled up still gets that job.
        replayed = await _replay_if_known(services, job, idempotency_key, fingerprint)
        if replayed is None:
            raise
        return replayed
    try:
        job = await services.jobs.create(job, idempotency_key=idempotency_key, fingerprint=fingerprint)
    except IdempotencyConflictError as conflict:
        await _give_back(reservation)
        if not conflict.same_request:
            raise
        return await _replay(services, conflict.job_id)
    except Exception:
        await _give_back(reservation)
        raise
    # From here the row holds the reservation: a failed send leaves a queued job that maintenance
    # re-drives or fails, and its end gives the slot back.
    await services.queue.send(job)
    telemetry.record_accepted(job, started_ns=started_ns)
    logger.info("job %s accepted (channel=%s kind=%s n=%d)", job.id, channel.value, job.kind.value, job.n)
    return AcceptedJob(job=job, created=True)


async def _give_back(reservation: Reservation | None) -> None:
    if reservation is None:
        return
    try:
        await reservation.give_back()
    except Exception:
        # The slot is reclaimed when the user next hits the limit (its job row does not exist);
        # the day's images stay counted.
        logger.exception("a quota reservation could not be given back")


async def _replay_if_known(
    services: Services, job: Job, key: str | None, fingerprint: str | None
) -> AcceptedJob | None:
    if key is None:
        return None
    first = await services.jobs.find_idempotent(job.user, key)
    if first is None or first[1] != (fingerprint or ""):
        return None
    return await _replay(services, first[0])


async def _replay(services: Services, job_id: str) -> AcceptedJob:
    """The first job of a repeated idempotency key.

    A job still queued may be one whose first send failed; sending again is safe because the
    orchestration instance id is the job id, so a second message never makes a second run.
    """
    job = await services.jobs.get(job_id)
    if job.status is JobStatus.QUEUED:
        await services.queue.send(job)
    logger.info("job %s returned for a repeated idempotency key", job.id)
    return AcceptedJob(job=job, created=False)
