"""Per-user quotas at accept: the decisions, kept apart from storage (no I/O, the clock passed in).

A user's quota state is one small record: the jobs it has in flight (queued or running), each with
the moment it was reserved, and the images accepted on the current UTC day. A reservation either
returns the new state to write (under the record's ETag) or a refusal naming the quota.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from jobs.domain.errors import QuotaExceededError

QUOTA_JOBS_IN_FLIGHT = "QUOTA_JOBS_IN_FLIGHT"
QUOTA_IMAGES_PER_DAY = "QUOTA_IMAGES_PER_DAY"
# A slot frees when one of the user's jobs ends, which a client cannot know: this is a polite pause.
IN_FLIGHT_RETRY_AFTER_SECONDS = 15
# A reservation whose job row is missing is only taken back once it is older than any accept takes:
# before that, the row may simply not be written yet.
ORPHAN_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class QuotaLimits:
    """The limits from settings; None means unlimited."""

    jobs_in_flight: int | None = None
    images_per_day: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.jobs_in_flight is None and self.images_per_day is None


@dataclass(frozen=True)
class QuotaState:
    """One user's record: in-flight job ids (with reservation time) and today's accepted images."""

    in_flight: Mapping[str, datetime] = field(default_factory=dict)
    day: str = ""
    day_images: int = 0


def utc_day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def seconds_to_next_day(now: datetime) -> int:
    """Whole seconds (at least 1) until the next 00:00 UTC."""
    moment = now.astimezone(UTC)
    midnight = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(days=1)
    return max(1, int((midnight - moment).total_seconds() + 0.999))


def _today(state: QuotaState, now: datetime) -> QuotaState:
    day = utc_day(now)
    return state if state.day == day else replace(state, day=day, day_images=0)


def reserve(
    state: QuotaState, *, job_id: str, images: int, now: datetime, limits: QuotaLimits
) -> QuotaState:
    """The state with `job_id` reserved, or QuotaExceededError. Reserving a job id twice changes nothing."""
    current = _today(state, now)
    if job_id in current.in_flight:
        return current
    in_flight_limit = limits.jobs_in_flight
    if in_flight_limit is not None and len(current.in_flight) >= in_flight_limit:
        raise QuotaExceededError(QUOTA_JOBS_IN_FLIGHT, in_flight_limit, IN_FLIGHT_RETRY_AFTER_SECONDS)
    day_limit = limits.images_per_day
    if day_limit is not None and current.day_images + images > day_limit:
        raise QuotaExceededError(QUOTA_IMAGES_PER_DAY, day_limit, seconds_to_next_day(now))
    return QuotaState(
        in_flight={**current.in_flight, job_id: now},
        day=current.day,
        day_images=current.day_images + images,
    )


def release(state: QuotaState, job_id: str) -> QuotaState | None:
    """The state without `job_id` in flight; None when it was not there (nothing to write)."""
    if job_id not in state.in_flight:
        return None
    return replace(state, in_flight={k: v for k, v in state.in_flight.items() if k != job_id})


def give_back(state: QuotaState, *, job_id: str, images: int, day: str) -> QuotaState | None:
    """Undo a reservation whose job was never accepted: its slot and, on the same day, its images."""
    if job_id not in state.in_flight:
        return None
    released = release(state, job_id)
    assert released is not None
    if state.day != day:
        return released
    return replace(released, day_images=max(0, released.day_images - images))


def drop(state: QuotaState, job_ids: Iterable[str]) -> QuotaState:
    """The state without `job_ids` in flight (jobs found finished or never written)."""
    gone = set(job_ids)
    return replace(state, in_flight={k: v for k, v in state.in_flight.items() if k not in gone})


def is_orphan(state: QuotaState, job_id: str, *, now: datetime) -> bool:
    """Whether a reservation whose job row is missing is old enough to be a failed accept."""
    reserved = state.in_flight.get(job_id)
    return reserved is not None and now - reserved >= ORPHAN_AFTER
