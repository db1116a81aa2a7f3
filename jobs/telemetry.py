"""One trace per job, and the job metrics, through the OpenTelemetry API.

Every span of a job belongs to the job's own trace, whose ids are derived from the job id: the
accept path, the queue starter, every activity attempt, provider call and delivery compute the same
parent from the id alone, so nothing has to carry the context (queue messages, re-drives by the
maintenance timer and orchestration replays all link up), orchestrators stay deterministic, and an
operator finds the trace from the job id (docs/operate.md). The span of the invocation that did the
work (the Functions host's, when it sends one) is attached as a link.

Attributes are the job id, channel, kind and a hash of the user; never the prompt, a key or a token.
Where the spans and metrics go is chosen once per process by `configure` (jobs/telemetry_setup.py);
without it the API's no-op providers make every call here free.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import metrics, trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, Status, StatusCode, TraceFlags

from jobs.config.settings import Settings
from jobs.domain.models import Job, JobKind

SCOPE = "generation"
Attributes = Mapping[str, str | int | float | bool]

_tracer = trace.get_tracer(SCOPE)
_meter = metrics.get_meter(SCOPE)
JOBS_ACCEPTED = _meter.create_counter("jobs.accepted", unit="{job}", description="Jobs accepted")
JOBS_FINISHED = _meter.create_counter(
    "jobs.finished", unit="{job}", description="Jobs that reached a terminal status, by status and error"
)
JOB_DURATION = _meter.create_histogram(
    "jobs.duration", unit="s", description="From accept to the terminal status, by kind"
)
PROVIDER_CALLS = _meter.create_counter(
    "provider.calls", unit="{call}", description="Provider calls by outcome (ok, rate_limited, ...)"
)
PROVIDER_DURATION = _meter.create_histogram("provider.duration", unit="s", description="Provider call time")
PACING_WAIT = _meter.create_histogram(
    "pacing.wait", unit="s", description="From a granted ask to each provider slot it was given"
)
PACING_NOT_YET = _meter.create_counter(
    "pacing.not_yet", unit="{ask}", description="Asks for provider slots answered: wait in line"
)
QUEUE_DEPTH = _meter.create_gauge("queue.depth", unit="{message}", description="Job queue messages")
DEAD_LETTER_DEPTH = _meter.create_gauge(
    "queue.dead_letter_depth", unit="{message}", description="Dead-lettered or poisoned job messages"
)
LINE_DELIVERIES = _meter.create_counter(
    "line.deliveries", unit="{message}", description="LINE result messages by mode (reply or push)"
)


def job_trace_ids(job_id: str) -> tuple[int, int]:
    """(trace id, root span id) of the job's trace: the sha256 of "job:" + id, first 16 and next 8 bytes."""
    digest = hashlib.sha256(f"job:{job_id}".encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


def job_traceparent(job_id: str) -> str:
    """The W3C traceparent of the job's trace root."""
    trace_id, span_id = job_trace_ids(job_id)
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def hashed_user(user: str | None) -> str:
    """A stable pseudonym of the user for telemetry (never the user id itself)."""
    return "" if user is None else hashlib.sha256(f"user:{user}".encode()).hexdigest()[:16]


def model_name(settings: Settings, kind: JobKind) -> str:
    """The model (or Azure deployment) a job of `kind` is sent to, as the provider settings name it."""
    text = kind is JobKind.TEXT
    if settings.provider == "azure_openai":
        deployment = settings.azure_openai_text_deployment if text else settings.azure_openai_image_deployment
        return deployment or ""
    if settings.provider == "openai":
        return settings.openai_text_model if text else settings.openai_image_model
    return settings.provider


def job_attributes(job: Job) -> dict[str, str | int]:
    return {
        "job_id": job.id,
        "channel": job.channel.value,
        "kind": job.kind.value,
        "user": hashed_user(job.user),
        "outputs": job.n,
    }


@contextmanager
def job_span(
    name: str, job_id: str, attributes: Attributes | None = None, *, start_time: int | None = None
) -> Iterator[Span]:
    """A span in the job's trace, linked to the span current here (the invocation's, if any).

    An exception leaving the block marks the span failed with the exception's type only: messages
    may quote what a user sent.
    """
    trace_id, root_id = job_trace_ids(job_id)
    parent = SpanContext(trace_id, root_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid and current.trace_id != trace_id else []
    with _tracer.start_as_current_span(
        name,
        context=trace.set_span_in_context(NonRecordingSpan(parent)),
        attributes={"job_id": job_id, **(attributes or {})},
        links=links,
        start_time=start_time,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def record_accepted(job: Job, *, started_ns: int) -> None:
    """The accept span (from `started_ns`, a `time.time_ns()`, to now) and the accepted count."""
    with job_span("job.accept", job.id, job_attributes(job), start_time=started_ns):
        pass
    JOBS_ACCEPTED.add(1, {"channel": job.channel.value, "kind": job.kind.value})


def record_delivery(result: Mapping[str, object]) -> None:
    """A LINE delivery's span attributes and count, by how it went (reply, push, skipped, failed)."""
    mode = str(result.get("via") or result.get("status"))
    trace.get_current_span().set_attribute("delivery", mode)
    LINE_DELIVERIES.add(1, {"mode": mode})


def record_slots(*, provider: str, times: Sequence[float] | None, waited: bool) -> None:
    """A pacing answer: the wait until each granted slot (epoch seconds), or one more "not yet"."""
    if times is None:
        PACING_NOT_YET.add(1, {"provider": provider})
        return
    now = time.time()
    for moment in times:
        PACING_WAIT.record(max(moment - now, 0.0), {"provider": provider, "waited_in_line": waited})


def record_queue_depth(queue: str, depth: tuple[int, int] | None) -> None:
    if depth is not None:
        QUEUE_DEPTH.set(depth[0], {"queue": queue})
        DEAD_LETTER_DEPTH.set(depth[1], {"queue": queue})


def record_finished(job: Job) -> None:
    """Count a job's terminal status (with its error code) and how long it took from accept."""
    labels = {
        "status": job.status.value,
        "error_code": job.error.code if job.error else "",
        "channel": job.channel.value,
        "kind": job.kind.value,
    }
    JOBS_FINISHED.add(1, labels)
    seconds = max((job.updated_at - job.created_at).total_seconds(), 0.0)
    JOB_DURATION.record(seconds, {"kind": job.kind.value, "status": job.status.value})
    with job_span("job.finished", job.id, {**job_attributes(job), **labels, "duration_s": seconds}):
        pass


@contextmanager
def provider_call(job_id: str, *, provider: str, model: str, size: str) -> Iterator[Span]:
    """A span and the call metrics around one provider request; the caller sets `outcome`."""
    started = time.monotonic()
    attributes = {"provider": provider, "model": model, "size": size}
    with job_span("provider.call", job_id, attributes) as span:
        outcome = "error"
        try:
            yield span
            outcome = "ok"
        except BaseException as exc:
            outcome = str(getattr(exc, "code", type(exc).__name__))
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                span.set_attribute("retry_after_s", float(retry_after))
            raise
        finally:
            elapsed = time.monotonic() - started
            span.set_attribute("outcome", outcome)
            span.set_attribute("duration_s", elapsed)
            PROVIDER_CALLS.add(1, {"provider": provider, "model": model, "outcome": outcome})
            PROVIDER_DURATION.record(elapsed, {"provider": provider, "outcome": outcome})
