"""How a job comes in and starts: the accept path every channel shares (one row write, one queue send,
nothing else), `POST /api/generations` in front of it (validate, check the callback URL, accept,
answer 202 with the status URL), and the start of a queued job's orchestration behind the queue (the
instance id is the job id, so starts are idempotent)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import azure.durable_functions as df
import azure.functions as func

from generation.callbacks.delivery import callback_sender
from generation.callbacks.guard import CallbackRefusedError
from generation.validation import (
    InvalidRequestError,
    check_idempotency_key,
    parse_generation_request,
    request_fingerprint,
)
from jobs import telemetry
from jobs.contracts import GENERATION_ORCHESTRATOR, GenerationPlan, JobMessage
from jobs.domain.errors import IdempotencyConflictError, QueueUnavailableError, QuotaExceededError
from jobs.domain.models import Channel, ChatDelivery, Job, JobRequest, JobStatus
from jobs.http import (
    NotSignedInError,
    NotYoursError,
    base_url,
    claimed_user,
    job_resource,
    json_response,
    owner_of,
    problem,
    refusal,
    status_url,
    storage_is_down,
    unavailable,
)
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


def _refused(message: str) -> InvalidRequestError:
    errors = [{"field": "callback_url", "message": message}]
    return InvalidRequestError(422, f"The callback_url is refused: it {message}.", errors)


async def with_checked_callback(request: JobRequest, services: Services, *, base_url: str) -> JobRequest:
    """The request with its callback's status-URL base, when its callback URL passes the guard;
    InvalidRequestError (422 naming `callback_url`) when it does not, or callbacks are not set up."""
    if request.callback_url is None:
        return request
    if services.settings.callback_signing_secret is None:
        raise _refused("cannot be used: this service has no CALLBACK_SIGNING_SECRET")
    try:
        await services.component(callback_sender).check(request.callback_url)
    except CallbackRefusedError as exc:
        logger.info("callback URL refused at submit: %s", exc)
        raise _refused(str(exc)) from None
    return replace(request, callback_base_url=base_url)


RETRY_AFTER_SECONDS = "2"


def _accepted_response(
    req: func.HttpRequest, accepted: AcceptedJob, *, trust_forwarded: bool
) -> func.HttpResponse:
    base = base_url(req, trust_forwarded=trust_forwarded)
    url = status_url(base, accepted.job.id)
    headers = {"Location": url, "Operation-Location": url}
    terminal = accepted.job.status.is_terminal
    if not terminal:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    status = 200 if terminal else 202
    return json_response(job_resource(accepted.job, base_url=base), status=status, headers=headers)


async def submit_generation(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Accept a generation request; every failure is a problem response, never a bare 500."""
    try:
        return await _submit(req, services)
    except Exception as exc:
        if storage_is_down(exc):
            logger.warning("job storage unavailable; request answered 503: %s", type(exc).__name__)
            return unavailable()
        logger.exception("unexpected error accepting a generation request")
        return problem(500, detail="The request could not be completed; try again later.")


def _owned_request(req: func.HttpRequest, *, easy_auth: bool) -> JobRequest:
    """The validated request, owned by the signed-in caller behind Easy Auth."""
    owner = owner_of(req.headers, easy_auth=easy_auth)
    request = parse_generation_request(req.get_body())
    return replace(request, user=claimed_user(request.user, owner, field="user"))


async def _submit(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Validate, accept, answer; nothing is stored or queued unless the request is valid."""
    try:
        request = _owned_request(req, easy_auth=services.settings.easy_auth_enabled)
        key = check_idempotency_key(req.headers.get("Idempotency-Key"))
        public_base = base_url(req, trust_forwarded=services.settings.trust_forwarded_headers)
        request = await with_checked_callback(request, services, base_url=public_base)
    except InvalidRequestError as exc:
        return problem(exc.status, detail=exc.detail, errors=exc.errors or None)
    except (NotSignedInError, NotYoursError) as exc:
        return refusal(exc)
    fingerprint = request_fingerprint(request) if key else None
    try:
        accepted = await accept_job(
            services, request, channel=Channel.API, idempotency_key=key, fingerprint=fingerprint
        )
    except IdempotencyConflictError as exc:
        return problem(
            422,
            detail=f"The Idempotency-Key was already used with a different request (job {exc.job_id}).",
            errors=[{"field": "Idempotency-Key", "message": "already used with a different body"}],
        )
    except QuotaExceededError as over:
        logger.info("request refused: over %s", over.quota)
        return problem(
            429, title="Quota exceeded", detail=str(over), headers={"Retry-After": str(over.retry_after)}
        )
    except QueueUnavailableError:
        logger.exception("job queue unavailable; request answered 503")
        return unavailable("The job queue is unavailable; try again shortly.")
    return _accepted_response(req, accepted, trust_forwarded=services.settings.trust_forwarded_headers)


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
