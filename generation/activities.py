"""The pipeline's activities: the only place the orchestration touches storage and the provider.

Two groups: the job's own (mark it running, generate one output, finalize) and the shared provider
limiter's (ask for slots, leave the line, report how the provider answered). The orchestrator waits
between asks with durable timers (`generation/fanout.py`); the limiter's activities only read and
write its record and the job's `waiting` note, so none of them sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from generation.conversation_turns import answer_in_conversation
from generation.providers import RateReading, observing, pressure, ready_provider
from generation.providers.base import ProviderError, RateLimitedError, flag_of
from jobs import telemetry
from jobs.contracts import (
    DEADLINE_EXCEEDED,
    FinalizeResult,
    LeaveRequest,
    Outcome,
    OutputResult,
    SlotAnswer,
    SlotRequest,
    StartResult,
    WaitingNote,
    error_payload,
)
from jobs.domain.errors import InvalidTransitionError, JobNotFoundError
from jobs.domain.limiter_rules import TOKENS_PER_TEXT_CALL, Granted, LimiterConfig
from jobs.domain.models import CANCELED, Job, JobError, JobKind, JobStatus, Output
from jobs.domain.review import ReviewMode
from jobs.http import iso_utc
from jobs.services import Services
from jobs.tables.store import Conclusion

logger = logging.getLogger(__name__)

# When every output failed, the job's error is the most telling of theirs.
ERROR_PRECEDENCE = ("content_rejected", "configuration", "rate_limited", "provider_unavailable", "timeout")


# --- The job's activities: mark it running, generate an output, finalize ---

async def mark_job_running(services: Services, job_id: str) -> StartResult:
    """Move the job to running; tell the orchestrator whether to go on and what it needs to know."""
    try:
        gated = ReviewMode(services.settings.review_mode) is not ReviewMode.OFF
        job = await services.jobs.mark_running(job_id, gated=gated)
    except JobNotFoundError:
        # Deleted while its message was on the way: the tombstone lets maintenance purge this history.
        await services.deletions.record(job_id)
        logger.warning("job %s: row not found (deleted); orchestration ends", job_id)
        return {"proceed": False, "status": "missing"}
    except InvalidTransitionError as exc:
        logger.info("job %s: already %s; orchestration ends", job_id, exc.current.value)
        if exc.current is JobStatus.CANCELED:
            return await _canceled_while_queued(services, job_id)
        return {"proceed": False, "status": exc.current.value}
    if job.cancel_requested:
        # Asked to stop while no orchestration could hear the event (e.g. one started again).
        return await _cancel_before_start(services, job_id)
    deadline_seconds = services.settings.generation_deadline_seconds
    return {
        "proceed": True,
        "status": job.status.value,
        "total": job.total,
        "channel": job.channel.value,
        "deadline_seconds": deadline_seconds,
        # The job's deadline counts from its acceptance, so time spent queued (or re-driven) counts.
        "deadline_at": (job.created_at + timedelta(seconds=deadline_seconds)).isoformat(),
        "kind": job.kind.value,
        "user": job.user,
        **_callback_flag(job),
        **({"review": True} if job.gated else {}),  # type: ignore[typeddict-item]
    }


def _callback_flag(job: Job) -> StartResult:
    """`callback: True` for a job with a completion callback (absent otherwise)."""
    return {"callback": True} if job.callback is not None else {}  # type: ignore[typeddict-item]


async def _cancel_before_start(services: Services, job_id: str) -> StartResult:
    try:
        job = await services.jobs.finish(job_id, status=JobStatus.CANCELED, error=CANCELED)
    except InvalidTransitionError as exc:
        return {"proceed": False, "status": exc.current.value}
    logger.info("job %s: cancel requested before the work started; canceled", job_id)
    return {"proceed": False, "status": job.status.value, "notify": True, "channel": job.channel.value,
            **_callback_flag(job)}


async def _canceled_while_queued(services: Services, job_id: str) -> StartResult:
    """Canceled before its orchestration ran: the chat it came from still hears about it, once
    (the orchestration for a job id runs once)."""
    job = await services.jobs.find(job_id)
    if job is None:
        return {"proceed": False, "status": "missing"}
    return {"proceed": False, "status": job.status.value, "notify": True, "channel": job.channel.value,
            **_callback_flag(job)}


def _provider_failure(job_id: str, index: int, exc: ProviderError) -> OutputResult:
    logger.warning("job %s output %d: %s (%s, retryable=%s)", job_id, index, exc.code, exc, exc.retryable)
    return {
        "index": index,
        "status": "retry" if exc.retryable else "failed",
        "retry_after": exc.retry_after,
        "error": {"code": exc.code, "message": str(exc)},
    }


async def _produce(services: Services, job: Job, index: int,
                   not_before: str | None) -> tuple[Output, Job | None]:
    """The output, and the row as read meanwhile (None when it was deleted, or for text)."""
    provider = await ready_provider(services)
    model = telemetry.model_name(services.settings, job.kind)
    await until_slot(not_before)
    with telemetry.provider_call(job.id, provider=provider.name, model=model, size=job.size):
        if job.kind is JobKind.TEXT and job.conversation_id is not None:
            text = await answer_in_conversation(services, job, provider)
        elif job.kind is JobKind.TEXT:  # a text job accepted before conversations existed
            text = await provider.generate_text(prompt=job.prompt)
        else:
            png = await provider.generate_image(prompt=job.prompt, size=job.size, index=index)
    if job.kind is JobKind.TEXT:
        return Output(index=index, content_type="text/plain", text=text, flag=flag_of(text)), None
    with telemetry.job_span("blob.write", job.id, {"index": index, "bytes": len(png)}):
        # The row is read while the blobs upload: recording the output needs its latest ETag.
        return await asyncio.gather(
            services.outputs.save_image(job.id, index, png), services.jobs.find(job.id)
        )


async def generate_output(services: Services, job_id: str, index: int, *,
                          not_before: str | None = None) -> OutputResult:
    """Produce one output and record it on the row; provider failures come back as data, not raises.

    `not_before` is the call's provider slot, when paced. `canceled` means the row says stop
    (canceled, finished by someone else, or a cancel asked for); `job_finished` means the
    write that recorded this output also finished the job as succeeded.
    """
    job = await services.jobs.find(job_id)
    if job is None:
        # Deleted: an earlier attempt may have stored blobs; the tombstone has maintenance remove them.
        await services.deletions.record(job_id)
        return {"index": index, "status": "failed", "error": error_payload(CANCELED)}
    if any(output.index == index and output.error is None for output in job.outputs):
        # A redelivered activity whose first run finished: the output is already stored.
        return {"index": index, "status": "succeeded", "job_finished": job.status is JobStatus.SUCCEEDED}
    if job.status.is_terminal or job.cancel_requested:
        return {"index": index, "status": "canceled"}
    with observing() as readings:
        try:
            output, read = await _produce(services, job, index, not_before)
        except ProviderError as exc:
            await report_provider_answer(services, job.kind, exc)
            return _provider_failure(job_id, index, exc)
    await report_provider_answer(services, job.kind, None, readings[-1] if readings else None)
    try:
        recorded = await services.jobs.record_progress(job_id, [output], read=read)
    except JobNotFoundError:
        # Deleted while this output was being made: take back what was just written.
        await services.deletions.record(job_id)
        await services.outputs.delete_job(job_id)
        logger.info("job %s was deleted during generation; its blobs are removed", job_id)
        return {"index": index, "status": "failed", "error": error_payload(CANCELED)}
    finished = recorded.status is JobStatus.SUCCEEDED
    logger.info("job %s output %d stored%s", job_id, index, "; job succeeded" if finished else "")
    return {"index": index, "status": "succeeded", "job_finished": finished}


def deadline_error(last: JobError | None) -> JobError:
    """`deadline_exceeded`, saying what the last attempt ran into when there was one."""
    if last is None:
        return DEADLINE_EXCEEDED
    message = f"The job did not finish in time. The last attempt failed: {last.message} Please try again."
    return JobError(DEADLINE_EXCEEDED.code, message)


def _most_telling(errors: dict[int, JobError]) -> JobError:
    by_code = {error.code: error for error in errors.values()}
    for code in ERROR_PRECEDENCE:
        if code in by_code:
            return by_code[code]
    return errors[min(errors)]


def _final_outputs(job: Job, outcome: Outcome, failures: dict[int, JobError],
                   last_errors: dict[int, JobError]) -> list[Output]:
    done = {output.index: output for output in job.outputs if output.error is None}
    outputs: list[Output] = []
    for index in range(job.total):
        if index in done:
            outputs.append(done[index])
        elif index in failures:
            outputs.append(Output(index=index, error=failures[index]))
        elif outcome == "deadline_exceeded":
            outputs.append(Output(index=index, error=deadline_error(last_errors.get(index))))
    return outputs


def _job_error(outcome: Outcome, failures: dict[int, JobError], last_errors: dict[int, JobError]) -> JobError:
    if outcome == "deadline_exceeded" or not failures:
        return deadline_error(_most_telling(last_errors) if last_errors else None)
    return _most_telling(failures)


async def finalize_job(
    services: Services, job_id: str, outcome: Outcome, failures: dict[int, JobError],
    last_errors: dict[int, JobError] | None = None,
) -> FinalizeResult:
    """Write the terminal status; `notify` is False when someone else (a cancel, maintenance) won.

    A job already succeeded was finished by this pipeline (only its output writes and this activity
    ever write `succeeded`), so its channel is still told, once: the orchestrator calls this at most
    once per job, and a re-run after a crash means the first answer was never acted on.
    """

    def decide(job: Job) -> Conclusion:
        if outcome == "canceled":
            return JobStatus.CANCELED, job.outputs, CANCELED
        outputs = _final_outputs(job, outcome, failures, last_errors or {})
        if any(output.error is None for output in outputs):
            return JobStatus.SUCCEEDED, outputs, None
        return JobStatus.FAILED, outputs, _job_error(outcome, failures, last_errors or {})

    try:
        final = await services.jobs.conclude(job_id, decide)
    except JobNotFoundError:
        await services.deletions.record(job_id)
        logger.info("job %s was deleted before finalizing", job_id)
        return {"status": "missing", "notify": False}
    except InvalidTransitionError as exc:
        logger.info("job %s: already %s before finalizing", job_id, exc.current.value)
        return {"status": exc.current.value, "notify": exc.current is JobStatus.SUCCEEDED}
    logger.info(
        "job %s finished: %s (%d of %d outputs)", job_id, final.status.value, final.completed, final.total
    )
    return {"status": final.status.value, "notify": True}


# --- The shared provider limiter's activities ---

REASON = "provider_rate_limit"
# The longest a call waits for its slot inside the activity: the orchestrator dispatches it
# `generation.fanout.SLOT_LEAD` early, plus room for a late timer's clock; never a sleeping activity.
MAX_SLOT_WAIT_SECONDS = 1.0
# Jobs without a user share one turn in the fair queue.
ANONYMOUS = "anonymous"


def _config(services: Services, kind: str) -> LimiterConfig | None:
    return services.settings.limiters.get(JobKind(kind))


def _iso(epoch: float) -> str:
    return iso_utc(datetime.fromtimestamp(epoch, UTC))


async def until_slot(not_before: str | None) -> float:
    """Wait the few milliseconds left before the call's slot (seconds waited): calls then reach the
    provider one slot apart, not a varying 20-60 ms after their slots, which a provider enforcing a
    per-minute limit per second answers with 429 when one comes early relative to the one before."""
    if not not_before:
        return 0.0
    wait = min(datetime.fromisoformat(not_before).timestamp() - time.time(), MAX_SLOT_WAIT_SECONDS)
    if wait <= 0:
        return 0.0
    await asyncio.sleep(wait)
    return wait


async def acquire_provider_slots(services: Services, ask: SlotRequest) -> SlotAnswer:
    """Slots for `count` calls of job `job_id` (`entry` names this ask), or where it stands in line.

    `wake_at` tells the orchestrator when to ask again: shortly before its turn, when the slots can
    be granted firmly. The job's `waiting` note is written while it waits and cleared once granted.
    """
    job_id = ask["job_id"]
    config = _config(services, ask["kind"])
    if config is None:
        return {"granted": True, "times": []}
    answer = await services.limiter.acquire(
        config, entry_id=ask["entry"], user=ask["user"] or ANONYMOUS, cost=int(ask["count"])
    )
    telemetry.record_slots(
        provider=services.settings.provider,
        times=answer.times if isinstance(answer, Granted) else None,
        waited=ask["waited"],
    )
    if isinstance(answer, Granted):
        if ask["waited"]:
            await services.jobs.set_waiting(job_id, None)
        return {"granted": True, "times": [_iso(moment) for moment in answer.times]}
    note: WaitingNote = {
        "reason": REASON, "position": answer.position, "estimated_start_at": _iso(answer.estimate)
    }
    if datetime.fromisoformat(ask["deadline"]).timestamp() < answer.estimate:
        note["likely_past_deadline"] = True
    await services.jobs.set_waiting(job_id, dict(note))
    logger.info("job %s: waiting for provider capacity (position %d)", job_id, answer.position)
    return {"granted": False, "wake_at": _iso(answer.wake_at), "waiting": note}


async def leave_provider_queue(services: Services, request: LeaveRequest) -> int:
    """Give up waiting (canceled, out of time): the line moves up; the note is cleared."""
    config = _config(services, request["kind"])
    if config is not None:
        await services.limiter.leave(config, set(request["entries"]))
    await services.jobs.set_waiting(request["job_id"], None)
    return len(request["entries"])


def limit_hint(kind: JobKind, limits: dict[str, float]) -> float | None:
    """The rate the provider's x-ratelimit-limit-* headers allow for calls of `kind` (per minute)."""
    if kind is JobKind.IMAGE:
        wanted = [limits[name] for name in ("images", "requests") if name in limits]
    else:
        wanted = [limits["requests"]] if "requests" in limits else []
        if "tokens" in limits:
            wanted.append(limits["tokens"] / TOKENS_PER_TEXT_CALL)
    return min(wanted) if wanted else None


