"""Start the orchestration for a queued job; the instance id is the job id, so starts are idempotent."""

from __future__ import annotations

import logging

import azure.durable_functions as df

from jobs.contracts import GENERATION_ORCHESTRATOR, GenerationPlan, JobMessage
from jobs.services import Services
from jobs.telemetry import job_span

logger = logging.getLogger(__name__)


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
    with job_span("job.start", message.job_id, {"paced": paced}) as span:
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
