"""The stores every function shares, built once per event loop from the process settings."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.data.tables.aio import TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from azure.servicebus.aio import ServiceBusClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from jobs.blobs.outputs import OutputStore
from jobs.config.settings import Settings, get_settings
from jobs.queues.base import JobQueue
from jobs.queues.servicebus import ServiceBusJobQueue
from jobs.queues.storage import StorageJobQueue
from jobs.tables.events import EventLedger
from jobs.tables.store import JobStore

logger = logging.getLogger(__name__)


@dataclass
class Stores:
    """The app's data clients for one event loop (async clients must not cross loops)."""

    jobs: JobStore
    outputs: OutputStore
    queue: JobQueue
    events: EventLedger
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    async def close(self) -> None:
        results = await asyncio.gather(*(close() for close in self.closers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                logger.warning("closing a client failed: %s", result)


def build_credential(settings: Settings) -> AsyncTokenCredential:
    """Managed identity on Azure (the user-assigned one when AZURE_CLIENT_ID is set), dev logins locally."""
    if settings.azure_client_id:
        return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return DefaultAzureCredential()


def _needs_credential(settings: Settings) -> bool:
    uses_bus_identity = settings.queue_kind == "servicebus" and settings.servicebus_connection is None
    return settings.storage.uses_identity or uses_bus_identity


def _build_queue(
    settings: Settings, credential: AsyncTokenCredential | None, closers: list[Callable[[], Awaitable[None]]]
) -> JobQueue:
    storage = settings.storage
    if settings.queue_kind == "servicebus":
        bus = settings.require_servicebus()
        # As for the Storage queue below: the send is on the accept path, so fail fast (503) rather
        # than ride the SDK's default back-off.
        fast: dict[str, Any] = {"retry_total": 1, "retry_backoff_factor": 0.3, "retry_backoff_max": 1}
        if bus.connection_string:
            client = ServiceBusClient.from_connection_string(bus.connection_string, **fast)
        else:
            assert credential is not None and bus.fully_qualified_namespace is not None
            client = ServiceBusClient(bus.fully_qualified_namespace, credential, **fast)
        bus_queue = ServiceBusJobQueue(client, queue_name=settings.queue_name)
        closers.append(bus_queue.close)
        return bus_queue
    # The send is on the accept path: a queue that is down must turn into a quick 503, not a
    # minute of the SDK's default back-off (15 s, then 18 s, ... with 3 s of jitter). One quick retry
    # rides out a blip and keeps a LINE webhook inside its 2-second budget.
    retry: dict[str, Any] = {
        "initial_backoff": 0.3, "increment_base": 2, "retry_total": 1, "random_jitter_range": 0.2
    }
    if storage.connection_string:
        queues = QueueServiceClient.from_connection_string(
            storage.connection_string, connection_timeout=5, **retry
        )
    else:
        queues = QueueServiceClient(
            storage.queue_service_uri or "", credential=credential, connection_timeout=5, **retry
        )
    closers.append(queues.close)
    return StorageJobQueue(queues, queue_name=settings.queue_name)


# Table writes are on the accept path and the webhook's 2-second budget: a store that is down should
# become a quick 503 (or a LINE redelivery), not azure-core's default of up to ten slow retries.
# Activities lose nothing by it: the orchestrator retries them.
TABLE_RETRY: dict[str, Any] = {
    "retry_total": 3, "retry_connect": 1, "retry_read": 1, "retry_status": 2,
    "retry_backoff_factor": 0.2, "retry_backoff_max": 2,
}


def build_stores(settings: Settings) -> Stores:
    """Clients for `settings`: connection strings locally, identity-based URIs on Azure."""
    storage = settings.storage
    credential = build_credential(settings) if _needs_credential(settings) else None
    if storage.connection_string:
        tables = TableServiceClient.from_connection_string(storage.connection_string, **TABLE_RETRY)
        blobs = BlobServiceClient.from_connection_string(storage.connection_string)
    else:
        assert credential is not None
        tables = TableServiceClient(
            endpoint=storage.table_service_uri or "", credential=credential, **TABLE_RETRY
        )
        blobs = BlobServiceClient(account_url=storage.blob_service_uri or "", credential=credential)
    closers: list[Callable[[], Awaitable[None]]] = [tables.close, blobs.close]
    queue = _build_queue(settings, credential, closers)
    if credential is not None:
        closers.append(credential.close)
    return Stores(
        jobs=JobStore(tables),
        outputs=OutputStore(blobs),
        queue=queue,
        events=EventLedger(tables),
        closers=closers,
    )


# id(loop) -> (weak reference to the loop, its stores); the weak reference tells a live loop from
# a new one that reuses a dead loop's id.
_by_loop: dict[int, tuple[weakref.ReferenceType[asyncio.AbstractEventLoop], Stores]] = {}


def _forget_dead_loops() -> None:
    for key, (ref, _) in list(_by_loop.items()):
        loop = ref()
        if loop is None or loop.is_closed():
            del _by_loop[key]


def stores() -> Stores:
    """The running loop's stores, built on first use (needs a running event loop)."""
    loop = asyncio.get_running_loop()
    entry = _by_loop.get(id(loop))
    if entry is not None and entry[0]() is loop:
        return entry[1]
    _forget_dead_loops()
    bundle = build_stores(get_settings())
    _by_loop[id(loop)] = (weakref.ref(loop), bundle)
    return bundle


async def close_stores() -> None:
    """Close and forget the running loop's stores (shutdown, and between tests)."""
    loop = asyncio.get_running_loop()
    entry = _by_loop.pop(id(loop), None)
    if entry is not None and entry[0]() is loop:
        await entry[1].close()
