"""EventLedger: LINE webhook events seen, so a redelivered event never makes a second job."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableServiceClient

from jobs.domain.models import utcnow
from jobs.names import WEBHOOK_EVENTS_TABLE
from jobs.tables.entities import ensure_tables, is_valid_key

logger = logging.getLogger(__name__)

EVENT_ROW_KEY = "event"
PURGE_BATCH = 100


def event_key(event_id: str) -> str:
    """The PartitionKey of an event id: itself when the service takes it, else a digest of it.

    LINE's ids are ASCII ULIDs; anything else (a "/" or "#", control characters, a lone surrogate)
    may be refused by the service, so it is hashed (the "~" prefix keeps digests apart from ids).
    """
    if event_id.isascii() and is_valid_key(event_id):
        return event_id
    return "~" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


class EventLedger:
    """One row per claimed event id (PK = event id); insert-if-absent decides who handles it."""

    def __init__(self, service: TableServiceClient, *, table: str = WEBHOOK_EVENTS_TABLE) -> None:
        self._service = service
        self._name = table
        self._known: set[str] = set()  # tables this store created or found
        self._table = service.get_table_client(table)

    async def claim(self, event_id: str, *, job_id: str | None = None) -> bool:
        """True if this call claimed the event; False if it was claimed before."""
        await ensure_tables(self._service, [self._name], known=self._known)
        entity: dict[str, object] = {
            "PartitionKey": event_key(event_id), "RowKey": EVENT_ROW_KEY, "ClaimedAt": utcnow()}
        if job_id is not None:
            entity["JobId"] = job_id
        try:
            await self._table.create_entity(entity)
        except ResourceExistsError:
            logger.info("webhook event %s already claimed", event_id)
            return False
        return True

    async def release(self, event_id: str) -> None:
        """Forget a claim (its job could not be accepted), so a redelivery is handled again."""
        await ensure_tables(self._service, [self._name], known=self._known)
        await self._table.delete_entity(event_key(event_id), EVENT_ROW_KEY)

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete claims made before `cutoff`; returns how many."""
        await ensure_tables(self._service, [self._name], known=self._known)
        old = self._table.query_entities(
            "ClaimedAt lt @cutoff",
            parameters={"cutoff": cutoff},
            select=["PartitionKey", "RowKey"],
            results_per_page=PURGE_BATCH,
        )
        purged = 0
        batch: list[str] = []
        async for entity in old:
            batch.append(str(entity["PartitionKey"]))
            if len(batch) == PURGE_BATCH:
                purged += await self._delete(batch)
                batch = []
        purged += await self._delete(batch)
        return purged

    async def _delete(self, event_ids: list[str]) -> int:
        await asyncio.gather(*(self._table.delete_entity(event_id, EVENT_ROW_KEY) for event_id in event_ids))
        return len(event_ids)
