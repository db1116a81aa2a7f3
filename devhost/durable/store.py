"""Task hub persistence in Table storage: `{hub}Instances` (one row per instance) and `{hub}History`.

`{hub}History` is partitioned by instance id. Row keys start with the execution id, so a replaced or
continued-as-new instance never collides with rows of its previous execution, and a range query reads one
execution: `{execution}-e{n}` rows hold history events in order, `{execution}-m{arrival}` rows hold inbox
messages (completions, timer firings, raised events, terminations) not yet consumed by an episode. Each row
carries a JSON list of events, so an episode appends one row and deletes the inbox rows it consumed in a
single entity-group transaction, and messages that arrive together are stored together.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from devhost.durable.history import Event
from devhost.settings import sdk_client_options

# A string property holds at most 64 KiB (UTF-16); longer text spills into numbered properties.
CHUNK_CHARS = 15_000
# One entity-group transaction: at most 100 operations and 4 MiB.
BATCH_OPS = 100
BATCH_CHARS = 1_500_000
# An entity holds at most 1 MiB (strings count as UTF-16; stored JSON is ASCII-escaped).
ROW_CHARS = 200_000
# The largest input, output, result or event payload (as JSON text) the task hub stores. The Azure
# Storage provider moves big messages to blobs; devhost refuses them instead, loudly.
MAX_PAYLOAD_CHARS = 300_000
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


def pack(name: str, text: str | None) -> dict[str, str]:
    if text is None:
        return {}
    chunks = [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    return {(name if n == 0 else f"{name}{n}"): chunk for n, chunk in enumerate(chunks)}


def unpack(entity: Mapping[str, Any], name: str) -> str | None:
    if name not in entity:
        return None
    parts = [str(entity[name])]
    for n in itertools.count(1):
        if f"{name}{n}" not in entity:
            return "".join(parts)
        parts.append(str(entity[f"{name}{n}"]))
    raise AssertionError("unreachable")


@dataclass
class InstanceRecord:
    """The `{hub}Instances` row: what the status API answers from."""

    instance_id: str
    name: str
    execution_id: str
    status: str
    input_json: str | None
    created: datetime
    updated: datetime
    output_json: str | None = None
    custom_status_json: str | None = None
    etag: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_entity(self) -> dict[str, Any]:
        return {"PartitionKey": self.instance_id, "RowKey": "", "Name": self.name,
                "ExecutionId": self.execution_id, "RuntimeStatus": self.status,
                "CreatedTime": self.created, "LastUpdatedTime": self.updated,
                **pack("Input", self.input_json), **pack("Output", self.output_json),
                **pack("CustomStatus", self.custom_status_json)}

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> InstanceRecord:
        return cls(instance_id=str(entity["PartitionKey"]), name=str(entity["Name"]),
                   execution_id=str(entity["ExecutionId"]), status=str(entity["RuntimeStatus"]),
                   input_json=unpack(entity, "Input"), created=entity["CreatedTime"],
                   updated=entity["LastUpdatedTime"], output_json=unpack(entity, "Output"),
                   custom_status_json=unpack(entity, "CustomStatus"),
                   etag=getattr(entity, "metadata", {}).get("etag"))


def _range(instance_id: str, execution_id: str) -> tuple[str, dict[str, Any]]:
    # '.' sorts right after '-', so [exec-, exec.) is exactly one execution's rows.
    return ("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": instance_id, "lo": f"{execution_id}-", "hi": f"{execution_id}."})


def _rows(events: Sequence[Event]) -> list[str]:
    """JSON lists of consecutive events, each small enough for one entity (1 MiB)."""
    rows: list[str] = []
    batch: list[str] = []
    size = 0
    for text in (json.dumps(event) for event in events):
        if batch and size + len(text) > ROW_CHARS:
            rows.append("[" + ",".join(batch) + "]")
            batch, size = [], 0
        batch.append(text)
        size += len(text) + 1
    if batch:
        rows.append("[" + ",".join(batch) + "]")
    return rows


class TaskHubStore:
    """Async access to one task hub's tables; one client per engine (per event loop)."""

    def __init__(self, connection_string: str, task_hub: str) -> None:
        self._service = TableServiceClient.from_connection_string(connection_string, **sdk_client_options())
        self.instances: TableClient = self._service.get_table_client(f"{task_hub}Instances")
        self.history: TableClient = self._service.get_table_client(f"{task_hub}History")

    async def ensure_tables(self) -> None:
        for table in (self.instances, self.history):
            with contextlib.suppress(ResourceExistsError):
                await table.create_table()

    async def close(self) -> None:
        await self.instances.close()
        await self.history.close()
        await self._service.close()

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        try:
            return InstanceRecord.from_entity(await self.instances.get_entity(instance_id, ""))
        except ResourceNotFoundError:
            return None

    async def create_instance(self, record: InstanceRecord) -> bool:
        """Insert a new instance row; False when one exists already."""
        try:
            await self.instances.create_entity(record.to_entity())
        except ResourceExistsError:
            return False
        return True

    async def replace_instance(self, record: InstanceRecord, *, etag: str) -> None:
        """Overwrite the row only if it still has `etag` (raises ResourceModifiedError otherwise)."""
        await self.instances.update_entity(record.to_entity(), mode=UpdateMode.REPLACE, etag=etag,
                                           match_condition=MatchConditions.IfNotModified)

    async def save_instance(self, record: InstanceRecord) -> None:
        await self.instances.upsert_entity(record.to_entity(), mode=UpdateMode.REPLACE)

    async def list_instances(self, statuses: Sequence[str] = ()) -> list[InstanceRecord]:
        if statuses:
            names = {f"s{n}": status for n, status in enumerate(statuses)}
            query = " or ".join(f"RuntimeStatus eq @{key}" for key in names)
            pages = self.instances.query_entities(query, parameters=names)
        else:
            pages = self.instances.list_entities()
        return [InstanceRecord.from_entity(entity) async for entity in pages]

    async def delete_instance(self, instance_id: str) -> None:
        await self.instances.delete_entity(instance_id, "")

    async def load_execution(
        self, instance_id: str, execution_id: str,
    ) -> tuple[list[Event], int, list[tuple[str, list[Event]]]]:
        """One execution: its history events in order, how many history rows hold them, its inbox rows."""
        query, parameters = _range(instance_id, execution_id)
        events: list[Event] = []
        rows = 0
        inbox: list[tuple[str, list[Event]]] = []
        async for entity in self.history.query_entities(query, parameters=parameters):
            row_key = str(entity["RowKey"])
            batch: list[Event] = json.loads(unpack(entity, "Data") or "[]")
            if row_key.startswith(f"{execution_id}-e"):
                events.extend(batch)
                rows += 1
            else:
                inbox.append((row_key, batch))
        return events, rows, inbox

    async def add_messages(self, instance_id: str, execution_id: str, events: Sequence[Event]) -> str:
        """Store messages for an instance as one inbox row; returns its row key."""
        row_key = f"{execution_id}-m{time.time_ns():020d}{uuid.uuid4().hex[:6]}"
        await self.history.create_entity({"PartitionKey": instance_id, "RowKey": row_key,
                                          **pack("Data", json.dumps(list(events)))})
        return row_key

    async def commit(
        self, instance_id: str, execution_id: str, *,
        first_row: int, events: Sequence[Event], consumed: Sequence[str],
    ) -> int:
        """Append `events` as history rows numbered from `first_row`, delete the consumed inbox rows.

        One transaction, unless the episode is too big for one: then events go first, so that a crash in
        between leaves a valid history prefix and inbox rows that replay de-duplicates. Returns the number
        of history rows written.
        """
        rows = _rows(events)
        operations: list[tuple[str, dict[str, Any]]] = [
            ("create", {"PartitionKey": instance_id, "RowKey": f"{execution_id}-e{first_row + n:06d}",
                        **pack("Data", text)})
            for n, text in enumerate(rows)]
        operations += [("delete", {"PartitionKey": instance_id, "RowKey": row_key}) for row_key in consumed]
        await self._submit(operations)
        return len(rows)

    async def delete_partition(self, instance_id: str, *, keep_execution: str | None = None) -> int:
        """Delete the instance's history rows (all of them, or all but one execution's)."""
        doomed = [{"PartitionKey": instance_id, "RowKey": str(entity["RowKey"])}
                  async for entity in self.history.query_entities(
                      "PartitionKey eq @pk", parameters={"pk": instance_id}, select=["RowKey"])
                  if keep_execution is None or not str(entity["RowKey"]).startswith(f"{keep_execution}-")]
        await self._submit([("delete", entity) for entity in doomed])
        return len(doomed)

    async def _submit(self, operations: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if len(operations) == 1:
            # A lone write needs no entity-group transaction (whose multipart body costs more to build).
            kind, entity = operations[0]
            if kind == "create":
                await self.history.create_entity(entity)
            else:
                await self.history.delete_entity(entity["PartitionKey"], entity["RowKey"])
            return
        batch: list[tuple[str, dict[str, Any]]] = []
        size = 0
        for operation in operations:
            weight = sum(len(str(value)) for value in operation[1].values())
            if batch and (len(batch) >= BATCH_OPS or size + weight > BATCH_CHARS):
                await self.history.submit_transaction(batch)
                batch, size = [], 0
            batch.append(operation)
            size += weight
        if batch:
            await self.history.submit_transaction(batch)
