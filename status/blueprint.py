"""Status API functions: thin triggers that parse the request and call the handlers, the job resource's
reads (the status URL with `?wait=`, the newest-first list), and the one place that turns what the
handlers raise into RFC 9457 problems."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import azure.durable_functions as df
import azure.functions as func

from jobs.domain.errors import (
    ConversationNotFoundError,
    InvalidCursorError,
    JobNotFoundError,
    JobUnreadableError,
)
from jobs.http import (
    InvalidQueryError,
    NotSignedInError,
    NotYoursError,
    base_url,
    check_owner,
    claimed_user,
    job_resource,
    json_response,
    owner_of,
    parse_wait,
    problem,
    refusal,
    retry_after,
    storage_is_down,
    unavailable,
    wait_until_terminal,
)
from jobs.names import REVIEW_DECISIONS_QUEUE
from jobs.services import services
from jobs.tables.salvage import salvage_job
from jobs.tables.store import JobStore
from status import control, conversations_api, health, outputs_api, reviews_api
from status.openapi import openapi_document
from status.queries import parse_list_query

bp = df.Blueprint()


def _base(req: func.HttpRequest) -> str:
    return base_url(req, trust_forwarded=services().settings.trust_forwarded_headers)


def _owner(req: func.HttpRequest) -> str | None:
    """Behind Easy Auth the signed-in principal, whose jobs alone this request may touch."""
    return owner_of(req.headers, easy_auth=services().settings.easy_auth_enabled)


@bp.function_name("get_generation")
@bp.route(route="generations/{id}", methods=["GET"])
async def get_generation(req: func.HttpRequest) -> func.HttpResponse:
    job_id = req.route_params["id"]
    return await answer(
        lambda: get_job(
            job_id, req.params, jobs=services().jobs, base_url=_base(req), owner=_owner(req)),
        job_id=job_id,
    )


@bp.function_name("list_generations")
@bp.route(route="generations", methods=["GET"])
async def list_generations(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(
        lambda: list_jobs(req.params, jobs=services().jobs, base_url=_base(req), owner=_owner(req)))


@bp.function_name("get_generation_output")
@bp.route(route="generations/{id}/outputs/{index}", methods=["GET"])
async def get_generation_output(req: func.HttpRequest) -> func.HttpResponse:
    job_id = req.route_params["id"]
    return await answer(
        lambda: outputs_api.get_output(
            job_id, req.route_params["index"], req.params, jobs=services().jobs, outputs=services().outputs,
            owner=_owner(req)),
        job_id=job_id,
    )


@bp.function_name("cancel_generation")
@bp.route(route="generations/{id}/cancel", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def cancel_generation(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    job_id = req.route_params["id"]
    return await answer(
        lambda: control.cancel_job(
            job_id, jobs=services().jobs, client=client, base_url=_base(req), owner=_owner(req)),
        job_id=job_id,
    )


@bp.function_name("delete_generation")
@bp.route(route="generations/{id}", methods=["DELETE"])
@bp.durable_client_input(client_name="client")
async def delete_generation(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    job_id = req.route_params["id"]
    return await answer(
        lambda: control.delete_job(
            job_id, jobs=services().jobs, outputs=services().outputs, deletions=services().deletions,
            client=client, owner=_owner(req)),
        job_id=job_id,
    )


@bp.function_name("list_reviews")
@bp.route(route="reviews", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def list_reviews(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(lambda: reviews_api.list_reviews(
        jobs=services().jobs, outputs=services().outputs, base_url=_base(req)))


@bp.function_name("review_generation")
@bp.route(route="generations/{id}/review", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def review_generation(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    job_id = req.route_params["id"]
    return await answer(
        lambda: reviews_api.review_generation(
            job_id, req.get_body(), jobs=services().jobs, client=client, base_url=_base(req)),
        job_id=job_id,
    )


@bp.function_name("review_job")
@bp.queue_trigger(arg_name="msg", queue_name=REVIEW_DECISIONS_QUEUE, connection="GENERATION_STORAGE")
@bp.durable_client_input(client_name="client")
async def review_job(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    """The portal's way to decide (Code + Test: the input is the route's body plus `job_id`)."""
    await reviews_api.review_from_message(msg.get_body(), jobs=services().jobs, client=client)


@bp.function_name("get_conversation")
@bp.route(route="conversations/{id}", methods=["GET"])
async def get_conversation(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(lambda: conversations_api.get_conversation(
        req.route_params["id"], req.params, store=services().conversations, owner=_owner(req)))


@bp.function_name("delete_conversation")
@bp.route(route="conversations/{id}", methods=["DELETE"])
async def delete_conversation(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(lambda: conversations_api.delete_conversation(
        req.route_params["id"], req.params, store=services().conversations, owner=_owner(req)))


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health_check(req: func.HttpRequest) -> func.HttpResponse:
    return await health.check(services)


@bp.function_name("openapi_document")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(openapi_document(base_url=_base(req)), headers={"Cache-Control": "no-cache"})


# --- The job resource's reads: the status URL (with `?wait=`) and the newest-first list ---

async def get_job(
    job_id: str, params: Mapping[str, str], *, jobs: JobStore, base_url: str, owner: str | None = None
) -> func.HttpResponse:
    wait = parse_wait(params)
    try:
        job = await jobs.get(job_id)
    except JobUnreadableError as unreadable:
        # Shown as far as it reads; waiting would not make it readable.
        job, wait = salvage_job(job_id, unreadable.entity), 0
    job = check_owner(job, owner)
    if wait:
        job = await wait_until_terminal(jobs, job, seconds=wait)
    headers = {"Cache-Control": "no-store", **retry_after(job)}
    return json_response(job_resource(job, base_url=base_url), headers=headers)


async def list_jobs(
    params: Mapping[str, str], *, jobs: JobStore, base_url: str, owner: str | None = None
) -> func.HttpResponse:
    query = parse_list_query(params)
    user = claimed_user(query.user, owner, field="user")
    found, next_cursor = await jobs.list_jobs(
        user=user, status=query.status, limit=query.limit, cursor=query.cursor)
    body = {"items": [job_resource(job, base_url=base_url) for job in found], "next_cursor": next_cursor}
    return json_response(body, headers={"Cache-Control": "no-store"})


# --- The one place that turns what the handlers raise into problems ---

logger = logging.getLogger(__name__)


def not_found(job_id: str) -> func.HttpResponse:
    return problem(404, detail=f"No generation job with id '{job_id}' exists.")


def _missing(error: JobNotFoundError | ConversationNotFoundError) -> func.HttpResponse:
    if isinstance(error, ConversationNotFoundError):
        return problem(404, detail=f"No conversation with id '{error.conversation_id}' exists.")
    return not_found(error.job_id)


async def answer(
    work: Callable[[], Awaitable[func.HttpResponse]], *, job_id: str | None = None
) -> func.HttpResponse:
    """Run a handler; map expected errors to 4xx problems, a storage outage to a 503 with
    Retry-After, and anything else to a bare 500.

    `work` is called inside the guard so that building the stores (settings) is covered too.
    """
    try:
        return await work()
    except (NotSignedInError, NotYoursError) as refused:
        return refusal(refused)
    except InvalidQueryError as invalid:
        return problem(400, title="Invalid query", detail=str(invalid), errors=invalid.errors)
    except InvalidCursorError:
        return problem(
            400, title="Invalid cursor",
            detail="The cursor is not one this service issued; start again without it.",
            errors=[{"field": "cursor", "message": "is malformed or was altered"}],
        )
    except (JobNotFoundError, ConversationNotFoundError) as missing:
        return _missing(missing)
    except Exception as exc:
        return _unexpected(exc, job_id=job_id)


def _unexpected(exc: Exception, *, job_id: str | None) -> func.HttpResponse:
    """A storage outage is a 503 with Retry-After; anything else a bare 500."""
    if storage_is_down(exc):
        logger.warning("job %s: storage unavailable; answered 503: %s", job_id or "-", type(exc).__name__)
        return unavailable()
    # The trace goes to the log only; the client learns nothing about internals.
    logger.exception("job %s: unexpected error answering a status API request", job_id or "-")
    return problem(500, detail="The request could not be completed; try again later.")
