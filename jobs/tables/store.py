"""JobStore: job rows in Table Storage, one point read per status, ETag-guarded transitions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from jobs import telemetry
from jobs.domain.callbacks import Callback
from jobs.domain.errors import (
    IdempotencyConflictError,
    InvalidTransitionError,
    JobContentionError,
    JobExistsError,
    JobNotFoundError,
    JobUnreadableError,
)
from jobs.domain.models import (
    Job,
    JobError,
    JobStatus,
    Output,
    apply_cancel,
    apply_finish,
    apply_progress,
    start_running,
)
from jobs.names import IDEMPOTENCY_TABLE, JOB_INDEX_TABLE, JOBS_TABLE
from jobs.tables.entities import (
    JOB_ROW_KEY,
    IdempotencyRecords,
    ensure_tables,
    index_entity,
    index_partitions,
    is_valid_key,
    job_from_entity,
    job_to_entity,
    open_partition,
    record_entity,
)
from jobs.tables.index import IndexEntry, JobIndex, decode_cursor, encode_cursor
from jobs.tables.salvage import salvage_job

logger = logging.getLogger(__name__)

# What a finished job becomes: its terminal status, the outputs to merge in, and its error.
Conclusion = tuple[JobStatus, Sequence[Output], JobError | None]

# Concurrent writers of one job are few (orchestrator, cancel, maintenance); a handful of re-reads
# settles any real race.
MAX_ATTEMPTS = 8
MAX_LIST_LIMIT = 1000
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
# Told about every job this store moves to a terminal status (quotas give back the job's slot).
OnFinished = Callable[[Job], Awaitable[None]]


class JobStore:
    """Job rows (`jobs`, PK = job id), the listing index (`jobindex`) and idempotency records."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        jobs_table: str = JOBS_TABLE,
        index_table: str = JOB_INDEX_TABLE,
        idempotency_table: str = IDEMPOTENCY_TABLE,
        on_finished: OnFinished | None = None,
    ) -> None:
        self._service = service
        self._on_finished = on_finished
        self._tables = (jobs_table, index_table, idempotency_table)
        self._known: set[str] = set()  # tables this store created or found
        self._rows = service.get_table_client(jobs_table)
        self._index_table = service.get_table_client(index_table)
        self._index = JobIndex(self._index_table)
        self._idempotency = IdempotencyRecords(service.get_table_client(idempotency_table))

    async def _ready(self) -> None:
        await ensure_tables(self._service, self._tables, known=self._known)

    async def create(
        self, job: Job, *, idempotency_key: str | None = None, fingerprint: str | None = None
    ) -> Job:
        """Write the row, its index entries and the idempotency record concurrently."""
        await self._ready()
        for _ in range(MAX_ATTEMPTS):
            try:
                return await self._create_once(job, idempotency_key, fingerprint)
            except _RecordVanishedError:
                # The first holder of the key rolled back between our insert and our read: retry.
                continue
        raise JobContentionError(job.id, MAX_ATTEMPTS)

    async def _create_once(self, job: Job, key: str | None, fingerprint: str | None) -> Job:
        record_pk = self._idempotency.partition(job.user, key) if key is not None else None
        writes: list[tuple[TableClient, dict[str, Any]]] = [
            (self._rows, job_to_entity(job, idempotency_partition_key=record_pk))
        ]
        partitions = index_partitions(job)
        if not job.status.is_terminal:
            # In its own partition like the others, so it goes out concurrently: one more write per accept.
            partitions.append(open_partition(job.id))
        writes += [(self._index_table, index_entity(job, partition)) for partition in partitions]
        if record_pk is not None:
            record = record_entity(record_pk, job_id=job.id, fingerprint=fingerprint or "")
            writes.append((self._idempotency.table, record))
        results = await asyncio.gather(
            *(table.create_entity(entity) for table, entity in writes), return_exceptions=True
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        if not failures:
            # DEBUG: the accept logs one INFO line per job (generation.intake), not one per step.
            logger.debug("job %s: created", job.id)
            return replace(job, etag=_etag(results[0]))
        # Undo only what this call wrote, so a loser leaves nothing behind.
        await asyncio.gather(
            *(
                table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                for (table, entity), result in zip(writes, results, strict=True)
                if not isinstance(result, BaseException)
            )
        )
        if record_pk is not None and isinstance(results[-1], ResourceExistsError):
            raise await self._conflict(record_pk, fingerprint or "")
        if isinstance(results[0], ResourceExistsError):
            raise JobExistsError(job.id) from results[0]
        raise failures[0]

    async def _conflict(self, record_pk: str, fingerprint: str) -> IdempotencyConflictError:
        record = await self._idempotency.read(record_pk)
        if record is None:
            raise _RecordVanishedError
        first_job_id, first_fingerprint = record
        return IdempotencyConflictError(first_job_id, same_request=first_fingerprint == fingerprint)

    async def set_waiting(self, job_id: str, note: dict[str, Any] | None) -> None:
        """Write (or clear) the job's `waiting` note. Best effort and unconditional, since it is only a
        hint that the next ask rewrites; a no-op for a deleted job (MERGE never creates a row)."""
        await self._ready()
        value = json.dumps(note, separators=(",", ":")) if note else ""
        try:
            await self._rows.update_entity(
                {"PartitionKey": job_id, "RowKey": JOB_ROW_KEY, "Waiting": value}, mode=UpdateMode.MERGE
            )
        except ResourceNotFoundError:
            logger.info("job %s: gone; waiting note not written", job_id)
        except AzureError as exc:
            logger.warning("job %s: waiting note not written: %s", job_id, exc)

    async def find_idempotent(self, user: str | None, key: str) -> tuple[str, str] | None:
        """(job id, request fingerprint) first stored under this idempotency key, or None."""
        await self._ready()
        return await self._idempotency.read(self._idempotency.partition(user, key))

    async def find(self, job_id: str) -> Job | None:
        """The job, or None; a single point read. JobUnreadableError when the row does not parse."""
        entity = await self._read_row(job_id)
        if entity is None:
            return None
        try:
            return job_from_entity(entity, etag=entity.metadata.get("etag"))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise JobUnreadableError(job_id, entity, type(exc).__name__) from exc

    async def _read_row(self, job_id: str) -> TableEntity | None:
        if not is_valid_key(job_id):
            return None
        await self._ready()
        try:
            return await self._rows.get_entity(job_id, JOB_ROW_KEY)
        except ResourceNotFoundError:
            return None

    async def get(self, job_id: str) -> Job:
        job = await self.find(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    async def mark_running(self, job_id: str, *, gated: bool = False) -> Job:
        return await self._transition(job_id, lambda job: start_running(job, gated=gated))

    async def record_progress(
        self, job_id: str, outputs: Sequence[Output], *, read: Job | None = None
    ) -> Job:
        """Merge outputs into the row (finishing a job whose outputs are all made); `read` is a copy of
        the row read just before, used for the first attempt instead of reading again."""
        return await self._transition(job_id, lambda job: apply_progress(job, outputs), read=read)

    async def change(self, job_id: str, change: Callable[[Job], Job | None]) -> Job:
        """Apply a pure change (`jobs.domain.models`) under the row's ETag, re-reading on a race;
        the change's own errors (an invalid transition, a review already decided) propagate."""
        return await self._transition(job_id, change)

    async def finish(
        self,
        job_id: str,
        *,
        status: JobStatus,
        outputs: Sequence[Output] = (),
        error: JobError | None = None,
    ) -> Job:
        """Move a job to a terminal status; InvalidTransitionError if another finish or cancel won."""
        job = await self._transition(
            job_id, lambda job: apply_finish(job, status=status, outputs=outputs, error=error)
        )
        logger.info("job %s: finished as %s", job_id, status)
        return job

    async def conclude(self, job_id: str, decide: Callable[[Job], Conclusion]) -> Job:
        """Like `finish`, with the terminal status, outputs and error chosen from the row as read
        (one read per attempt instead of a read to decide and another to write)."""
        def change(job: Job) -> Job:
            status, outputs, error = decide(job)
            return apply_finish(job, status=status, outputs=outputs, error=error)

        job = await self._transition(job_id, change)
        logger.info("job %s: finished as %s", job_id, job.status)
        return job

    async def record_callback(self, job_id: str, change: Callable[[Callback], Callback]) -> Job:
        """Write a callback delivery's progress into the row; JobNotFoundError once the job is deleted."""
        def apply(job: Job) -> Job | None:
            return None if job.callback is None else replace(job, callback=change(job.callback))

        return await self._transition(job_id, apply)

    async def request_cancel(self, job_id: str) -> Job:
        return await self._transition(job_id, apply_cancel)

    async def _transition(
        self, job_id: str, change: Callable[[Job], Job | None], *, read: Job | None = None
    ) -> Job:
        """Re-read and re-apply `change` until the ETag-guarded replace lands."""
        index_status: JobStatus | None = None
        for _ in range(MAX_ATTEMPTS):
            current = read if read is not None and read.etag else await self.get(job_id)
            read = None
            try:
                updated = change(current)
            except InvalidTransitionError:
                await self._repair_index(current, index_status)
                raise
            if updated is None:
                await self._repair_index(current, index_status)
                return current
            writes: list[Awaitable[Any]] = [self._replace(current, updated)]
            if updated.status is not current.status:
                writes.append(self._index.set_status(updated))
                index_status = updated.status
            results = await asyncio.gather(*writes, return_exceptions=True)
            if isinstance(results[0], ResourceModifiedError):
                logger.debug("job %s: row changed concurrently; re-reading", job_id)
                continue
            if isinstance(results[0], ResourceNotFoundError):
                raise JobNotFoundError(job_id) from results[0]
            if isinstance(results[0], BaseException):
                raise results[0]
            if updated.status.is_terminal and not current.status.is_terminal:
                # Only once the row says so: a lost race must not take an unfinished job off the open index.
                telemetry.record_finished(updated)
                await asyncio.gather(self._index.close(updated), self._finished(updated))
            return replace(updated, etag=str(results[0]))
        raise JobContentionError(job_id, MAX_ATTEMPTS)

    async def _finished(self, job: Job) -> None:
        if self._on_finished is None:
            return
        try:
            await self._on_finished(job)
        except Exception:
            # The job's end is written; what follows it is repaired later (quotas reclaim the slot).
            logger.exception("job %s: follow-up of its end failed", job.id)

    async def _repair_index(self, truth: Job, written: JobStatus | None) -> None:
        # A lost race may have copied the loser's status into the index; put the winner's back.
        if written is not None and written is not truth.status:
            await self._index.set_status(truth)

    async def _replace(self, current: Job, updated: Job) -> str:
        # MERGE keeps the row's bookkeeping (index and idempotency keys) that the Job does not carry.
        metadata = await self._rows.update_entity(
            job_to_entity(updated),
            mode=UpdateMode.MERGE,
            etag=current.etag,
            match_condition=MatchConditions.IfNotModified,
        )
        return str(metadata["etag"])

    async def delete(self, job_id: str) -> None:
        """Remove the row, its index entries and its idempotency record (a damaged row too: its index
        entries are found from the fields that still read)."""
        entity = await self._read_row(job_id)
        if entity is None:
            raise JobNotFoundError(job_id)
        try:
            job = job_from_entity(entity, etag=None)
        except (KeyError, ValueError, TypeError, AttributeError):
            job = salvage_job(job_id, entity)
        record_pk = entity.get("IdempotencyKey")
        removals: list[Awaitable[None]] = [self._index.remove(job)]
        if record_pk:
            removals.append(self._idempotency.remove(str(record_pk)))
        # Row last: if a removal fails the row stays, and so does the index entry that finds it again.
        await asyncio.gather(*removals)
        await self._rows.delete_entity(job_id, JOB_ROW_KEY)
        logger.info("job %s: deleted", job_id)

    async def list_jobs(
        self, *, user: str | None, status: JobStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Job], str | None]:
        """A page of jobs, newest first, and the cursor of the next page (None on the last)."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        after = decode_cursor(cursor) if cursor is not None else None
        await self._ready()
        entries, more = await self._index.page(user=user, status=status, after=after, limit=limit)
        jobs = await self._read_all(entries)
        if status is not None:
            # The index copy of the status may trail the row for a moment; the row decides.
            jobs = [job for job in jobs if job.status is status]
        return jobs, encode_cursor(entries[-1].row_key) if more else None

    async def list_unfinished(self, older_than: datetime, *, limit: int = 500) -> list[Job]:
        """Queued or running jobs whose row was last updated before `older_than`; reads the open index
        only, and drops open entries left behind by a job that finished or was deleted."""
        await self._ready()
        entries = await self._index.open_before(older_than, limit=limit)
        found = await asyncio.gather(*(self.find(entry.job_id) for entry in entries))
        stale = [
            self._index.remove_entry(entry) if job is None else self._index.close(job)
            for entry, job in zip(entries, found, strict=True)
            if job is None or job.status.is_terminal
        ]
        await asyncio.gather(*stale)
        return [
            job for job in found
            if job is not None and job.status in UNFINISHED and job.updated_at < older_than
        ]

    async def reindex_legacy(self, *, limit: int = 500) -> int:
        """Move up to `limit` entries of the pre-bucket `all` partition into the current index (their
        jobs' listing and open entries, written from the rows); an entry whose row is gone is dropped.
        Returns how many legacy entries were handled; 0 once the partition is empty."""
        await self._ready()
        entries = await self._index.legacy_entries(limit=limit)
        for entry in entries:
            job = await self._find_readable(entry.job_id)
            if isinstance(job, JobUnreadableError):
                job = salvage_job(entry.job_id, job.entity)
            if job is not None:
                await self._index.restore(job)
            await self._index.drop_legacy(entry)
        if entries:
            logger.info("index: %d entries moved from the pre-bucket partition", len(entries))
        return len(entries)

    async def list_expired(self, created_before: datetime, *, limit: int = 500) -> list[Job]:
        """Jobs created before `created_before` (retention); drops index entries left without a row."""
        await self._ready()
        entries = await self._index.created_before(created_before, limit=limit)
        return await self._read_all(entries, drop_orphans=True)

    async def _read_all(self, entries: Sequence[IndexEntry], *, drop_orphans: bool = False) -> list[Job]:
        found = await asyncio.gather(*(self._find_readable(entry.job_id) for entry in entries))
        if drop_orphans:
            orphans = [entry for entry, job in zip(entries, found, strict=True) if job is None]
            await asyncio.gather(*(self._index.remove_entry(entry) for entry in orphans))
        return [job for job in found if isinstance(job, Job)]

    async def _find_readable(self, job_id: str) -> Job | JobUnreadableError | None:
        """Like `find`, but an unreadable row is logged and passed over instead of failing the page."""
        try:
            return await self.find(job_id)
        except JobUnreadableError as unreadable:
            logger.warning("%s; row (PartitionKey=%r, RowKey=%r) skipped", unreadable, job_id, JOB_ROW_KEY)
            return unreadable


def _etag(metadata: object) -> str:
    assert isinstance(metadata, dict)
    return str(metadata["etag"])


class _RecordVanishedError(Exception):
    """The idempotency record that made our insert fail was gone when read."""
