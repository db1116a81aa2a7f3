"""Idempotency records: PK = sha256(user|key), holding the first job's id and request fingerprint."""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from jobs.tables.entities import IDEMPOTENCY_ROW_KEY, idempotency_partition


def record_entity(partition: str, *, job_id: str, fingerprint: str) -> dict[str, str]:
    return {
        "PartitionKey": partition,
        "RowKey": IDEMPOTENCY_ROW_KEY,
        "JobId": job_id,
        "Fingerprint": fingerprint,
    }


class IdempotencyRecords:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    @staticmethod
    def partition(user: str | None, key: str) -> str:
        # Hashed: the key is client-chosen text, and the row should not echo it back.
        return idempotency_partition(user, key)

    async def read(self, partition: str) -> tuple[str, str] | None:
        """(first job id, its fingerprint), or None if the record is gone."""
        try:
            entity = await self.table.get_entity(partition, IDEMPOTENCY_ROW_KEY)
        except ResourceNotFoundError:
            return None
        return str(entity["JobId"]), str(entity.get("Fingerprint", ""))

    async def remove(self, partition: str) -> None:
        await self.table.delete_entity(partition, IDEMPOTENCY_ROW_KEY)
