"""Output links: a 303 to a short-lived read-only blob URL, or the text of a text answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import azure.functions as func

from jobs.blobs.outputs import OutputStore
from jobs.domain.models import Job, Output
from jobs.http import check_owner, problem, retry_after
from jobs.tables.store import JobStore
from status.queries import parse_index, parse_variant

LINK_TTL = timedelta(minutes=15)
NO_STORE = {"Cache-Control": "no-store"}


def _find(job: Job, index: int) -> Output | None:
    return next((output for output in job.outputs if output.index == index), None)


def _missing(job: Job, raw_index: str, index: int | None) -> func.HttpResponse:
    """404 when the output can never exist, 409 when it may still come."""
    if index is None or index >= job.n:
        return problem(404, detail=f"Job '{job.id}' has no output '{raw_index}' (it has {job.n}).")
    if job.status.is_terminal:
        return problem(404, detail=f"Output {index} of job '{job.id}' was not produced (job {job.status}).")
    return problem(
        409, title="Output not ready",
        detail=f"Output {index} of job '{job.id}' is not ready yet; the job is {job.status}.",
        headers={**retry_after(job), **NO_STORE},
    )


async def _link(output: Output, *, variant: str, outputs: OutputStore, job_id: str) -> func.HttpResponse:
    blob_name = output.blob_name
    if variant == "preview" and output.preview_blob_name:
        blob_name = output.preview_blob_name
    if blob_name is None:
        return problem(404, detail=f"Output {output.index} of job '{job_id}' has no stored content.")
    url = await outputs.url_for(blob_name, ttl=LINK_TTL)
    return func.HttpResponse(status_code=303, headers={"Location": url, **NO_STORE})


async def get_output(
    job_id: str, raw_index: str, params: Mapping[str, str], *, jobs: JobStore, outputs: OutputStore,
    owner: str | None = None,
) -> func.HttpResponse:
    variant = parse_variant(params)
    job = check_owner(await jobs.get(job_id), owner)
    index = parse_index(raw_index)
    output = None if index is None or job.outputs_withheld else _find(job, index)
    if output is None:
        return _missing(job, raw_index, index)
    if output.error is not None:
        return problem(404, detail=f"Output {output.index} of job '{job_id}' failed: {output.error.message}")
    if output.text is not None:
        # A redirect has nothing to point at for text kept in the row: answer the text itself.
        return func.HttpResponse(
            output.text, status_code=200, mimetype="text/plain", charset="utf-8", headers=NO_STORE)
    return await _link(output, variant=variant, outputs=outputs, job_id=job_id)
