"""The job resource: the public JSON shape of a Job that every channel and the status API show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobs.domain.models import Job, Output
from jobs.domain.review import Review
from jobs.http.urls import status_url

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
