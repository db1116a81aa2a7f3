"""What one maintenance run reads with J retained finished jobs: the open index against a status filter.

Fills the job index on a fresh Azurite with J finished jobs spread over the retention period (index
entries written in batches, as the store lays them out), adds a few stuck jobs through the store, then
times and counts:

- `list_unfinished` (the open index, key ranges only) and `list_expired` (the `all` buckets past the
  retention cutoff), counting the entities they read;
- the layout before: one `all` partition queried for entries older than the cutoff with a status
  filter, which the service answers by scanning every entry older than the cutoff.

Figures are printed, never asserted.

    .venv/bin/python bench/index_cost.py [--jobs 20000] [--stuck 5]

Azurite answers a filtered query from memory, so its times do not show what a scan costs on Table
storage (which reads, and throttles on, every entity in the key range); the entity counts do.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import add_azurite_option, fresh_azurite
from azure.core.exceptions import ServiceRequestError
from azure.data.tables.aio import TableClient, TableServiceClient

from jobs.domain.models import JobStatus
from jobs.tables.entities import ALL_PREFIX, index_bucket, index_row_key
from jobs.tables.store import JobStore
from testing.factories import make_job

RETENTION = timedelta(days=30)
STUCK_AFTER = timedelta(minutes=15)
LEGACY = "legacy-all"
BATCH = 50


class Counted:
    """Wraps query_entities, counting the entities the queries yield."""

    def __init__(self, query: Callable[..., Any]) -> None:
        self._query = query
        self.read = 0

    def __call__(self, query_filter: str, **kwargs: Any) -> AsyncIterator[Any]:
        return self._count(self._query(query_filter, **kwargs))

    async def _count(self, entities: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for entity in entities:
            self.read += 1
            yield entity


async def _fill(index: TableClient, jobs: int, now: datetime) -> None:
    """J finished jobs' entries in their `all` bucket and, for the old layout, in one partition."""
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for number in range(jobs):
        created = now - RETENTION * (number / jobs) - STUCK_AFTER
        job = make_job(created_at=created, status=JobStatus.SUCCEEDED)
        for partition in (ALL_PREFIX + index_bucket(job.id), LEGACY):
            entity = {"PartitionKey": partition, "RowKey": index_row_key(job), "Status": "succeeded"}
            by_partition.setdefault(partition, []).append(entity)
    batches = [
        entities[start:start + BATCH]
        for entities in by_partition.values()
        for start in range(0, len(entities), BATCH)
    ]
    gate = asyncio.Semaphore(2)

    async def send(batch: list[dict[str, Any]]) -> None:
        async with gate:
            for attempt in range(5):
                try:
                    await index.submit_transaction([("upsert", entity) for entity in batch])
                    return
                except ServiceRequestError:
                    # Azurite closes idle keep-alive connections; an upsert batch is safe to send again.
                    if attempt == 4:
                        raise

    await asyncio.gather(*(send(batch) for batch in batches))


async def _old_layout_query(index: TableClient, cutoff: datetime) -> tuple[int, float]:
    probe = make_job(created_at=cutoff)
    query = "PartitionKey eq @pk and RowKey gt @after and ( Status eq @q or Status eq @r )"
    parameters = {"pk": LEGACY, "after": index_row_key(probe), "q": "queued", "r": "running"}
    started = time.perf_counter()
    found = [entity async for entity in index.query_entities(query, parameters=parameters)]
    return len(found), time.perf_counter() - started


async def _timed(counter: Counted, call: Callable[[], Any]) -> tuple[int, int, float]:
    before = counter.read
    started = time.perf_counter()
    result = await call()
    return len(result), counter.read - before, time.perf_counter() - started


async def run(connection_string: str, *, jobs: int, stuck: int) -> None:
    now = datetime.now(UTC)
    async with TableServiceClient.from_connection_string(connection_string) as service:
        store = JobStore(
            service, jobs_table="benchjobs", index_table="benchidx", idempotency_table="benchidem"
        )
        for _ in range(stuck):
            await store.create(make_job(created_at=now - timedelta(hours=1)))
        index = store._index_table  # the store's own client: the counter sees the store's queries
        started = time.perf_counter()
        await _fill(index, jobs, now)
        print(f"filled {jobs} retained finished jobs (x2 layouts) in {time.perf_counter() - started:.1f} s")
        counter = Counted(index.query_entities)
        index.query_entities = counter  # type: ignore[method-assign,assignment]

        found, read, seconds = await _timed(counter, lambda: store.list_unfinished(now - STUCK_AFTER))
        print(f"list_unfinished (open index): {found} stuck jobs, {read} entities read, "
              f"{seconds * 1000:.0f} ms")
        old_found, old_seconds = await _old_layout_query(index, now - STUCK_AFTER)
        print(f"old layout (status filter on one partition): {old_found} entries returned after scanning "
              f"about {jobs + stuck} entities, {old_seconds * 1000:.0f} ms")
        found, read, seconds = await _timed(counter, lambda: store.list_expired(now - RETENTION, limit=500))
        print(f"list_expired (all buckets past retention; these entries have no rows, so they are dropped): "
              f"{found} jobs, {read} entities read, "
              f"{seconds * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000, help="retained finished jobs")
    parser.add_argument("--stuck", type=int, default=5, help="jobs left queued past the deadline")
    add_azurite_option(parser)
    args = parser.parse_args()
    with fresh_azurite(args.azurite) as connection_string:
        asyncio.run(run(connection_string, jobs=args.jobs, stuck=args.stuck))


if __name__ == "__main__":
    main()
