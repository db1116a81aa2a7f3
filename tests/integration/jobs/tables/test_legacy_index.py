"""Index entries written before the index was bucketed (one `all` partition, no open entries) are
moved by maintenance into the current partitions, so an upgraded deployment lists, repairs and
purges its older jobs like new ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.data.tables.aio import TableServiceClient

from jobs.domain.models import Job, JobStatus
from jobs.tables.entities import index_entity
from jobs.tables.index import LEGACY_ALL_PARTITION
from jobs.tables.store import JobStore
from testing.factories import make_job

LONG_AGO = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def _as_written_by_the_older_version(service: TableServiceClient, store: JobStore, job: Job) -> None:
    """Leave only the entries the older version wrote: one in `all`, one in the user's partition."""
    table = service.get_table_client(store._index_table.table_name)
    async for entity in table.query_entities("JobId eq @id", parameters={"id": job.id}):
        await table.delete_entity(entity["PartitionKey"], entity["RowKey"])
    await table.create_entity(index_entity(job, LEGACY_ALL_PARTITION))
    if job.user is not None:
        await table.create_entity(index_entity(job, f"user:{job.user}"))


async def test_maintenance_moves_pre_bucket_entries_so_old_jobs_are_listed_repaired_and_purged(
    job_store: JobStore, table_service: TableServiceClient
) -> None:
    queued = await job_store.create(make_job(created_at=LONG_AGO, updated_at=LONG_AGO, user="old"))
    done = await job_store.create(make_job(created_at=LONG_AGO + timedelta(seconds=1), user="old"))
    await job_store.mark_running(done.id)
    done = await job_store.finish(done.id, status=JobStatus.SUCCEEDED)
    gone = await job_store.create(make_job(created_at=LONG_AGO + timedelta(seconds=2)))
    for job in (queued, done, gone):
        await _as_written_by_the_older_version(table_service, job_store, job)
    await job_store._rows.delete_entity(gone.id, "job")  # a row deleted with its legacy entry left over
    assert (await job_store.list_jobs(user=None, status=None, limit=10, cursor=None))[0] == []
    assert await job_store.list_unfinished(LONG_AGO + timedelta(days=1)) == []

    assert await job_store.reindex_legacy(limit=2) == 2, "a run moves at most its limit"
    assert await job_store.reindex_legacy(limit=2) == 1
    assert await job_store.reindex_legacy(limit=2) == 0, "nothing is left in the old partition"

    listed, _ = await job_store.list_jobs(user=None, status=None, limit=10, cursor=None)
    assert [job.id for job in listed] == [done.id, queued.id]
    mine, _ = await job_store.list_jobs(user="old", status=JobStatus.SUCCEEDED, limit=10, cursor=None)
    assert [job.id for job in mine] == [done.id]
    stuck = await job_store.list_unfinished(LONG_AGO + timedelta(days=1))
    assert [job.id for job in stuck] == [queued.id]
    expired = await job_store.list_expired(LONG_AGO + timedelta(days=1))
    assert sorted(job.id for job in expired) == sorted([queued.id, done.id])
