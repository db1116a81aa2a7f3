"""How a job comes in: the strict rules of a request body (shared by every channel that takes JSON),
the accept path every channel shares (one row write, one queue send, nothing else), and
`POST /api/generations` in front of it (validate, check the callback URL, accept, answer 202 with the
status URL). The orchestration's start behind the queue is `generation.orchestration.start_generation`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

import azure.functions as func

from generation.callbacks.delivery import callback_sender
from generation.callbacks.guard import CallbackRefusedError
from jobs import telemetry
from jobs.domain.conversations import MAX_CONVERSATION_ID_CHARS, is_valid_conversation_id
from jobs.domain.errors import IdempotencyConflictError, QueueUnavailableError, QuotaExceededError
from jobs.domain.models import (
    DEFAULT_SIZE,
    IMAGE_SIZES,
    MAX_OUTPUTS,
    MAX_PROMPT_CHARS,
    MAX_USER_CHARS,
    Channel,
    ChatDelivery,
    Job,
    JobKind,
    JobRequest,
    JobStatus,
    is_storable_text,
)
from jobs.http import (
    NotSignedInError,
    NotYoursError,
    base_url,
    claimed_user,
    field_error,
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

# --- The request body's rules ---

MAX_BODY_BYTES = 65_536
MAX_IDEMPOTENCY_KEY_CHARS = 255
FIELDS = ("prompt", "kind", "n", "size", "user", "conversation_id", "callback_url")
# A character that is not white space, spelled out so that the OpenAPI pattern (an ECMA-262 regex,
# whose \s differs from Python's) says exactly the same: every space and separator either engine
# knows, and the byte order mark.
VISIBLE_CHAR = r"[^\t-\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_VISIBLE = re.compile(VISIBLE_CHAR)
# C0 and C1 controls: never in an owner id (they end up in logs and table keys).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Visible ASCII, inner spaces allowed (an HTTP parser strips outer ones): an RFC 8941 string.
_IDEMPOTENCY_KEY = re.compile(r"[!-~](?:[ -~]*[!-~])?")


@dataclass
class InvalidRequestError(Exception):
    """A request that cannot be accepted: `status` is 400, 413 or 422; `errors` name each bad field."""

    status: int
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.detail


def _check_prompt(value: Any, errors: list[dict[str, str]]) -> str:
    if not isinstance(value, str):
        errors.append(field_error("prompt", "must be a string"))
        return ""
    if not is_storable_text(value):
        errors.append(field_error("prompt", "must be valid Unicode text (no lone surrogates)"))
    elif not _VISIBLE.search(value):
        errors.append(field_error("prompt", "must not be empty"))
    elif len(value) > MAX_PROMPT_CHARS:
        errors.append(field_error("prompt", f"must be at most {MAX_PROMPT_CHARS} characters"))
    return value


def _check_kind(value: Any, errors: list[dict[str, str]]) -> JobKind:
    kinds = [kind.value for kind in JobKind]
    if not isinstance(value, str) or value not in kinds:
        errors.append(field_error("kind", f"must be one of {', '.join(kinds)}"))
        return JobKind.IMAGE
    return JobKind(value)


def _check_n(value: Any, kind: JobKind, errors: list[dict[str, str]]) -> int:
    # JSON has one number type: 2.0 is the integer 2 (as JSON Schema reads it), 2.5 is not one.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # bool is an int subclass in Python; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(field_error("n", "must be an integer"))
        return 1
    if not 1 <= value <= MAX_OUTPUTS:
        errors.append(field_error("n", f"must be between 1 and {MAX_OUTPUTS}"))
    elif kind is JobKind.TEXT and value != 1:
        errors.append(field_error("n", "must be 1 for kind text"))
    return value


def _check_size(value: Any, errors: list[dict[str, str]]) -> str:
    if not isinstance(value, str) or value not in IMAGE_SIZES:
        errors.append(field_error("size", f"must be one of {', '.join(IMAGE_SIZES)}"))
        return DEFAULT_SIZE
    return value


def _check_user(value: Any, errors: list[dict[str, str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(field_error("user", "must be a string"))
        return None
    if not is_storable_text(value):
        errors.append(field_error("user", "must be valid Unicode text (no lone surrogates)"))
    elif not value or len(value) > MAX_USER_CHARS or _CONTROL.search(value):
        message = f"must be 1 to {MAX_USER_CHARS} characters, no control characters"
        errors.append(field_error("user", message))
    return value


def _check_conversation(value: Any, kind: JobKind, errors: list[dict[str, str]]) -> str | None:
    if value is None:
        return None
    if kind is not JobKind.TEXT:
        errors.append(field_error("conversation_id", "is only for kind text"))
        return None
    if not isinstance(value, str) or not is_valid_conversation_id(value):
        errors.append(field_error(
            "conversation_id",
            f"must be 1 to {MAX_CONVERSATION_ID_CHARS} letters, digits, '-', '_' or '.', "
            "starting with a letter or digit",
        ))
        return None
    return value


def _check_callback_url(value: Any, errors: list[dict[str, str]]) -> str | None:
    # Leave it out for no callback: null is refused, as the schema says (a string).
    """Only the type here: the URL guard (scheme, addresses) runs where the settings and DNS are."""
    if not isinstance(value, str):
        errors.append(field_error("callback_url", "must be a string"))
        return None
    return value


def _load_object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(400, f"The request body is not valid JSON: {exc}.") from None
    except (ValueError, RecursionError):
        # Well-formed JSON past the parser's limits: an integer of more than 4,300 digits, or
        # nesting deeper than the interpreter's recursion limit. The message names neither safely.
        detail = "The request body nests too deeply or holds a number too large."
        raise InvalidRequestError(400, detail) from None
    if not isinstance(data, dict):
        errors = [field_error("body", "must be an object")]
        raise InvalidRequestError(422, "The request body must be a JSON object.", errors)
    return data


def parse_generation_request(body: bytes) -> JobRequest:
    """Validate a `POST /api/generations` body; raise InvalidRequestError naming every bad field."""
    data = _load_object(body)
    errors = [field_error(name, "is not a known field") for name in data if name not in FIELDS]
    if "prompt" not in data:
        errors.append(field_error("prompt", "is required"))
    prompt = _check_prompt(data.get("prompt", ""), errors) if "prompt" in data else ""
    kind = _check_kind(data.get("kind", JobKind.IMAGE.value), errors)
    n = _check_n(data.get("n", 1), kind, errors)
    size = _check_size(data.get("size", DEFAULT_SIZE), errors)
    user = _check_user(data.get("user"), errors)
    conversation_id = _check_conversation(data.get("conversation_id"), kind, errors)
    callback_url = _check_callback_url(data["callback_url"], errors) if "callback_url" in data else None
    if errors:
        raise InvalidRequestError(422, "The request has invalid fields.", errors)
    return JobRequest(prompt=prompt, kind=kind, n=n, size=size, user=user, conversation_id=conversation_id,
                      callback_url=callback_url)


def check_idempotency_key(value: str | None) -> str | None:
    """An Idempotency-Key header value, or None; raise InvalidRequestError (400) when malformed.

    Visible ASCII only: what a header carries faithfully, and what the idempotency record hashes the
    same way on every host (bytes outside ASCII reach the app decoded differently per server).
    """
    if value is None:
        return None
    if len(value) > MAX_IDEMPOTENCY_KEY_CHARS or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidRequestError(
            400,
            f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters.",
            [field_error("Idempotency-Key", "malformed")],
        )
    return value


def request_fingerprint(request: JobRequest) -> str:
    """A digest of what was asked for, so a reused idempotency key with another body is detected."""
    asked: dict[str, Any] = {"prompt": request.prompt, "kind": request.kind.value, "n": request.n,
                             "size": request.size, "user": request.user}
    if request.callback_url is not None:  # absent otherwise, so earlier records keep their digest
        asked["callback_url"] = request.callback_url
    if request.conversation_id is not None:
        asked["conversation_id"] = request.conversation_id
    canonical = json.dumps(
        asked,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


logger = logging.getLogger(__name__)


# --- The accept path every channel shares ---

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
        reservation = None if services.quotas is None else (
            await services.quotas.reserve(job, find_job=services.jobs.find))
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


# --- POST /api/generations ---

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
