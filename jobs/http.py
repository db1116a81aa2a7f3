"""What every HTTP function answers with, and what it reads from the request.

- Problem details (RFC 9457) and JSON answers: `problem`, `json_response`.
- Absolute URLs: the client's base URL and status URLs under host.json's route prefix.
- The job resource: the public JSON shape of a job that every channel and the status API show.
- A storage outage told from a bug, and its 503 answer.
- Long-polling a job resource (`?wait=`) and telling a client when to look again (`Retry-After`);
  a bad query parameter is an `InvalidQueryError`, answered 400 with each one named.
- Who the caller is behind App Service Authentication (Easy Auth), and which jobs are theirs: behind
  Easy Auth the platform passes the caller in `X-MS-CLIENT-PRINCIPAL-*` headers, which it strips from
  outside requests, and sets `WEBSITE_AUTH_ENABLED=True`. Without it those headers are whatever a client
  chose to send, so they are ignored, and function keys plus the body's `user` stay the rules (the
  setting is read into `Settings.easy_auth_enabled`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import azure.functions as func
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from jobs.domain.errors import JobNotFoundError
from jobs.domain.models import Job, JobStatus, Output
from jobs.domain.review import Review

if TYPE_CHECKING:
    from jobs.tables.store import JobStore

PROBLEM_CONTENT_TYPE = "application/problem+json"
JSON_CONTENT_TYPE = "application/json"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _dumps(body: Any) -> str:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    # Text that cannot be UTF-8 (a lone surrogate in an old row, or echoed back in a field name) is
    # shown as U+FFFD rather than failing the whole answer.
    return _LONE_SURROGATE.sub("\ufffd", text)


def problem(
    status: int,
    *,
    title: str | None = None,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    type_: str = "about:blank",
) -> func.HttpResponse:
    """An RFC 9457 problem details answer; `title` defaults to the status phrase."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _title_for(status),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=status, headers=headers, mimetype=PROBLEM_CONTENT_TYPE)


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None,
    mimetype: str = JSON_CONTENT_TYPE,
) -> func.HttpResponse:
    return func.HttpResponse(
        _dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        mimetype=mimetype,
        charset="utf-8",
    )


HOST_JSON = Path(__file__).resolve().parents[1] / "host.json"


