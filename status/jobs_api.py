"""Reading jobs: the status URL (with `?wait=`) and the newest-first list, and the strict parsing of the
status API's query strings and route values."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass

import azure.functions as func

from jobs.domain.errors import JobUnreadableError
from jobs.domain.models import MAX_USER_CHARS, Job, JobStatus
from jobs.http import check_owner, claimed_user, job_resource, json_response
from jobs.tables.salvage import salvage_job
from jobs.tables.store import JobStore

# How soon a client should look again: queued jobs wait for a worker, running ones report progress.
RETRY_AFTER_SECONDS = {JobStatus.QUEUED: 2, JobStatus.RUNNING: 1}
FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 1.0


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


MAX_WAIT_SECONDS = 30
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
VARIANTS = ("original", "preview")
_DIGITS = re.compile(r"[0-9]+")
# What an owner id may hold (the submit body's rule): no C0/C1 controls, no lone surrogates.
_BAD_USER = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
EMPTY = "must not be empty (leave the parameter out instead)"


class InvalidQueryError(ValueError):
    """Bad query parameters; `errors` name each one ({field, message}) for a 400 problem."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class ListQuery:
    user: str | None
    status: JobStatus | None
    limit: int
    cursor: str | None


def _error(name: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message}


def _digits(value: str) -> int | None:
    """A plain non-negative decimal integer ("+1", "1.0", " 1" and "-1" are not)."""
    if not _DIGITS.fullmatch(value) or len(value) > 9:
        return None
    return int(value)


def parse_wait(params: Mapping[str, str]) -> int:
    """Seconds `?wait=` asks to hold the request (0 when absent); above 30 is treated as 30."""
    raw = params.get("wait")
    if raw is None:
        return 0
    if not _DIGITS.fullmatch(raw):
        raise InvalidQueryError([_error("wait", "must be a whole number of seconds, 0 or more")])
    # Any long digit string is simply a long wait; never int() unbounded input.
    significant = raw.lstrip("0") or "0"
    return MAX_WAIT_SECONDS if len(significant) > 2 else min(int(significant), MAX_WAIT_SECONDS)


def _parse_limit(raw: str | None, errors: list[dict[str, str]]) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    limit = _digits(raw)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        errors.append(_error("limit", f"must be an integer from 1 to {MAX_LIMIT}"))
        return DEFAULT_LIMIT
    return limit


def _parse_status(raw: str | None, errors: list[dict[str, str]]) -> JobStatus | None:
    if raw is None:
        return None
    try:
        return JobStatus(raw)
    except ValueError:
        errors.append(_error("status", f"must be one of {', '.join(s.value for s in JobStatus)}"))
        return None


def _parse_user(raw: str | None, errors: list[dict[str, str]]) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > MAX_USER_CHARS or _BAD_USER.search(raw):
        errors.append(_error("user", f"must be 1 to {MAX_USER_CHARS} characters, no control characters"))
        return None
    return raw


def _parse_cursor(raw: str | None, errors: list[dict[str, str]]) -> str | None:
    if raw == "":
        errors.append(_error("cursor", EMPTY))
        return None
    return raw


def parse_user(params: Mapping[str, str]) -> str | None:
    """`?user=` alone (the conversation routes); a bad value is an InvalidQueryError."""
    errors: list[dict[str, str]] = []
    user = _parse_user(params.get("user"), errors)
    if errors:
        raise InvalidQueryError(errors)
    return user


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """`?user=&status=&limit=&cursor=`; every bad parameter is named in one InvalidQueryError."""
    errors: list[dict[str, str]] = []
    query = ListQuery(
        user=_parse_user(params.get("user"), errors),
        status=_parse_status(params.get("status"), errors),
        limit=_parse_limit(params.get("limit"), errors),
        cursor=_parse_cursor(params.get("cursor"), errors),
    )
    if errors:
        raise InvalidQueryError(errors)
    return query


def parse_variant(params: Mapping[str, str]) -> str:
    """`?variant=` of an output: `original` (default) or `preview`."""
    raw = params.get("variant", "original")
    if raw not in VARIANTS:
        raise InvalidQueryError([_error("variant", f"must be one of {', '.join(VARIANTS)}")])
    return raw


def parse_index(raw: str | None) -> int | None:
    """An output index from the route; None when it cannot name an output (answered with 404)."""
    return _digits(raw or "")
