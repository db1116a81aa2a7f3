"""What maintenance and listing read from the job index, counted on real Azurite.

Table storage evaluates a non-key filter while it scans, so a query's cost is every entity in its key
range, not what it returns. The counter below records each query's filter and the entities it yields;
maintenance must use key ranges only (then what is yielded is what the service read) and yield only
stuck or expiring jobs, however many finished jobs are retained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobs.domain.models import JobError, JobStatus
from jobs.tables.entities import INDEX_BUCKETS, index_bucket, inverted_ticks
from jobs.tables.store import JobStore
from testing.factories import make_job

BASE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RETAINED_FINISHED = 120


class QueryCounter:
    """Wraps a TableClient's query_entities: the filter of each query and the entities it yielded."""

    def __init__(self, query: Callable[..., Any]) -> None:
        self._query = query
        self.filters: list[str] = []
        self.read = 0

    def __call__(self, query_filter: str, **kwargs: Any) -> AsyncIterator[Any]:
        self.filters.append(query_filter)
        return self._count(self._query(query_filter, **kwargs))

    async def _count(self, entities: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for entity in entities:
            self.read += 1
            yield entity


@pytest.fixture
def counter(job_store: JobStore, monkeypatch: pytest.MonkeyPatch) -> QueryCounter:
    table = job_store._index_table  # the store's own client, talking to Azurite
    wrapped = QueryCounter(table.query_entities)
    monkeypatch.setattr(table, "query_entities", wrapped)
    return wrapped


async def _finished_jobs(job_store: JobStore, count: int) -> None:
    for offset in range(count):
        job = await job_store.create(make_job(created_at=BASE + timedelta(seconds=offset), user="u"))
        await job_store.mark_running(job.id)
        await job_store.finish(job.id, status=JobStatus.SUCCEEDED)


def _key_ranges_only(filters: list[str]) -> bool:
    """Whether every filter names only the keys (so the service reads no entity it does not return)."""
    key_words = {"PartitionKey", "RowKey", "eq", "gt", "and", "@pk", "@after"}
    return all(set(query.split()) <= key_words for query in filters)


async def test_the_unfinished_search_reads_only_open_jobs(job_store: JobStore, counter: QueryCounter) -> None:
    await _finished_jobs(job_store, RETAINED_FINISHED)
    stuck = [await job_store.create(make_job(created_at=BASE + timedelta(minutes=5, seconds=i)))
             for i in range(3)]
    running = await job_store.mark_running(stuck[2].id)
    counter.filters.clear()

    found = await job_store.list_unfinished(datetime.now(UTC) - timedelta(minutes=1))

    # The running one was just updated, so it is read but not yet stuck.
    assert sorted(job.id for job in found) == sorted(job.id for job in stuck[:2])
    assert running.status is JobStatus.RUNNING
    assert counter.read == len(stuck)  # not RETAINED_FINISHED + 3
    assert len(counter.filters) == INDEX_BUCKETS
    assert _key_ranges_only(counter.filters), counter.filters


async def test_the_expiry_search_reads_only_jobs_past_retention(
    job_store: JobStore, counter: QueryCounter
) -> None:
    await _finished_jobs(job_store, 40)
    recent = [await job_store.create(make_job()) for _ in range(30)]
    for job in recent[:20]:
        await job_store.finish(job.id, status=JobStatus.FAILED, error=JobError("internal", "x"))
    counter.filters.clear()

    expired = await job_store.list_expired(BASE + timedelta(days=1), limit=1000)

    assert len(expired) == 40
    assert counter.read == 40  # none of the 30 recent jobs
    assert _key_ranges_only(counter.filters), counter.filters


async def test_a_finished_job_leaves_the_open_index_and_a_stale_entry_heals(
    job_store: JobStore, counter: QueryCounter
) -> None:
    done = await job_store.create(make_job(created_at=BASE))
    await job_store.finish(done.id, status=JobStatus.CANCELED)
    lingering = await job_store.create(make_job(created_at=BASE))
    await job_store.mark_running(lingering.id)
    await job_store.finish(lingering.id, status=JobStatus.SUCCEEDED)
    # As if removing its open entry had failed: put one back.
    row_key = f"{inverted_ticks(BASE)}_{lingering.id}"
    await job_store._index_table.create_entity(
        {"PartitionKey": f"open:{index_bucket(lingering.id)}", "RowKey": row_key}
    )
    cutoff = datetime.now(UTC)

    assert await job_store.list_unfinished(cutoff) == []
    first = counter.read
    assert await job_store.list_unfinished(cutoff) == []
    assert (first, counter.read - first) == (1, 0)  # read once, then gone


async def test_jobs_spread_over_the_buckets_and_pages_merge_newest_first(job_store: JobStore) -> None:
    jobs = [await job_store.create(make_job(created_at=BASE + timedelta(seconds=i))) for i in range(40)]
    buckets = Counter(index_bucket(job.id) for job in jobs)
    assert len(buckets) > 1 and max(buckets.values()) < len(jobs)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await job_store.list_jobs(user=None, status=None, limit=7, cursor=cursor)
        seen += [job.id for job in page]
        if cursor is None:
            break
    assert seen == [job.id for job in reversed(jobs)]