def route_prefix(host_json: Path = HOST_JSON) -> str:
    """`extensions.http.routePrefix` of host.json without slashes ("api" when it is not set)."""
    document = json.loads(host_json.read_text(encoding="utf-8"))
    return str(document.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")


# host.json ships with the app and the host reads it once at start-up; so does this module.
ROUTE_PREFIX = route_prefix()


def _first(value: str | None) -> str | None:
    """The first entry of a comma-separated header (the proxy closest to the client writes it)."""
    if not value:
        return None
    first = value.split(",", 1)[0].strip()
    return first or None


def base_url(req: func.HttpRequest, *, trust_forwarded: bool) -> str:
    """The absolute scheme://host[:port] the client used to reach the app.

    `trust_forwarded` (setting TRUST_FORWARDED_HEADERS) believes X-Forwarded-Proto/-Host: on Azure the
    Functions front end (or Front Door / API Management) terminates TLS and forwards plain HTTP.
    """
    parts = urlsplit(req.url)
    scheme = parts.scheme or "http"
    host = req.headers.get("host") or parts.netloc
    if trust_forwarded:
        forwarded_proto = _first(req.headers.get("x-forwarded-proto"))
        if forwarded_proto and forwarded_proto.lower() in ("http", "https"):
            scheme = forwarded_proto.lower()
        host = _first(req.headers.get("x-forwarded-host")) or host
    return f"{scheme}://{host}"


def status_url(base: str, job_id: str, *, prefix: str = ROUTE_PREFIX) -> str:
    """The absolute status URL of a job."""
    root = f"{base.rstrip('/')}/{prefix}" if prefix else base.rstrip("/")
    return f"{root}/generations/{quote(job_id, safe='')}"


PREVIEW_VARIANT = "preview"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix and millisecond precision."""
    if moment.tzinfo is None:
        # Rows written without a zone are UTC by convention of the store.
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def output_url(base_url: str, job_id: str, index: int) -> str:
    return f"{status_url(base_url, job_id)}/outputs/{index}"


def output_resource(output: Output, *, job_id: str, base_url: str) -> dict[str, Any]:
    """One output: an image (links), a text answer, or the error that stopped it."""
    if output.error is not None:
        return {"index": output.index, "error": output.error.to_dict()}
    if output.text is not None:
        return {"index": output.index, "text": output.text}
    url = output_url(base_url, job_id, output.index)
    return {
        "index": output.index,
        "url": url,
        "preview_url": f"{url}?variant={PREVIEW_VARIANT}",
        "content_type": output.content_type or "image/png",
        "width": output.width,
        "height": output.height,
    }


def job_resource(job: Job, *, base_url: str) -> dict[str, Any]:
    """The job resource of docs/api.md; channel data (`delivery`), ETags and cancel flags stay private."""
    outputs = sorted(job.outputs, key=lambda output: output.index)
    resource = {
        "id": job.id,
        "status": job.status.value,
        "kind": job.kind.value,
        "prompt": job.prompt,
        "n": job.n,
        "size": job.size,
        "user": job.user,
        "channel": job.channel.value,
        "created_at": iso_utc(job.created_at),
        "updated_at": iso_utc(job.updated_at),
        "progress": {"completed": job.completed, "total": job.total},
        # Until the review gate clears them, outputs are for reviewers only (GET /api/reviews).
        "outputs": [] if job.outputs_withheld else
        [output_resource(o, job_id=job.id, base_url=base_url) for o in outputs],
        "error": job.error.to_dict() if job.error is not None else None,
    }
    if job.waiting and not job.status.is_terminal:
        resource["waiting"] = dict(job.waiting)
    if job.conversation_id is not None:
        resource["conversation_id"] = job.conversation_id
    if job.callback is not None:
        resource["callback"] = job.callback.public()
    if job.review is not None:
        resource["review"] = review_resource(job.review)
    return resource


def review_resource(review: Review) -> dict[str, Any]:
    """The `review` field: its state and why; the reviewer's note stays in the job's error."""
    shown: dict[str, Any] = {
        "state": review.state.value, "reason": review.reason, "requested_at": iso_utc(review.requested_at)}
    if review.decided_at is not None:
        shown["decided_at"] = iso_utc(review.decided_at)
    return shown


# How long a client should wait before trying again while storage is down.
STORAGE_RETRY_AFTER_SECONDS = "5"
STORE_UNAVAILABLE = "The job store is unavailable; try again shortly."


def storage_is_down(exc: BaseException) -> bool:
    """A network failure, a timeout or a 5xx from Table, Blob or Queue Storage."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500


def unavailable(detail: str = STORE_UNAVAILABLE) -> func.HttpResponse:
    """A 503 problem with Retry-After: nothing was changed, the client may simply try again."""
    return problem(503, detail=detail, headers={"Retry-After": STORAGE_RETRY_AFTER_SECONDS})


ID_HEADER = "x-ms-client-principal-id"
NAME_HEADER = "x-ms-client-principal-name"
MAX_PRINCIPAL_CHARS = 64


class NotSignedInError(Exception):
    """Easy Auth is on, yet the request carries no principal (anonymous requests were let through)."""


class NotYoursError(Exception):
    """The request names a `user` other than the signed-in principal; `field` is where it did."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} names another user")
        self.field = field


@dataclass(frozen=True)
class Principal:
    id: str
    name: str | None = None


def principal_of(headers: Mapping[str, str], *, easy_auth: bool) -> Principal | None:
    """The signed-in caller behind Easy Auth; None without it. `headers` match case-insensitively."""
    if not easy_auth:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}
    principal_id = lowered.get(ID_HEADER, "").strip()
    if not principal_id or len(principal_id) > MAX_PRINCIPAL_CHARS or not principal_id.isprintable():
        raise NotSignedInError
    return Principal(id=principal_id, name=lowered.get(NAME_HEADER, "").strip() or None)


def owner_of(headers: Mapping[str, str], *, easy_auth: bool) -> str | None:
    """The user every job of this request must belong to: the principal's id, or None without Easy Auth."""
    principal = principal_of(headers, easy_auth=easy_auth)
    return None if principal is None else principal.id


def claimed_user(named: str | None, owner: str | None, *, field: str) -> str | None:
    """The `user` a request acts as: the owner when there is one (naming another is NotYoursError)."""
    if owner is None:
        return named
    if named is not None and named != owner:
        raise NotYoursError(field)
    return owner


def check_owner(job: Job, owner: str | None) -> Job:
    """The job, when `owner` may see it; another principal's job does not exist for this caller."""
    if owner is not None and job.user != owner:
        raise JobNotFoundError(job.id)
    return job


def refusal(error: NotSignedInError | NotYoursError) -> func.HttpResponse:
    """The problem answer for a caller who is not signed in (401) or acts as someone else (403)."""
    if isinstance(error, NotSignedInError):
        return problem(401, title="Not signed in", detail="Sign in first: this service knows its callers.")
    return problem(
        403, title="Not your user",
        detail="Signed-in callers act as themselves: leave `user` out or give your own id.",
        errors=[{"field": error.field, "message": "names another user than the signed-in caller"}],
    )


# --- Long-polling a job resource, and when to look again ---

# How soon a client should look again: queued jobs wait for a worker, running ones report progress.
RETRY_AFTER_SECONDS = {JobStatus.QUEUED: 2, JobStatus.RUNNING: 1}
FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 1.0
MAX_WAIT_SECONDS = 30
# A plain non-negative decimal integer: "+1", "1.0", " 1" and "-1" are not one.
DIGITS = re.compile(r"[0-9]+")


class InvalidQueryError(ValueError):
    """Bad query parameters; `errors` name each one ({field, message}) for a 400 problem."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def field_error(name: str, message: str) -> dict[str, str]:
    """One entry of a problem's `errors`: which field (or parameter) and what is wrong with it."""
    return {"field": name, "message": message}


def parse_wait(params: Mapping[str, str]) -> int:
    """Seconds `?wait=` asks to hold the request (0 when absent); above 30 is treated as 30."""
    raw = params.get("wait")
    if raw is None:
        return 0
    if not DIGITS.fullmatch(raw):
        raise InvalidQueryError([field_error("wait", "must be a whole number of seconds, 0 or more")])
    # Any long digit string is simply a long wait; never int() unbounded input.
    significant = raw.lstrip("0") or "0"
    return MAX_WAIT_SECONDS if len(significant) > 2 else min(int(significant), MAX_WAIT_SECONDS)


def retry_after(job: Job) -> dict[str, str]:
    """`Retry-After` while the job is not terminal; no header once it is."""
    seconds = RETRY_AFTER_SECONDS.get(job.status)
    return {} if seconds is None else {"Retry-After": str(seconds)}


async def wait_until_terminal(jobs: JobStore, job: Job, *, seconds: float) -> Job:
    """Re-read the row (point reads, gentle back-off) until it is terminal or `seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    delay = FIRST_POLL_SECONDS
    while not job.status.is_terminal:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 1.5, MAX_POLL_SECONDS)
        job = await jobs.get(job.id)
    return job
