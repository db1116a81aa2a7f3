"""Activities of the shared provider limiter: ask for slots, leave the line, report answers.

The orchestrator waits between asks with durable timers (`generation/pacing.py`); these activities
only read and write the limiter's record and the job's `waiting` note, so none of them sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from generation.providers.base import ProviderError, RateLimitedError
from generation.providers.rate_readings import RateReading, pressure
from jobs import telemetry
from jobs.contracts import LeaveRequest, SlotAnswer, SlotRequest, WaitingNote
from jobs.domain.limiter_rules import TOKENS_PER_TEXT_CALL, Granted, LimiterConfig
from jobs.domain.models import JobKind
from jobs.http import iso_utc
from jobs.services import Services

logger = logging.getLogger(__name__)

REASON = "provider_rate_limit"
# The longest a call waits for its slot inside the activity: the orchestrator dispatches it
# `generation.pacing.SLOT_LEAD` early, plus room for a late timer's clock; never a sleeping activity.
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