def call_costs(kind: JobKind) -> dict[str, float]:
    """How much of each provider budget one call of `kind` takes."""
    if kind is JobKind.IMAGE:
        return {"images": 1.0, "requests": 1.0}
    return {"requests": 1.0, "tokens": float(TOKENS_PER_TEXT_CALL)}


async def report_provider_answer(
    services: Services, kind: JobKind, failure: ProviderError | None, reading: RateReading | None = None
) -> None:
    """Tell the limiter how a call went: a 429 makes everyone wait; a success's headers (`reading`)
    name the provider's limit and show its budget draining, so a learning limiter slows down before
    the first 429, or else probes upwards. Best effort: the limiter only steers, the provider decides."""
    config = services.settings.limiters.get(kind)
    if config is None:
        return
    try:
        if isinstance(failure, RateLimitedError):
            hint = limit_hint(kind, failure.limits)
            await services.limiter.throttled(config, retry_after=failure.retry_after, limit_hint=hint)
        elif failure is None:
            seen = pressure(reading, call_costs(kind)) if reading else None
            await services.limiter.succeeded(
                config, limit_hint=limit_hint(kind, reading.limits) if reading else None,
                draining=bool(seen and seen.draining), pause=seen.pause if seen else None,
            )
    except Exception:
        logger.warning("the provider limiter could not be told about a call", exc_info=True)
