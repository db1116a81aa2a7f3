"""`POST /api/generations`: validate, accept, answer 202 with the status URL."""

from __future__ import annotations

import logging
from dataclasses import replace

import azure.functions as func

from generation.callbacks.intake import with_checked_callback
from generation.intake import AcceptedJob, accept_job
from generation.validation import (
    InvalidRequestError,
    check_idempotency_key,
    parse_generation_request,
    request_fingerprint,
)
from jobs.domain.errors import IdempotencyConflictError, QueueUnavailableError, QuotaExceededError
from jobs.domain.models import Channel, JobRequest
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

logger = logging.getLogger(__name__)

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
