"""The Job record (statuses, allowed transitions, outputs and errors) and its pure status changes.

A change is applied to a freshly read Job and returns the Job to write; `None` means "nothing to write".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from jobs.domain.callbacks import Callback
from jobs.domain.conversations import new_conversation_id
from jobs.domain.errors import InvalidTransitionError
from jobs.domain.review import Decision, Review, ReviewNotPendingError, ReviewState


class JobStatus(StrEnum):
    """Azure REST API guidelines' long-running-operation states."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


class JobKind(StrEnum):
    IMAGE = "image"
    TEXT = "text"


class Channel(StrEnum):
    API = "api"
    LINE = "line"


IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536")
DEFAULT_SIZE = "1024x1024"
MAX_OUTPUTS = 4
MAX_PROMPT_CHARS = 4000
MAX_USER_CHARS = 64


def check_transition(job_id: str, current: JobStatus, requested: JobStatus) -> None:
    if requested not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransitionError(job_id, current, requested)


@dataclass(frozen=True)
class JobError:
    """A short, user-safe error: a stable code and a message (never a stack trace or a secret)."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> JobError | None:
        return None if not data else cls(code=str(data["code"]), message=str(data["message"]))


# The error of every canceled job (the rest of the pipeline's own errors: `jobs.contracts`).
CANCELED = JobError("canceled", "The job was canceled.")


@dataclass(frozen=True)
class JobRequest:
    """A validated request for work, the same whichever channel it came through."""

    prompt: str
    kind: JobKind = JobKind.IMAGE
    n: int = 1
    size: str = DEFAULT_SIZE
    user: str | None = None
    conversation_id: str | None = None  # text only: the conversation this question continues
    callback_url: str | None = None  # checked by the channel that took it (HTTPS, a public address)
    callback_base_url: str | None = None  # the public base of the status URLs the callback carries


@dataclass(frozen=True)
class Output:
    """One finished (or failed) output of a job.

    Images live in Blob Storage under deterministic names; text is kept in the row.
    """

    index: int
    content_type: str | None = None
    blob_name: str | None = None
    preview_blob_name: str | None = None
    width: int | None = None
    height: int | None = None
    text: str | None = None
    error: JobError | None = None
    # The provider's moderation verdict on this output (why it should be reviewed); never shown.
    flag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index}
        for key in ("content_type", "blob_name", "preview_blob_name", "width", "height", "text", "flag"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.error is not None:
            data["error"] = self.error.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Output:
        return cls(
            index=int(data["index"]),
            content_type=data.get("content_type"),
            blob_name=data.get("blob_name"),
            preview_blob_name=data.get("preview_blob_name"),
            width=data.get("width"),
            height=data.get("height"),
            text=data.get("text"),
            error=JobError.from_dict(data.get("error")),
            flag=data.get("flag"),
        )


def is_storable_text(value: str) -> bool:
    """Whether `value` survives UTF-8 (JSON's \\ud800 escapes decode to lone surrogates, which do not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class ChatDelivery:
    """Where a chat job's result goes (LINE: the chat to push to, and the event's reply token)."""

    to: str  # the user, group or room id to push to
    source_type: str = "user"  # "user" | "group" | "room"
    user_id: str | None = None  # the sender; LINE may omit it in groups and rooms
    reply_token: str | None = field(default=None, repr=False)
    event_timestamp_ms: int | None = None  # when the event happened: the reply token's age counts from it
    webhook_event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reply_token": self.reply_token,
            "event_timestamp_ms": self.event_timestamp_ms,
            "to": self.to,
            "source_type": self.source_type,
            "user_id": self.user_id,
            "webhook_event_id": self.webhook_event_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatDelivery | None:
        """The record stored in a row; None when it names no chat (an API job stores `{}`)."""
        to = data.get("to")
        if not isinstance(to, str) or not to:
            return None
        stamp = data.get("event_timestamp_ms")
        return cls(
            to=to,
            source_type=_text(data.get("source_type")) or "user",
            user_id=_text(data.get("user_id")),
            reply_token=_text(data.get("reply_token")),
            event_timestamp_ms=stamp if type(stamp) is int else None,
            webhook_event_id=_text(data.get("webhook_event_id")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _callback(request: JobRequest) -> Callback | None:
    if request.callback_url is None:
        return None
    return Callback(url=request.callback_url, base_url=request.callback_base_url or "")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Job:
    """A job row. `etag` is the Table ETag it was read with (None before it is stored).

    `delivery` is where a chat channel hands the result back (None for the HTTP API); it is never
    shown in the job resource.
    """

    id: str
    status: JobStatus
    kind: JobKind
    prompt: str
    n: int
    size: str
    user: str | None
    channel: Channel
    created_at: datetime
    updated_at: datetime
    completed: int = 0
    outputs: tuple[Output, ...] = ()
    error: JobError | None = None
    delivery: ChatDelivery | None = None
    cancel_requested: bool = False
    # Why and until when the job waits (provider capacity); written apart from status changes.
    waiting: dict[str, Any] | None = None
    # Text jobs: the conversation whose recent turns the provider sees (a new one when none was named).
    conversation_id: str | None = None
    callback: Callback | None = None
    # The human review gate: `gated` while REVIEW_MODE applies to the job (its outputs are shown
    # only once they pass), `review` once they are held for a person to approve or reject.
    gated: bool = False
    review: Review | None = None
    etag: str | None = None

    @classmethod
    def new(
        cls,
        request: JobRequest,
        *,
        channel: Channel,
        delivery: ChatDelivery | None = None,
        job_id: str | None = None,
        now: datetime | None = None,
    ) -> Job:
        created = now or utcnow()
        return cls(
            id=job_id or new_job_id(),
            status=JobStatus.QUEUED,
            kind=request.kind,
            prompt=request.prompt,
            n=request.n if request.kind is JobKind.IMAGE else 1,
            size=request.size,
            user=request.user,
            channel=channel,
            created_at=created,
            updated_at=created,
            delivery=delivery,
            conversation_id=(request.conversation_id or new_conversation_id())
            if request.kind is JobKind.TEXT else None,
            callback=_callback(request),
        )

    @property
    def total(self) -> int:
        return self.n

    @property
    def outputs_withheld(self) -> bool:
        """Outputs not yet (or never) cleared by the review gate are shown to nobody but reviewers."""
        return self.gated and (self.review is None or self.review.state is not ReviewState.APPROVED)

    def with_status(self, status: JobStatus, *, now: datetime | None = None, **changes: Any) -> Job:
        """A copy moved to `status` (checked against the state machine) with other fields changed."""
        check_transition(self.id, self.status, status)
        return replace(self, status=status, updated_at=now or utcnow(), **changes)


# --- Pure status changes, applied by `jobs.tables.store.JobStore` under the row's ETag ---

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
