"""The job index: per-user and bucketed `all` partitions for listing (newest first, status copied in
for server-side filtering), and bucketed `open` partitions holding only unfinished jobs.

Maintenance reads only key ranges: `open` entries older than a cutoff (unfinished jobs; an entry is
removed when its job finishes) and `all` entries older than the retention cutoff (expired jobs, removed
when purged). Neither query carries a non-key filter, so the service reads only what it returns and a
run costs in proportion to stuck and expiring jobs, not to every job retained.
Listing cursors are opaque: urlsafe base64 of the index position to continue after.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import heapq
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from jobs.domain.errors import InvalidCursorError
from jobs.domain.models import Job, JobStatus
from jobs.tables.entities import (
    ALL_PREFIX,
    INDEX_BUCKETS,
    OPEN_PREFIX,
    bucket_partitions,
    entry_partitions,
    index_entity,
    index_partitions,
    index_row_key,
    inverted_ticks,
    open_partition,
    user_partition,
)

logger = logging.getLogger(__name__)

# Before the index was bucketed every job had an entry in this one partition; maintenance moves what
# is left there into the current partitions (`JobStore.reindex_legacy`).
LEGACY_ALL_PARTITION = "all"


@dataclass(frozen=True)
class IndexEntry:
    row_key: str
    user: str | None

    @property
    def job_id(self) -> str:
        return self.row_key.split("_", 1)[1]

    @property
    def partitions(self) -> list[str]:
        """Every partition that may hold this entry (listing ones and the open one)."""
        return [*entry_partitions(self.job_id, self.user), open_partition(self.job_id)]


class JobIndex:
    """Entries `(PK=all:{bucket} | user:{user} | open:{bucket}, RK=inverted time + id)`."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def set_status(self, job: Job) -> None:
        """Best effort: the row is the truth; a stale entry only delays what a filter shows."""
        row_key = index_row_key(job)
        results = await asyncio.gather(
            *(
                self._table.update_entity(
                    {"PartitionKey": partition, "RowKey": row_key, "Status": job.status.value},
                    mode=UpdateMode.MERGE,
                    match_condition=MatchConditions.Unconditionally,
                )
                for partition in index_partitions(job)
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, AzureError):
                logger.warning("job %s: index status not updated to %s: %s", job.id, job.status, result)
            elif isinstance(result, BaseException):
                raise result

    async def close(self, job: Job) -> None:
        """Drop a finished job's open entry. Best effort: maintenance drops an entry it finds stale."""
        try:
            await self._delete(open_partition(job.id), index_row_key(job))
        except AzureError as exc:
            logger.warning("job %s: open index entry not removed: %s", job.id, exc)

    async def remove(self, job: Job) -> None:
        await self.remove_entry(IndexEntry(row_key=index_row_key(job), user=job.user))

    async def remove_entry(self, entry: IndexEntry) -> None:
        """Drop every entry of a job (also one whose job row is gone: a delete that failed half-way)."""
        await asyncio.gather(*(self._delete(partition, entry.row_key) for partition in entry.partitions))

    async def _delete(self, partition: str, row_key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self._table.delete_entity(partition, row_key)

    async def restore(self, job: Job) -> None:
        """Write (or overwrite) every entry the job should have: its listing ones and, while it is
        unfinished, its open one."""
        partitions = index_partitions(job)
        if not job.status.is_terminal:
            partitions.append(open_partition(job.id))
        await asyncio.gather(*(
            self._table.upsert_entity(index_entity(job, partition), mode=UpdateMode.REPLACE)
            for partition in partitions
        ))

    async def legacy_entries(self, *, limit: int) -> list[IndexEntry]:
        entries, _ = await self._collect("PartitionKey eq @pk", {"pk": LEGACY_ALL_PARTITION}, limit=limit)
        return entries

    async def drop_legacy(self, entry: IndexEntry) -> None:
        await self._delete(LEGACY_ALL_PARTITION, entry.row_key)

    async def page(
        self, *, user: str | None, status: JobStatus | None, after: str | None, limit: int
    ) -> tuple[list[IndexEntry], bool]:
        """Up to `limit` index entries after `after` (newest first), and whether more follow."""
        clauses = ["PartitionKey eq @pk"]
        parameters: dict[str, str] = {}
        if after is not None:
            clauses.append("RowKey gt @after")
            parameters["after"] = after
        if status is not None:
            clauses.append("Status eq @status")
            parameters["status"] = status.value
        query = " and ".join(clauses)
        if user is not None:
            return await self._collect(query, {**parameters, "pk": user_partition(user)}, limit=limit)
        # Every bucket is sorted the same way; the newest `limit` overall are among each bucket's newest
        # `limit`, and a cursor (a RowKey) continues every bucket at the same point.
        pages = await asyncio.gather(
            *(
                self._collect(query, {**parameters, "pk": partition}, limit=limit)
                for partition in bucket_partitions(ALL_PREFIX)
            )
        )
        merged = list(heapq.merge(*(entries for entries, _ in pages), key=lambda entry: entry.row_key))
        return merged[:limit], len(merged) > limit or any(more for _, more in pages)

    async def open_before(self, cutoff: datetime, *, limit: int) -> list[IndexEntry]:
        """Open (unfinished) entries of jobs created before `cutoff`."""
        return await self._before(OPEN_PREFIX, cutoff, limit=limit)

    async def created_before(self, cutoff: datetime, *, limit: int) -> list[IndexEntry]:
        """Entries of every job created before `cutoff`, whatever its status."""
        return await self._before(ALL_PREFIX, cutoff, limit=limit)

    async def _before(self, prefix: str, cutoff: datetime, *, limit: int) -> list[IndexEntry]:
        # "~" sorts after every job id, so a job created exactly at the cutoff is not included.
        after = inverted_ticks(cutoff) + "_~"
        share = -(-limit // INDEX_BUCKETS)
        query = "PartitionKey eq @pk and RowKey gt @after"
        found = await asyncio.gather(
            *(
                self._collect(query, {"pk": pk, "after": after}, limit=share)
                for pk in bucket_partitions(prefix)
            )
        )
        return [entry for entries, _ in found for entry in entries][:limit]

    async def _collect(
        self, query: str, parameters: dict[str, str], *, limit: int
    ) -> tuple[list[IndexEntry], bool]:
        # Ask for one more than needed: the service may return short pages, and the extra entry
        # tells whether a next page exists without handing out a cursor to an empty page.
        entries: list[IndexEntry] = []
        entities = self._table.query_entities(
            query, parameters=parameters, results_per_page=min(limit + 1, 1000), select=["RowKey", "User"]
        )
        async for entity in entities:
            entries.append(IndexEntry(row_key=str(entity["RowKey"]), user=entity.get("User")))
            if len(entries) > limit:
                return entries[:limit], True
        return entries, False


MAX_CURSOR_CHARS = 1024
_URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")
# An index RowKey: 16-digit inverted timestamp, "_", then a job id that is a valid table key.
_ROW_KEY = re.compile(r"^\d{16}_[^/\\#?\x00-\x1f\x7f-\x9f]{1,128}$")
_VERSION = 1


def encode_cursor(after_row_key: str) -> str:
    payload = json.dumps({"v": _VERSION, "after": after_row_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The index RowKey to continue after; InvalidCursorError for anything this module did not produce."""
    if not cursor or len(cursor) > MAX_CURSOR_CHARS or not _URLSAFE.match(cursor):
        raise InvalidCursorError("cursor is not a value returned by a previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("cursor is not a value returned by a previous page") from exc
    if (
        not isinstance(data, dict)
        or set(data) != {"v", "after"}
        or type(data["v"]) is not int
        or data["v"] != _VERSION
        or not isinstance(data["after"], str)
        or not _ROW_KEY.match(data["after"])
    ):
        raise InvalidCursorError("cursor is not a value returned by a previous page")
    return data["after"]
