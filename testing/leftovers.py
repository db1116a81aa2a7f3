"""Everything the app's storage still holds about given jobs: rows, index entries, blobs, history.

Used to prove that deleting a job, or running jobs through faults, leaves nothing behind that it
should not (the storage account must be one the test owns: maintenance and these counts look at
every job in it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from jobs.names import DELETIONS_TABLE, JOB_INDEX_TABLE, JOBS_TABLE, OUTPUTS_CONTAINER


@dataclass
class StorageSnapshot:
    """Job ids found in each place (a blob's job id is its name's first part)."""

    rows: set[str] = field(default_factory=set)
    index: Counter[str] = field(default_factory=Counter)  # job id -> index entries
    blobs: dict[str, list[str]] = field(default_factory=dict)  # job id -> blob names
    instances: set[str] = field(default_factory=set)  # orchestration instance ids
    history: set[str] = field(default_factory=set)  # instance ids with history rows
    tombstones: set[str] = field(default_factory=set)

    def about(self, job_ids: Iterable[str]) -> dict[str, object]:
        """What is left of `job_ids` anywhere (empty when nothing is)."""
        wanted = set(job_ids)
        related = {i for i in self.instances | self.history if i.split(":", 1)[0] in wanted}
        found: dict[str, object] = {
            "rows": sorted(self.rows & wanted),
            "index": sorted(j for j in self.index if j in wanted),
            "blobs": sorted(b for j, names in self.blobs.items() if j in wanted for b in names),
            "instances": sorted(related & self.instances),
            "history": sorted(related & self.history),
            "tombstones": sorted(self.tombstones & wanted),
        }
        return {place: ids for place, ids in found.items() if ids}


def _keys(service: TableServiceClient, table: str, column: str = "PartitionKey") -> list[str]:
    try:
        return [str(entity[column]) for entity in service.get_table_client(table).list_entities(
            select=["PartitionKey", "RowKey"])]
    except ResourceNotFoundError:
        return []


def snapshot(connection_string: str, *, task_hub: str) -> StorageSnapshot:
    """Read the whole (small, private) account once."""
    found = StorageSnapshot()
    with TableServiceClient.from_connection_string(connection_string) as tables:
        found.rows = set(_keys(tables, JOBS_TABLE))
        found.index = Counter(key.split("_", 1)[1] for key in _keys(tables, JOB_INDEX_TABLE, "RowKey"))
        found.instances = set(_keys(tables, f"{task_hub}Instances"))
        found.history = set(_keys(tables, f"{task_hub}History"))
        found.tombstones = set(_keys(tables, DELETIONS_TABLE))
    with BlobServiceClient.from_connection_string(connection_string) as blobs:
        container = blobs.get_container_client(OUTPUTS_CONTAINER)
        try:
            for blob in container.list_blobs():
                found.blobs.setdefault(blob.name.split("/", 1)[0], []).append(blob.name)
        except ResourceNotFoundError:
            pass
    return found
