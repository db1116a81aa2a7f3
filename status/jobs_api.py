"""Reading jobs: the status URL (with `?wait=`) and the newest-first list."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import azure.functions as func

from jobs.domain.errors import JobUnreadableError
from jobs.domain.models import Job, JobStatus
from jobs.http.principal import check_owner, claimed_user
from jobs.http.resource import job_resource
from jobs.http.responses import json_response
from jobs.tables.salvage import salvage_job
from jobs.tables.store import JobStore
from status.queries import parse_list_query, parse_wait

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
