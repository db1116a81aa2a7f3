"""QuotaStore: per-user quota records in Table Storage, changed only by ETag compare-and-swap.

One entity per user (PK = the user's quota partition, RK = "quota") holds the ids of the user's
jobs in flight and the images accepted on the current UTC day, so a reservation is one point read
and one conditional write, and twenty concurrent submits at a limit of five accept exactly five.
With both quotas unset nothing here touches storage.

The decisions come first and are kept apart from storage (no I/O, the clock passed in): a reservation
either returns the new state to write (under the record's ETag) or a refusal naming the quota.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.data.tables.aio import TableServiceClient

from jobs.domain.errors import QuotaExceededError
from jobs.domain.models import Job, JobKind, utcnow
from jobs.names import QUOTAS_TABLE
from jobs.tables.cas import compare_and_swap
from jobs.tables.entities import ensure_tables, user_partition

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


logger = logging.getLogger(__name__)

QUOTA_ROW_KEY = "quota"
# Jobs without a user (API calls without `user`, LINE group messages without a sender) share one record.
ANONYMOUS_PARTITION = "anonymous"
Clock = Callable[[], datetime]
FindJob = Callable[[str], Awaitable[Job | None]]


def quota_partition(user: str | None) -> str:
    return ANONYMOUS_PARTITION if user is None else user_partition(user)


def images_of(job: Job) -> int:
    """What a job counts against the daily images quota (text answers count nothing)."""
    return job.n if job.kind is JobKind.IMAGE else 0


def state_from_entity(entity: Mapping[str, Any] | None) -> QuotaState:
    if entity is None:
        return QuotaState()
    reserved = json.loads(entity.get("InFlight") or "{}")
    return QuotaState(
        in_flight={job_id: datetime.fromtimestamp(float(at), UTC) for job_id, at in reserved.items()},
        day=str(entity.get("Day", "")),
        day_images=int(entity.get("DayImages", 0)),
    )


def state_to_entity(state: QuotaState) -> dict[str, Any]:
    reserved = {job_id: round(at.timestamp(), 3) for job_id, at in state.in_flight.items()}
    return {
        "InFlight": json.dumps(reserved, separators=(",", ":")),
        "Day": state.day,
        "DayImages": state.day_images,
    }


class Reservation:
    """A job's accepted reservation; `give_back` undoes it when the job could not be stored."""

    def __init__(self, store: QuotaStore, job: Job, day: str) -> None:
        self._store = store
        self._job = job
        self._day = day

    async def give_back(self) -> None:
        await self._store.give_back(self._job, day=self._day)


class QuotaStore:
    """Reserve at accept, release when a job ends, give back when an accept fails."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        limits: QuotaLimits,
        table: str = QUOTAS_TABLE,
        clock: Clock = utcnow,
    ) -> None:
        self._service = service
        self._name = table
        self._known: set[str] = set()  # tables this store created or found
        self._table = service.get_table_client(table)
        self.limits = limits
        self._clock = clock

    async def reserve(self, job: Job, *, find_job: FindJob) -> Reservation | None:
        """Reserve the job's slot and images, or raise QuotaExceededError; None (no I/O) when unlimited.

        A refusal for jobs in flight first checks the recorded jobs, so a slot whose release was lost
        (a crash between a job's end and its release) is taken back rather than held for ever.
        """
        if self.limits.unlimited:
            return None
        await ensure_tables(self._service, [self._name], known=self._known)
        now = self._clock()
        try:
            await self._reserve(job, now)
        except QuotaExceededError as refusal:
            if refusal.quota != QUOTA_JOBS_IN_FLIGHT or not await self._reclaim(job.user, find_job, now):
                raise
            await self._reserve(job, now)
        logger.info("job %s: quota reserved for %s", job.id, quota_partition(job.user))
        return Reservation(self, job, utc_day(now))

    async def _reserve(self, job: Job, now: datetime) -> None:
        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any], None]:
            state = reserve(state_from_entity(entity), job_id=job.id, images=images_of(job), now=now,
                            limits=self.limits)
            return state_to_entity(state), None

        await compare_and_swap(self._table, self._key(job.user), change)

    async def _reclaim(self, user: str | None, find_job: FindJob, now: datetime) -> bool:
        """Drop reservations of jobs that ended (or were never written); True if any were dropped."""
        state = await self.read(user)
        ids = sorted(state.in_flight)
        jobs = await asyncio.gather(*(find_job(job_id) for job_id in ids))
        stale = [
            job_id for job_id, found in zip(ids, jobs, strict=True)
            if (found is None and is_orphan(state, job_id, now=now))
            or (found is not None and found.status.is_terminal)
        ]
        if not stale:
            return False
        logger.warning("quota %s: reclaiming %d slot(s) of ended jobs", quota_partition(user), len(stale))

        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any], None]:
            return state_to_entity(drop(state_from_entity(entity), stale)), None

        await compare_and_swap(self._table, self._key(user), change)
        return True

    async def release(self, job: Job) -> None:
        """Give back a finished job's in-flight slot (its daily images stay counted); idempotent."""
        if self.limits.jobs_in_flight is None:
            return
        await ensure_tables(self._service, [self._name], known=self._known)

        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
            state = release(state_from_entity(entity), job.id)
            return (None if state is None else state_to_entity(state)), None

        await compare_and_swap(self._table, self._key(job.user), change)

    async def give_back(self, job: Job, *, day: str) -> None:
        """Undo the reservation of a job that was never accepted: its slot and its images."""
        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
            state = give_back(state_from_entity(entity), job_id=job.id, images=images_of(job), day=day)
            return (None if state is None else state_to_entity(state)), None

        await compare_and_swap(self._table, self._key(job.user), change)
        logger.info("job %s: quota reservation given back", job.id)

    async def read(self, user: str | None) -> QuotaState:
        """The user's record as stored (for reclaiming, and for tests)."""
        await ensure_tables(self._service, [self._name], known=self._known)
        return await compare_and_swap(
            self._table, self._key(user), lambda entity: (None, state_from_entity(entity))
        )

    @staticmethod
    def _key(user: str | None) -> tuple[str, str]:
        return quota_partition(user), QUOTA_ROW_KEY
