"""Stores on the shared Azurite, each test with its own tables, container and queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from jobs.blobs.outputs import OutputStore
from jobs.queues.storage import StorageJobQueue
from jobs.tables.deletions import DeletionLedger
from jobs.tables.events import EventLedger
from jobs.tables.store import JobStore


@pytest.fixture
async def table_service(azurite_connection_string: str) -> AsyncIterator[TableServiceClient]:
    async with TableServiceClient.from_connection_string(azurite_connection_string) as service:
        yield service


@pytest.fixture
async def job_store(table_service: TableServiceClient, unique_name: str) -> AsyncIterator[JobStore]:
    names = {
        "jobs_table": f"{unique_name}jobs",
        "index_table": f"{unique_name}idx",
        "idempotency_table": f"{unique_name}idem",
    }
    yield JobStore(table_service, **names)
    await asyncio.gather(*(table_service.delete_table(name) for name in names.values()))


@pytest.fixture
async def event_ledger(table_service: TableServiceClient, unique_name: str) -> AsyncIterator[EventLedger]:
    yield EventLedger(table_service, table=f"{unique_name}events")
    await table_service.delete_table(f"{unique_name}events")


@pytest.fixture
async def deletion_ledger(
    table_service: TableServiceClient, unique_name: str
) -> AsyncIterator[DeletionLedger]:
    yield DeletionLedger(table_service, table=f"{unique_name}deletions")
    await table_service.delete_table(f"{unique_name}deletions")


@pytest.fixture
async def blob_service(azurite_connection_string: str) -> AsyncIterator[BlobServiceClient]:
    async with BlobServiceClient.from_connection_string(azurite_connection_string) as service:
        yield service


@pytest.fixture
async def output_store(blob_service: BlobServiceClient, unique_name: str) -> AsyncIterator[OutputStore]:
    yield OutputStore(blob_service, container=unique_name)
    with contextlib.suppress(ResourceNotFoundError):
        await blob_service.delete_container(unique_name)


@pytest.fixture
async def queue_service(azurite_connection_string: str) -> AsyncIterator[QueueServiceClient]:
    async with QueueServiceClient.from_connection_string(azurite_connection_string) as service:
        yield service


@pytest.fixture
async def storage_queue(
    queue_service: QueueServiceClient, unique_name: str
) -> AsyncIterator[StorageJobQueue]:
    yield StorageJobQueue(queue_service, queue_name=unique_name)
    for name in (unique_name, f"{unique_name}-poison"):
        with contextlib.suppress(ResourceNotFoundError):
            await queue_service.delete_queue(name)
