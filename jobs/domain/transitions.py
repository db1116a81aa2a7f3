"""Pure status changes applied to a freshly read Job; `None` means "nothing to write"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from jobs.contracts import CANCELED
from jobs.domain.errors import InvalidTransitionError
from jobs.domain.models import Job, JobError, JobStatus, Output, utcnow
from jobs.domain.review import Decision, Review, ReviewNotPendingError


def merge_outputs(current: Sequence[Output], new: Sequence[Output]) -> tuple[Output, ...]:
    """Outputs by index, the newer one winning for an index seen twice, except that a failure
    never replaces a success (a late retry must not undo finished work)."""
    by_index = {output.index: output for output in current}
    for output in new:
        existing = by_index.get(output.index)
        if existing is None or output.error is None or existing.error is not None:
            by_index[output.index] = output
    return tuple(by_index[index] for index in sorted(by_index))


def completed_count(outputs: Sequence[Output]) -> int:
    return sum(1 for output in outputs if output.error is None)


def start_running(job: Job, *, gated: bool = False) -> Job | None:
    """Queued to running; `gated`: its outputs pass the review gate before the job may succeed."""
    if job.status is JobStatus.RUNNING:
        return None
    return job.with_status(JobStatus.RUNNING, gated=gated or job.gated)


def apply_progress(job: Job, outputs: Sequence[Output]) -> Job | None:
    """Progress never goes backwards and never touches a terminal job.

    The write that brings in the last output of a running job, every output a success, also moves it
    to succeeded: the status URL and `?wait` see the end without waiting for another step. A job with
    a cancel request, or with a failed output, is left to the orchestrator to settle, and so is a
    gated job (its outputs pass the review gate first).
    """
    if job.status.is_terminal:
        return None
    merged = merge_outputs(job.outputs, outputs)
    completed = max(job.completed, completed_count(merged))
    if merged == job.outputs and completed == job.completed:
        return None
    updated = replace(job, outputs=merged, completed=completed, updated_at=utcnow())
    finishable = job.status is JobStatus.RUNNING and not job.cancel_requested and not job.gated
    if finishable and completed >= job.total:
        return updated.with_status(JobStatus.SUCCEEDED)
    return updated


def apply_finish(job: Job, *, status: JobStatus, outputs: Sequence[Output], error: JobError | None) -> Job:
    if not status.is_terminal:
        raise ValueError(f"finish needs a terminal status, not {status}")
    if job.status.is_terminal:
        raise InvalidTransitionError(job.id, job.status, status)
    merged = merge_outputs(job.outputs, outputs)
    if status is JobStatus.CANCELED and error is None:
        error = CANCELED
    return job.with_status(
        status, outputs=merged, completed=max(job.completed, completed_count(merged)), error=error
    )


def apply_cancel(job: Job) -> Job | None:
    """A queued job is canceled at once; a running one is flagged for its orchestrator to stop."""
    if job.status is JobStatus.QUEUED:
        return job.with_status(JobStatus.CANCELED, error=CANCELED)
    if job.status is JobStatus.RUNNING:
        return None if job.cancel_requested else replace(job, cancel_requested=True, updated_at=utcnow())
    raise InvalidTransitionError(job.id, job.status, JobStatus.CANCELED)


def apply_hold(job: Job, review: Review) -> Job | None:
    """Hold a running job's outputs for review; a job already held keeps its first review (a retried
    activity must not restart the wait), and a job that is stopping or done is not held."""
    if job.review is not None or job.status is not JobStatus.RUNNING or job.cancel_requested:
        return None
    return replace(job, review=review, updated_at=utcnow())


def apply_pass(job: Job) -> Job | None:
    """The gate found nothing to hold: the outputs are shown and the job may finish."""
    if not job.gated or job.review is not None:
        return None
    return replace(job, gated=False, updated_at=utcnow())


def _pending_review(job: Job) -> Review:
    if job.review is None:
        raise ReviewNotPendingError(job.id, "not held for review")
    if not job.review.pending:
        raise ReviewNotPendingError(job.id, f"already {job.review.state.value}")
    if job.status is not JobStatus.RUNNING or job.cancel_requested:
        raise ReviewNotPendingError(job.id, "canceled" if job.cancel_requested else job.status.value)
    return job.review


def apply_review_decision(job: Job, decision: Decision, *, note: str | None) -> Job:
    """A reviewer's decision; ReviewNotPendingError when there is none to make (a second decision)."""
    review = _pending_review(job)
    now = utcnow()
    return replace(job, review=review.decided(decision, note=note, now=now), updated_at=now)


def apply_review_expiry(job: Job) -> Job | None:
    """The wait ran out: a review still pending is rejected as timed out; a decision that landed
    first stands (None: nothing to write)."""
    if job.review is None or not job.review.pending:
        return None
    now = utcnow()
    return replace(job, review=job.review.expired(now=now), updated_at=now)


def apply_rejection(job: Job, error: JobError) -> Job:
    """Fail a job whose review rejected its outputs: they are dropped from the row (blobs go next)."""
    if job.status.is_terminal:
        raise InvalidTransitionError(job.id, job.status, JobStatus.FAILED)
    return job.with_status(JobStatus.FAILED, outputs=(), completed=0, error=error)
