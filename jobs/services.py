"""The services object: settings, stores, queue and channel components, built once per event loop."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.core.credentials_async import AsyncTokenCredential
from azure.data.tables.aio import TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from azure.servicebus.aio import ServiceBusClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from jobs import telemetry_setup
from jobs.blobs.outputs import OutputStore
from jobs.config.settings import Settings, load_settings
from jobs.queues.base import JobQueue
from jobs.queues.servicebus import ServiceBusJobQueue
from jobs.queues.storage import StorageJobQueue
from jobs.tables.conversations import ConversationStore
from jobs.tables.deletions import DeletionLedger
from jobs.tables.events import EventLedger
from jobs.tables.limiter import SlotLimiter
from jobs.tables.quotas import QuotaStore
from jobs.tables.store import JobStore

logger = logging.getLogger(__name__)


T = TypeVar("T")
Closer = Callable[[], Awaitable[None]]


@dataclass(eq=False)
class Services:
    """What every function needs, for one event loop (async clients must not cross loops): the
    settings, the stores, the queue, and the components channels build from them (the provider,
    the LINE client) through `component`."""

    settings: Settings
    jobs: JobStore
    outputs: OutputStore
    queue: JobQueue
    events: EventLedger
    quotas: QuotaStore | None  # None when no quota is set: accepting a job then runs no quota code
    limiter: SlotLimiter
    conversations: ConversationStore
    deletions: DeletionLedger
    _closers: list[Closer] = field(default_factory=list, repr=False)
    _components: dict[Callable[[Services], Any], Any] = field(default_factory=dict, repr=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def component(self, build: Callable[[Services], T]) -> T:
        """What `build` makes from these services, made on first use and kept (closed with them).

        Channels pass their own factories (`build` may register a closer with `on_close`), so the
        core holds their clients without importing them.
        """
        if build not in self._components:
            self._components[build] = build(self)
        built: T = self._components[build]
        return built

    def on_close(self, close: Closer) -> None:
        """Run `close` when these services are closed."""
        self._closers.append(close)

    def spawn(self, call: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `call` in the background, kept referenced until it ends (the loop holds tasks weakly)."""
        task = asyncio.get_running_loop().create_task(call)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        """Close every client, the components' last (they may use the stores while closing)."""
        closers, self._closers = self._closers[::-1], []
        self._components.clear()
        for close in closers:
            try:
                await close()
            except Exception as exc:
                logger.warning("closing a client failed: %s", exc)

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def build_credential(settings: Settings) -> AsyncTokenCredential:
    """Managed identity on Azure (the user-assigned one when AZURE_CLIENT_ID is set), dev logins locally."""
    if settings.azure_client_id:
        return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return DefaultAzureCredential()


def _needs_credential(settings: Settings) -> bool:
    uses_bus_identity = settings.queue_kind == "servicebus" and settings.servicebus_connection is None
    return settings.storage.uses_identity or uses_bus_identity


def _build_queue(
    settings: Settings, credential: AsyncTokenCredential | None, closers: list[Closer]
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
        "initial_backoff": 0.3, "increment_base": 2, "retry_total": 1, "random_jitter_range": 0.2,
        "use_env_settings": storage.env_proxies,
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


# Blob calls come from activities (and the output redirect): the orchestrator retries those with its
# own back-off until the job's deadline, so the SDK's default (15 s, 18 s, 24 s...) would only hold an
# activity slot through an outage. Two quick retries ride out a blip.
BLOB_RETRY: dict[str, Any] = {
    "initial_backoff": 0.5, "increment_base": 2, "retry_total": 2, "random_jitter_range": 0.2,
    "connection_timeout": 5,
}


def build_services(settings: Settings) -> Services:
    """Clients for `settings`: connection strings locally, identity-based URIs on Azure."""
    telemetry_setup.configure(settings.telemetry_exporter, client_id=settings.azure_client_id)
    telemetry_setup.pin_sdk_tracing_switches()
    storage = settings.storage
    credential = build_credential(settings) if _needs_credential(settings) else None
    table_options = {**TABLE_RETRY, "use_env_settings": storage.env_proxies}
    blob_options = {**BLOB_RETRY, "use_env_settings": storage.env_proxies}
    if storage.connection_string:
        tables = TableServiceClient.from_connection_string(storage.connection_string, **table_options)
        blobs = BlobServiceClient.from_connection_string(storage.connection_string, **blob_options)
    else:
        assert credential is not None
        tables = TableServiceClient(
            endpoint=storage.table_service_uri or "", credential=credential, **table_options
        )
        blobs = BlobServiceClient(
            account_url=storage.blob_service_uri or "", credential=credential, **blob_options
        )
    closers: list[Closer] = []
    if credential is not None:
        closers.append(credential.close)  # closed last: the closers run in reverse
    closers += [tables.close, blobs.close]
    queue = _build_queue(settings, credential, closers)
    limits = settings.quota_limits
    quotas = None if limits.unlimited else QuotaStore(tables, limits=limits)
    # Only a slot in flight is given back when a job ends (its images stay counted for the day).
    release = quotas.release if quotas is not None and limits.jobs_in_flight is not None else None
    return Services(
        settings=settings,
        jobs=JobStore(tables, on_finished=release),
        outputs=OutputStore(blobs),
        queue=queue,
        events=EventLedger(tables),
        quotas=quotas,
        limiter=SlotLimiter(tables),
        conversations=ConversationStore(tables),
        deletions=DeletionLedger(tables),
        _closers=closers,
    )


# The only module-level state of the app: the running loop's services. id(loop) -> (weak reference
# to the loop, its services); the weak reference tells a live loop from a new one reusing a dead one's id.
_by_loop: dict[int, tuple[weakref.ReferenceType[asyncio.AbstractEventLoop], Services]] = {}


def _forget_dead_loops() -> None:
    for key, (ref, _) in list(_by_loop.items()):
        loop = ref()
        if loop is None or loop.is_closed():
            del _by_loop[key]


def services() -> Services:
    """The running loop's services, built on first use from the environment (needs a running loop).

    Blueprints call this and pass the result on; the logic they call never looks it up.
    """
    loop = asyncio.get_running_loop()
    entry = _by_loop.get(id(loop))
    if entry is not None and entry[0]() is loop:
        return entry[1]
    _forget_dead_loops()
    built = build_services(load_settings())
    _by_loop[id(loop)] = (weakref.ref(loop), built)
    return built


async def close_services() -> None:
    """Close and forget the running loop's services (host shutdown)."""
    loop = asyncio.get_running_loop()
    entry = _by_loop.pop(id(loop), None)
    if entry is not None and entry[0]() is loop:
        await entry[1].close()
