"""`POST /api/generations`: validate, accept, answer 202 with the status URL."""

from __future__ import annotations

import logging

import azure.functions as func

from generation.intake import AcceptedJob, IdempotencyConflict, QueueUnavailable, accept_job
from generation.validation import (
    RequestInvalid,
    check_idempotency_key,
    parse_generation_request,
    request_fingerprint,
)
from jobs.http import base_url, json_response, problem, status_url
from jobs.models import Channel
from jobs.outage import STORAGE_RETRY_AFTER_SECONDS, storage_is_down
from jobs.resource import job_resource

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "2"


def _accepted_response(req: func.HttpRequest, accepted: AcceptedJob) -> func.HttpResponse:
    base = base_url(req)
    url = status_url(base, accepted.job.id)
    headers = {"Location": url, "Operation-Location": url}
    terminal = accepted.job.status.is_terminal
    if not terminal:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    status = 200 if terminal else 202
    return json_response(job_resource(accepted.job, base_url=base), status=status, headers=headers)


def _unavailable(detail: str) -> func.HttpResponse:
    return problem(503, detail=detail, headers={"Retry-After": STORAGE_RETRY_AFTER_SECONDS})


async def submit_generation(req: func.HttpRequest) -> func.HttpResponse:
    """Accept a generation request; every failure is a problem response, never a bare 500."""
    try:
        return await _submit(req)
    except Exception as exc:
        if storage_is_down(exc):
            logger.warning("job storage unavailable; request answered 503: %s", type(exc).__name__)
            return _unavailable("The job store is unavailable; try again shortly.")
        logger.exception("unexpected error accepting a generation request")
        return problem(500, detail="The request could not be completed; try again later.")


async def _submit(req: func.HttpRequest) -> func.HttpResponse:
    """Validate, accept, answer; nothing is stored or queued unless the request is valid."""
    try:
        request = parse_generation_request(req.get_body())
        key = check_idempotency_key(req.headers.get("Idempotency-Key"))
    except RequestInvalid as exc:
        return problem(exc.status, detail=exc.detail, errors=exc.errors or None)
    fingerprint = request_fingerprint(request) if key else None
    try:
        accepted = await accept_job(
            request, channel=Channel.API, idempotency_key=key, fingerprint=fingerprint
        )
    except IdempotencyConflict as exc:
        return problem(
            422,
            detail=f"The Idempotency-Key was already used with a different request (job {exc.job_id}).",
            errors=[{"field": "Idempotency-Key", "message": "already used with a different body"}],
        )
    except QueueUnavailable:
        logger.exception("job queue unavailable; request answered 503")
        return _unavailable("The job queue is unavailable; try again shortly.")
    return _accepted_response(req, accepted)
