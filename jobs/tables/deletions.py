"""DeletionLedger: a tombstone per deleted job, kept until everything of the job is gone.

A DELETE writes the tombstone before it removes anything, and the pipeline writes it again when it
meets a job whose row is gone, so whatever is left behind by a race (an orchestration started by a
message already in flight, an output stored after the delete, history of an instance still running)
can be found and removed later by the maintenance timer. Table `deletions`: PartitionKey = job id,
RowKey = `deletion`, `DeletedAt`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from jobs.domain.models import utcnow
from jobs.names import DELETIONS_TABLE
from jobs.tables.entities import ensure_tables, is_valid_key

logger = logging.getLogger(__name__)

DELETION_ROW_KEY = "deletion"


@dataclass(frozen=True)
class Tombstone:
    job_id: str
    deleted_at: datetime


class DeletionLedger:
    """Tombstones of deleted jobs (PK = job id); writing one twice keeps one."""

    def __init__(self, service: TableServiceClient, *, table: str = DELETIONS_TABLE) -> None:
        self._service = service
        self._name = table
        self._known: set[str] = set()  # tables this store created or found
        self._table = service.get_table_client(table)

    async def record(self, job_id: str) -> None:
        """Remember that `job_id` is deleted (an upsert: a second record only moves the time)."""
        if not is_valid_key(job_id):
            return
        await ensure_tables(self._service, [self._name], known=self._known)
        entity = {"PartitionKey": job_id, "RowKey": DELETION_ROW_KEY, "DeletedAt": utcnow()}
        await self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def forget(self, job_id: str) -> None:
        """Drop the tombstone once nothing of the job is left (absent already is fine)."""
        await ensure_tables(self._service, [self._name], known=self._known)
        await self._table.delete_entity(job_id, DELETION_ROW_KEY)

    async def list(self, *, limit: int) -> list[Tombstone]:
        """Up to `limit` tombstones, oldest partition keys first (the table only holds recent ones)."""
        await ensure_tables(self._service, [self._name], known=self._known)
        found: list[Tombstone] = []
        entities = self._table.list_entities(select=["PartitionKey", "DeletedAt"],
                                             results_per_page=min(limit, 1000))
        async for entity in entities:
            found.append(Tombstone(str(entity["PartitionKey"]), entity["DeletedAt"]))
            if len(found) >= limit:
                break
        return found
