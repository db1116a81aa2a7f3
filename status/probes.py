"""Read-only reachability checks for the health endpoint, one client set per event loop.

The stores expose no read-only queue operation (sending a probe message would start work), so the
queue is checked here with its own client: queue properties on Storage, a one-message peek on
Service Bus. Table and Blob are checked through the stores with a point read of a key that never
exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from jobs.blobs.outputs import OutputStore
from jobs.clients import build_credential
from jobs.config.settings import Settings, get_settings
from jobs.domain.errors import OutputNotFoundError
from jobs.tables.store import JobStore

PROBE_KEY = "health-probe"


async def probe_table(jobs: JobStore) -> None:
    await jobs.find(PROBE_KEY)


async def probe_blob(outputs: OutputStore) -> None:
    # A missing blob means the service answered: that is all a probe needs.
    with contextlib.suppress(OutputNotFoundError):
        await outputs.read(f"{PROBE_KEY}/0.png")


@dataclass
class QueueProbe:
    """The job queue's read-only check (Storage queue or Service Bus, as JOBS_QUEUE_KIND says)."""

    storage_queue: QueueClient | None = None
    storage_service: QueueServiceClient | None = None
    bus: ServiceBusClient | None = None
    receiver: ServiceBusReceiver | None = None

    async def check(self) -> None:
        """Raises when the queue service does not answer; the caller bounds the time."""
        if self.receiver is not None:
            await self.receiver.peek_messages(max_message_count=1)
            return
        assert self.storage_queue is not None
        # The queue is created on the first send; a "not found" answer still shows the service is up.
        with contextlib.suppress(ResourceNotFoundError):
            await self.storage_queue.get_queue_properties()

    async def close(self) -> None:
        for closable in (self.receiver, self.bus, self.storage_queue, self.storage_service):
            if closable is not None:
                await closable.close()


def build_queue_probe(settings: Settings) -> QueueProbe:
    if settings.queue_kind == "servicebus":
        bus_settings = settings.require_servicebus()
        if bus_settings.connection_string:
            bus = ServiceBusClient.from_connection_string(bus_settings.connection_string)
        else:
            bus = ServiceBusClient(bus_settings.fully_qualified_namespace or "", build_credential(settings))
        return QueueProbe(bus=bus, receiver=bus.get_queue_receiver(settings.queue_name))
    storage = settings.storage
    if storage.connection_string:
        service = QueueServiceClient.from_connection_string(storage.connection_string)
    else:
        service = QueueServiceClient(storage.queue_service_uri or "", credential=build_credential(settings))
    return QueueProbe(storage_queue=service.get_queue_client(settings.queue_name), storage_service=service)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, QueueProbe] = weakref.WeakKeyDictionary()


def queue_probe() -> QueueProbe:
    """The running loop's queue probe, built on first use."""
    loop = asyncio.get_running_loop()
    probe = _by_loop.get(loop)
    if probe is None:
        probe = _by_loop[loop] = build_queue_probe(get_settings())
    return probe


async def close_queue_probe() -> None:
    """Close and forget the running loop's probe (shutdown, and between tests)."""
    probe = _by_loop.pop(asyncio.get_running_loop(), None)
    if probe is not None:
        await probe.close()
