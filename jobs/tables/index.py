"""The per-user (and `all`) job index: newest first, status copied in for server-side filtering."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from jobs.domain.models import Job, JobStatus
from jobs.tables.entities import (
    ALL_PARTITION,
    index_partitions,
    index_row_key,
    inverted_ticks,
    user_partition,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexEntry:
    row_key: str
    user: str | None

    @property
    def job_id(self) -> str:
        return self.row_key.split("_", 1)[1]

    @property
    def partitions(self) -> list[str]:
        return [ALL_PARTITION] if self.user is None else [ALL_PARTITION, user_partition(self.user)]


class JobIndex:
    """Entries `(PK=all | user:{user}, RK=inverted time + id)` pointing at job rows."""

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

    async def remove(self, job: Job) -> None:
        row_key = index_row_key(job)
        await asyncio.gather(
            *(self._table.delete_entity(partition, row_key) for partition in index_partitions(job))
        )

    async def remove_entry(self, entry: IndexEntry) -> None:
        """Drop an entry whose job row is gone (a delete that failed half-way)."""
        await asyncio.gather(
            *(self._table.delete_entity(partition, entry.row_key) for partition in entry.partitions)
        )

    async def page(
        self, *, user: str | None, status: JobStatus | None, after: str | None, limit: int
    ) -> tuple[list[IndexEntry], bool]:
        """Up to `limit` index entries after `after` (newest first), and whether more follow."""
        clauses = ["PartitionKey eq @pk"]
        parameters = {"pk": ALL_PARTITION if user is None else user_partition(user)}
        if after is not None:
            clauses.append("RowKey gt @after")
            parameters["after"] = after
        if status is not None:
            clauses.append("Status eq @status")
            parameters["status"] = status.value
        return await self._collect(" and ".join(clauses), parameters, limit=limit)

    async def older_than(
        self, cutoff: datetime, *, statuses: tuple[JobStatus, ...] = (), limit: int
    ) -> list[IndexEntry]:
        """Entries in the `all` partition of jobs created before `cutoff`, optionally by status."""
        clause = "PartitionKey eq @pk and RowKey gt @after"
        # "~" sorts after every job id, so a job created exactly at the cutoff is not included.
        parameters = {"pk": ALL_PARTITION, "after": inverted_ticks(cutoff) + "_~"}
        if statuses:
            names = [f"s{i}" for i in range(len(statuses))]
            # The SDK substitutes "@name" only in space-separated words, hence the spaced parentheses.
            clause += " and ( " + " or ".join(f"Status eq @{name}" for name in names) + " )"
            parameters.update({name: s.value for name, s in zip(names, statuses, strict=True)})
        entries, _ = await self._collect(clause, parameters, limit=limit)
        return entries

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
