"""QuotaStore on real Azurite: exact counts under concurrency, releases through the job store,
the UTC day boundary with an injected clock, reclaiming lost slots, and no I/O when unlimited."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient

from jobs.domain.errors import QuotaExceededError
from jobs.domain.models import Job, JobKind, JobStatus
from jobs.tables.quotas import QUOTA_IMAGES_PER_DAY, QUOTA_JOBS_IN_FLIGHT, QuotaLimits, QuotaStore
from jobs.tables.store import JobStore
from testing.factories import make_job

MakeQuotas = Callable[..., QuotaStore]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def make_quotas(table_service: TableServiceClient, unique_name: str) -> AsyncIterator[MakeQuotas]:
    table = f"{unique_name}quotas"

    def make(clock: Callable[[], datetime] | None = None, **limits: int) -> QuotaStore:
        extra = {"clock": clock} if clock is not None else {}
        return QuotaStore(table_service, limits=QuotaLimits(**limits), table=table, **extra)

    yield make
    with contextlib.suppress(ResourceNotFoundError):
        await table_service.delete_table(table)


async def _no_job(job_id: str) -> Job | None:
    return None


async def _outcome(quotas: QuotaStore, job: Job, find: Callable[[str], object] = _no_job) -> str:
    try:
        await quotas.reserve(job, find_job=find)  # type: ignore[arg-type]
    except QuotaExceededError as refusal:
        return refusal.quota
    return "accepted"


async def test_twenty_concurrent_reservations_at_a_limit_of_five_accept_exactly_five(
    make_quotas: MakeQuotas,
) -> None:
    quotas = make_quotas(jobs_in_flight=5)
    jobs = [make_job(user="burst") for _ in range(20)]
    outcomes = await asyncio.gather(*(_outcome(quotas, job) for job in jobs))
    assert outcomes.count("accepted") == 5
    assert outcomes.count(QUOTA_JOBS_IN_FLIGHT) == 15
    state = await quotas.read("burst")
    accepted = {job.id for job, outcome in zip(jobs, outcomes, strict=True) if outcome == "accepted"}
    assert set(state.in_flight) == accepted


async def test_concurrent_daily_reservations_never_pass_the_images_limit(make_quotas: MakeQuotas) -> None:
    quotas = make_quotas(images_per_day=10)
    outcomes = await asyncio.gather(*(_outcome(quotas, make_job(user="u", n=3)) for _ in range(8)))
    assert outcomes.count("accepted") == 3
    assert (await quotas.read("u")).day_images == 9


async def test_users_do_not_share_quotas_and_anonymous_jobs_share_one(make_quotas: MakeQuotas) -> None:
    quotas = make_quotas(jobs_in_flight=1)
    assert await _outcome(quotas, make_job(user="alice")) == "accepted"
    assert await _outcome(quotas, make_job(user="bob")) == "accepted"
    assert await _outcome(quotas, make_job(user=None)) == "accepted"
    assert await _outcome(quotas, make_job(user=None)) == QUOTA_JOBS_IN_FLIGHT


async def test_a_job_store_ending_a_job_gives_its_slot_back(
    make_quotas: MakeQuotas, table_service: TableServiceClient, unique_name: str
) -> None:
    quotas = make_quotas(jobs_in_flight=1, images_per_day=100)
    store = JobStore(table_service, jobs_table=f"{unique_name}qjobs", index_table=f"{unique_name}qidx",
                     idempotency_table=f"{unique_name}qidem", on_finished=quotas.release)
    try:
        for ending in (JobStatus.FAILED, JobStatus.CANCELED):
            job = make_job(user="carol", n=2)
            await quotas.reserve(job, find_job=store.find)
            await store.create(job)
            assert await _outcome(quotas, make_job(user="carol"), store.find) == QUOTA_JOBS_IN_FLIGHT
            await store.finish(job.id, status=ending)
            assert not (await quotas.read("carol")).in_flight
        # A canceled job's images still count; deleting it does not give them back either.
        await store.delete(job.id)
        assert (await quotas.read("carol")).day_images == 4
    finally:
        for suffix in ("qjobs", "qidx", "qidem"):
            await table_service.delete_table(f"{unique_name}{suffix}")


async def test_the_daily_count_starts_again_after_midnight_utc(make_quotas: MakeQuotas) -> None:
    clock = Clock(datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC))
    quotas = make_quotas(clock, images_per_day=4)
    assert await _outcome(quotas, make_job(user="d", n=4)) == "accepted"
    try:
        await quotas.reserve(make_job(user="d", n=1), find_job=_no_job)
    except QuotaExceededError as refusal:
        assert (refusal.quota, refusal.retry_after) == (QUOTA_IMAGES_PER_DAY, 2)
    else:
        pytest.fail("a fifth image on the same day was accepted")
    clock.now += timedelta(seconds=2)
    assert await _outcome(quotas, make_job(user="d", n=4)) == "accepted"
    state = await quotas.read("d")
    assert (state.day, state.day_images) == ("2026-03-02", 4)


async def test_give_back_undoes_a_reservation_whose_job_was_never_stored(make_quotas: MakeQuotas) -> None:
    quotas = make_quotas(jobs_in_flight=1, images_per_day=4)
    job = make_job(user="e", n=4)
    reservation = await quotas.reserve(job, find_job=_no_job)
    assert reservation is not None
    await reservation.give_back()
    state = await quotas.read("e")
    assert (dict(state.in_flight), state.day_images) == ({}, 0)


async def test_a_refusal_reclaims_slots_of_ended_and_long_missing_jobs(make_quotas: MakeQuotas) -> None:
    clock = Clock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    quotas = make_quotas(clock, jobs_in_flight=2)
    ended = make_job(user="f", kind=JobKind.TEXT)
    lost = make_job(user="f")
    for job in (ended, lost):
        await quotas.reserve(job, find_job=_no_job)
    rows = {ended.id: ended.with_status(JobStatus.RUNNING).with_status(JobStatus.SUCCEEDED)}

    async def find(job_id: str) -> Job | None:
        return rows.get(job_id)

    # The finished job's slot comes back at once; the missing row may still be an accept in progress.
    running = make_job(user="f")
    assert await _outcome(quotas, running, find) == "accepted"
    rows[running.id] = running.with_status(JobStatus.RUNNING)
    assert await _outcome(quotas, make_job(user="f"), find) == QUOTA_JOBS_IN_FLIGHT
    clock.now += timedelta(minutes=2)
    late = make_job(user="f")
    assert await _outcome(quotas, late, find) == "accepted"
    assert set((await quotas.read("f")).in_flight) == {running.id, late.id}


async def test_unset_quotas_touch_no_storage(make_quotas: MakeQuotas, table_service: TableServiceClient,
                                             unique_name: str) -> None:
    quotas = make_quotas()
    assert await quotas.reserve(make_job(user="g"), find_job=_no_job) is None
    await quotas.release(make_job(user="g"))
    names = [table.name async for table in table_service.list_tables()]
    assert f"{unique_name}quotas" not in names
