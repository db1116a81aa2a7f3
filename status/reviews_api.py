"""The reviewers' API: list the jobs held for review, and decide on one.

A decision is written on the job row as an ETag-guarded transition (two reviewers deciding at once:
one wins, the other gets 409), and only then is the waiting orchestration woken with the `review`
event; it reads the decision from the row. The same decision comes from `POST
/api/generations/{id}/review` and from the `review_job` function the portal can run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import azure.functions as func

from jobs.blobs.outputs import OutputStore
from jobs.contracts import REVIEW_EVENT
from jobs.domain.errors import JobNotFoundError
from jobs.domain.models import Job, Output, apply_review_decision, is_storable_text, utcnow
from jobs.domain.review import MAX_NOTE_CHARS, Decision, ReviewNotPendingError
from jobs.http import job_resource, json_response, problem, status_url
from jobs.removal import Orchestrations
from jobs.tables.store import JobStore

logger = logging.getLogger(__name__)

# Held jobs are found among the unfinished ones (the open index); a reviewer sees the newest this many.
OPEN_JOBS_READ = 1000
CONTENT_LINK_TTL = timedelta(minutes=15)
_FIELDS = {"decision", "note"}


class DecisionInputError(ValueError):
    """The decision's body is not what the route takes; `errors` names each bad field."""

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail)
        self.errors = errors


@dataclass(frozen=True)
class ReviewDecision:
    decision: Decision
    note: str | None


def _field_errors(document: dict[str, Any]) -> list[dict[str, str]]:
    errors = [{"field": name, "message": "is not a known field"} for name in sorted(set(document) - _FIELDS)]
    if document.get("decision") not in tuple(Decision):
        errors.append({"field": "decision", "message": "must be \"approve\" or \"reject\""})
    note = document.get("note")
    if note is not None and not (isinstance(note, str) and len(note) <= MAX_NOTE_CHARS
                                 and is_storable_text(note)):
        errors.append({"field": "note", "message": f"must be text of at most {MAX_NOTE_CHARS} characters"})
    return errors


def parse_decision(document: Any) -> ReviewDecision:
    """`{"decision": "approve" | "reject", "note": "..."}` (note optional); DecisionInputError if not."""
    if not isinstance(document, dict):
        raise DecisionInputError("The body must be a JSON object.",
                                 [{"field": "body", "message": "is not an object"}])
    errors = _field_errors(document)
    if errors:
        raise DecisionInputError("The decision is not valid.", errors)
    note = document.get("note")
    return ReviewDecision(Decision(document["decision"]), note.strip() or None if note else None)


def read_decision(body: bytes) -> ReviewDecision:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DecisionInputError("The body must be JSON.",
                                 [{"field": "body", "message": "is not JSON"}]) from None
    return parse_decision(document)


async def decide(job_id: str, choice: ReviewDecision, *, jobs: JobStore, client: Orchestrations) -> Job:
    """Write the decision (ReviewNotPendingError when there is none to make), then wake the job."""
    job = await jobs.change(
        job_id, lambda row: apply_review_decision(row, choice.decision, note=choice.note))
    logger.info("job %s: review decided: %s", job_id, choice.decision.value)
    try:
        await client.raise_event(job_id, REVIEW_EVENT, {"decision": choice.decision.value})
    except Exception:
        # The decision is on the row; the orchestration acts on it at the latest when its wait ends.
        logger.exception("job %s: the review event could not be raised", job_id)
    return job


async def review_generation(job_id: str, body: bytes, *, jobs: JobStore, client: Orchestrations,
                            base_url: str) -> func.HttpResponse:
    try:
        choice = read_decision(body)
    except DecisionInputError as invalid:
        return problem(400, title="Invalid decision", detail=str(invalid), errors=invalid.errors)
    try:
        job = await decide(job_id, choice, jobs=jobs, client=client)
    except ReviewNotPendingError as not_pending:
        return problem(409, title="Not waiting for review",
                       detail=f"Job '{job_id}' has no review waiting for a decision ({not_pending.state}).")
    headers = {"Location": status_url(base_url, job_id)}
    return json_response(job_resource(job, base_url=base_url), status=202, headers=headers)


async def _content(output: Output, *, outputs: OutputStore) -> dict[str, Any]:
    """What a reviewer looks at: the text, or a short-lived link to the picture itself (the job's own
    output route withholds it until approved)."""
    if output.text is not None:
        return {"index": output.index, "text": output.text}
    url = await outputs.url_for(output.blob_name, ttl=CONTENT_LINK_TTL) if output.blob_name else None
    return {"index": output.index, "content_type": output.content_type or "image/png", "content_url": url}


async def _item(job: Job, *, outputs: OutputStore, base_url: str) -> dict[str, Any]:
    made = [output for output in job.outputs if output.error is None]
    return {
        "job": job_resource(job, base_url=base_url),
        "content": list(await asyncio.gather(*(_content(output, outputs=outputs) for output in made))),
    }


async def list_reviews(*, jobs: JobStore, outputs: OutputStore, base_url: str) -> func.HttpResponse:
    """Jobs waiting for a decision, longest waiting first, each with its content."""
    unfinished = await jobs.list_unfinished(utcnow() + timedelta(days=1), limit=OPEN_JOBS_READ)
    held = [job for job in unfinished
            if job.review is not None and job.review.pending and not job.cancel_requested]
    held.sort(key=lambda job: job.review.requested_at if job.review else job.created_at)
    items = await asyncio.gather(*(_item(job, outputs=outputs, base_url=base_url) for job in held))
    return json_response({"items": list(items)}, headers={"Cache-Control": "no-store"})


async def review_from_message(body: bytes, *, jobs: JobStore, client: Orchestrations) -> None:
    """`review_job`: `{"job_id": "...", "decision": ..., "note": ...}`. A message that cannot succeed
    (bad input, unknown job, nothing to decide) is logged and consumed, never retried."""
    try:
        document = json.loads(body.decode("utf-8"))
        job_id = document.pop("job_id") if isinstance(document, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise DecisionInputError("job_id is missing", [{"field": "job_id", "message": "is required"}])
        choice = parse_decision(document)
    except (UnicodeDecodeError, ValueError) as invalid:
        logger.error("review_job: input refused: %s (%s)", invalid, getattr(invalid, "errors", ""))
        return
    try:
        await decide(job_id, choice, jobs=jobs, client=client)
    except ReviewNotPendingError as not_pending:
        logger.warning("review_job: job %s: not decided: %s", job_id, not_pending.state)
    except JobNotFoundError:
        logger.warning("review_job: job %s: no such job", job_id)
