"""Names and payloads shared across packages, defined once.

The pipeline's functions call each other by name through the Durable runtime (no import), so their
names, the events they wait for, the instance ids they use and the payloads they pass live here.
Payloads are TypedDicts: plain JSON in the orchestration history, typed in the code.

The job queue message is one of them: JSON `{"job_id": "...", "outputs": n}`, the same for Storage
queues and Service Bus. `outputs` (how many outputs the job asks for) is a hint that lets the
orchestration start every output together with marking the job running; the job row stays the truth.
A message without it (or with an unusable one) still starts the job, only one step slower.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from jobs.domain.models import MAX_OUTPUTS, JobError
from jobs.tables.entities import is_valid_key

# Orchestrators and activities, as registered with the host.
GENERATION_ORCHESTRATOR = "generation_orchestrator"
DELIVER_ORCHESTRATOR = "deliver_job"
MARK_JOB_RUNNING = "mark_job_running"
GENERATE_OUTPUT = "generate_output"
FINALIZE_JOB = "finalize_job"
ACQUIRE_PROVIDER_SLOTS = "acquire_provider_slots"
LEAVE_PROVIDER_QUEUE = "leave_provider_queue"
DELIVER_LINE = "deliver_line"
SEND_CALLBACK = "send_callback"
REQUEST_REVIEW = "request_review"
SETTLE_REVIEW = "settle_review"
NOTIFY_LINE_REVIEW = "notify_line_review"

# The external event that stops a running generation orchestration.
CANCEL_EVENT = "cancel"
# The external event that wakes an orchestration waiting for review (the row holds the decision).
REVIEW_EVENT = "review"

# Each channel that is told about a finished job, and the activity that tells it (the HTTP API is polled).
DELIVERY_ACTIVITIES: dict[str, str] = {"line": DELIVER_LINE}
# Each channel that is told when its job will wait long for provider capacity (`WaitingNoticeRequest`).
NOTIFY_LINE_WAITING = "notify_line_waiting"
WAITING_NOTICE_ACTIVITIES: dict[str, str] = {"line": NOTIFY_LINE_WAITING}


def delivery_activity(channel: str) -> str | None:
    """The delivery activity of a channel, or None when the channel is polled (the HTTP API)."""
    return DELIVERY_ACTIVITIES.get(channel)


# Each channel whose user is told that a person checks the output before it is sent.
REVIEW_NOTICE_ACTIVITIES: dict[str, str] = {"line": NOTIFY_LINE_REVIEW}


def review_notice_activity(channel: str) -> str | None:
    return REVIEW_NOTICE_ACTIVITIES.get(channel)


def deliver_instance_id(job_id: str) -> str:
    """The instance of `deliver_job` for a job finished outside the pipeline."""
    return f"{job_id}:deliver"


def job_instance_ids(job_id: str) -> tuple[str, str]:
    """Every orchestration instance a job may have (the pipeline's id is the job id)."""
    return job_id, deliver_instance_id(job_id)


# The pipeline's own job errors, one message per code (provider errors carry the provider's words;
# a canceled job's error is `jobs.domain.models.CANCELED`).
DEADLINE_EXCEEDED = JobError("deadline_exceeded", "The job did not finish in time. Please try again.")
INTERNAL = JobError("internal", "The job stopped unexpectedly. Please try again.")
# The review gate's two endings that fail a job (the message says what the reviewer noted, if anything).
REVIEW_REJECTED = "review_rejected"
REVIEW_TIMEOUT = "review_timeout"


class ErrorPayload(TypedDict):
    code: str
    message: str


def error_payload(error: JobError) -> ErrorPayload:
    return {"code": error.code, "message": error.message}


def error_from_payload(payload: ErrorPayload) -> JobError:
    return JobError(code=str(payload["code"]), message=str(payload["message"]))


class JobRef(TypedDict):
    """The input of `mark_job_running` and of the delivery activities."""

    job_id: str


class GenerationPlan(TypedDict, total=False):
    """The generation orchestration's input: the output count the queue message announced, and
    GENERATION_DEADLINE_SECONDS (the deadline until the row gives the job's own), and whether provider
    calls wait for slots of the shared limiter (then no output starts early)."""

    outputs: int
    deadline_seconds: int
    paced: bool


class StartResult(TypedDict):
    """`mark_job_running`: whether the orchestration goes on, and what it needs if it does."""

    proceed: bool
    status: str
    total: NotRequired[int]
    channel: NotRequired[str]
    deadline_seconds: NotRequired[int]
    deadline_at: NotRequired[str]  # ISO time: the job's acceptance plus GENERATION_DEADLINE_SECONDS
    notify: NotRequired[bool]
    kind: NotRequired[str]
    user: NotRequired[str | None]
    callback: NotRequired[bool]  # the job has a completion callback to deliver once it ends
    review: NotRequired[bool]  # REVIEW_MODE is on: finished outputs pass the review gate first


class SlotRequest(TypedDict):
    """The input of `acquire_provider_slots`: `count` slots for the ask `entry` of job `job_id`."""

    job_id: str
    kind: str
    user: str | None
    entry: str
    count: int
    waited: bool  # the job waited before this ask (its `waiting` note is to be cleared once granted)
    deadline: str  # ISO 8601: when the job runs out of time


class WaitingNote(TypedDict):
    """The job resource's `waiting` field while it waits for provider capacity."""

    reason: str
    position: int
    estimated_start_at: str
    likely_past_deadline: NotRequired[bool]


class SlotAnswer(TypedDict):
    """`acquire_provider_slots`: slot times (one per call), or the place in line and when to ask again."""

    granted: bool
    times: NotRequired[list[str]]
    wake_at: NotRequired[str]
    waiting: NotRequired[WaitingNote]


class WaitingNoticeRequest(TypedDict):
    """The input of a waiting-notice activity: the job, and when its first provider slot should come."""

    job_id: str
    estimated_start_at: str  # ISO 8601


class LeaveRequest(TypedDict):
    """The input of `leave_provider_queue`: the asks of job `job_id` that stop waiting."""

    job_id: str
    kind: str
    entries: list[str]


class OutputRequest(TypedDict):
    """The input of `generate_output`."""

    job_id: str
    index: int
    not_before: NotRequired[str]  # ISO 8601: the provider slot; the call does not start before it


OutputStatus = Literal["succeeded", "failed", "retry", "canceled"]


class OutputResult(TypedDict):
    """`generate_output`: provider failures come back as data (`retry` is worth another attempt)."""

    index: int
    status: OutputStatus
    error: NotRequired[ErrorPayload]
    retry_after: NotRequired[float | None]
    job_finished: NotRequired[bool]


Outcome = Literal["completed", "canceled", "deadline_exceeded"]


class ReviewCheck(TypedDict):
    """`request_review`: whether the outputs wait for a person, and until when (ISO 8601)."""

    held: bool
    expires_at: NotRequired[str]
    canceled: NotRequired[bool]  # a cancel was asked for: the job ends as canceled


class SettleRequest(TypedDict):
    """The input of `settle_review`: act on the row's decision (`timed_out`: the wait ran out)."""

    job_id: str
    timed_out: bool


ReviewDecision = Literal["approve", "reject", "pending", "gone"]


class SettleResult(TypedDict):
    """`settle_review`: the decision acted on (`gone`: the job was deleted or finished meanwhile;
    `pending`: nothing decided yet) and, after a rejection, whether the job's channel is to be told."""

    decision: ReviewDecision
    notify: NotRequired[bool]


class FinalizeRequest(TypedDict):
    """The input of `finalize_job`; `failures` maps an output index (as text: JSON keys) to its error,
    `last_errors` an output still being retried to the last transient error it met."""

    job_id: str
    outcome: Outcome
    failures: dict[str, ErrorPayload]
    last_errors: NotRequired[dict[str, ErrorPayload]]


class FinalizeResult(TypedDict):
    """`finalize_job`: the job's terminal status, and whether its channel is to be told."""

    status: str
    notify: bool


class DeliverJobInput(TypedDict):
    """The input of the `deliver_job` orchestrator."""

    job_id: str
    channel: str
    callback: NotRequired[bool]


class CallbackAttempt(TypedDict):
    """The input of `send_callback`: attempt `attempt` of the job's callback (`last`: no retry follows)."""

    job_id: str
    attempt: int
    last: bool


CallbackOutcome = Literal["delivered", "retry", "failed", "gone"]


class CallbackAnswer(TypedDict):
    """`send_callback`: what the attempt did (`gone`: the job or its callback no longer exists)."""

    outcome: CallbackOutcome
    status: int | None


def webhook_message_id(job_id: str) -> str:
    """The Standard Webhooks `webhook-id` of a job's callback, the same on every retry."""
    return f"msg_{job_id}"


class DeliveryResult(TypedDict):
    """What a delivery activity did: `delivered` (`via` reply or push), `skipped` or `failed` (`reason`)."""

    job_id: str
    status: Literal["delivered", "skipped", "failed"]
    reason: NotRequired[str]
    via: NotRequired[str]
    messages: NotRequired[int]


MAX_JOB_ID_CHARS = 128


@dataclass(frozen=True)
class JobMessage:
    job_id: str
    outputs: int | None = None


def usable_output_count(value: object) -> int | None:
    """`value` as an output count when it is one a job can have, else None (the hint is ignored)."""
    return value if type(value) is int and 1 <= value <= MAX_OUTPUTS else None


def job_message_body(job_id: str, outputs: int | None = None) -> str:
    data: dict[str, object] = {"job_id": job_id}
    if outputs is not None:
        data["outputs"] = outputs
    return json.dumps(data, separators=(",", ":"))


def storage_message_text(job_id: str, outputs: int | None = None) -> str:
    """Base64 of the JSON body, as the Functions host expects with `messageEncoding: base64`."""
    return base64.b64encode(job_message_body(job_id, outputs).encode()).decode("ascii")


def _message_from_json(text: str) -> JobMessage:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("job message is not a JSON object")
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or len(job_id) > MAX_JOB_ID_CHARS or not is_valid_key(job_id):
        raise ValueError("job message has no usable job_id")
    return JobMessage(job_id, usable_output_count(data.get("outputs")))


def read_job_message(body: str | bytes) -> JobMessage:
    """The message (JSON, or base64 of it as stored in the queue); ValueError when it names no job."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    text = text.strip()
    if not text.startswith("{"):
        # The raw queue text (seen when a message is read without the host's decoding).
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("job message is neither JSON nor base64 JSON") from exc
    try:
        return _message_from_json(text)
    except json.JSONDecodeError as exc:
        raise ValueError("job message is not valid JSON") from exc


def parse_job_message(body: str | bytes) -> str:
    """The job id in a queue message; ValueError else."""
    return read_job_message(body).job_id
