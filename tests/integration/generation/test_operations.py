"""The operator functions with the Azure job queue: Service Bus.

The queue is `ServiceBusJobQueue` on the real SDK against devhost's Service Bus emulator (one per
test, in this process), its queue with duplicate detection as on Azure (a short window). Everything
else is real: job rows, blobs and de-duplication records on Azurite (tables of this test's own), and
orchestration instances in devhost's Durable engine, reached through the SDK's
`DurableOrchestrationClient` over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import azure.durable_functions as df
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusConnectionError
from azure.storage.blob.aio import BlobServiceClient
from PIL import Image

from devhost.functions import load_app
from devhost.servicebus.entities import QueueConfig
from devhost.servicebus.server import Emulator
from generation import operations
from jobs.blobs.outputs import OutputStore
from jobs.config.settings import Settings, load_settings
from jobs.contracts import deliver_instance_id, parse_job_message
from jobs.domain.conversations import Turn
from jobs.domain.models import Channel, JobKind, JobStatus, utcnow
from jobs.queues.servicebus import ServiceBusJobQueue, build_service_bus_message
from jobs.services import Services
from jobs.tables.conversations import ConversationStore
from jobs.tables.deletions import DeletionLedger
from jobs.tables.events import EventLedger
from jobs.tables.limiter import SlotLimiter
from jobs.tables.quotas import QuotaLimits, QuotaStore
from jobs.tables.store import JobStore
from testing.durable_engine import drop_task_hub, running_engine
from testing.factories import make_job
from testing.servicebus import running_emulator

QUEUE = "generation-jobs"
# 2 minutes on Azure; short here so that a redrive (same message ids) can come after it, as the daily
# redrive does on Azure.
DUPLICATE_WINDOW_SECONDS = 3.0


# ------------------------------------------------------------------------------- the broker
class Broker:
    """The emulator's queue as the tests look at it; `refused_ids` makes sends of those jobs fail."""

    def __init__(self, bus: ServiceBusClient) -> None:
        self.bus = bus
        self.real_sender = bus.get_queue_sender  # the test's own sends never refuse
        self.refused_ids: set[str] = set()

    async def received(self) -> list[ServiceBusReceivedMessage]:
        async with self.bus.get_queue_receiver(QUEUE) as receiver:
            return list(await receiver.peek_messages(max_message_count=50))

    async def dead_letters(self) -> list[ServiceBusReceivedMessage]:
        async with self.bus.get_queue_receiver(QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver:
            return list(await receiver.peek_messages(max_message_count=50))

    async def dead_letter(self, messages: list[ServiceBusMessage]) -> None:
        """What the service leaves after maxDeliveryCount failed deliveries."""
        async with self.real_sender(queue_name=QUEUE) as sender:
            await sender.send_messages(messages)
        async with self.bus.get_queue_receiver(QUEUE) as receiver:
            for message in await receiver.receive_messages(max_message_count=len(messages), max_wait_time=5):
                await receiver.dead_letter_message(message, reason="MaxDeliveryCountExceeded")


class RefusingSender:
    """The real sender, except that a refused job's send fails as a lost connection would."""

    def __init__(self, broker: Broker, sender: Any) -> None:
        self._broker = broker
        self._sender = sender

    async def send_messages(self, message: ServiceBusMessage) -> None:
        if message.message_id in self._broker.refused_ids:
            raise ServiceBusConnectionError(message="connection lost")
        await self._sender.send_messages(message)

    async def close(self) -> None:
        await self._sender.close()


# ------------------------------------------------------------------------------- fixtures
@dataclass
class World:
    broker: Broker
    stores: Services
    client: df.DurableOrchestrationClient
    blobs: BlobServiceClient
    container: str

    async def start(self, instance_id: str, *, finish: bool) -> None:
        await self.client.start_new("generation_orchestrator", instance_id, {"finish": finish})
        want = "Completed" if finish else "Running"
        async with asyncio.timeout(20):
            status = await self.runtime_status(instance_id)
            while status != want:
                await asyncio.sleep(0.05)
                status = await self.runtime_status(instance_id)

    async def runtime_status(self, instance_id: str) -> str | None:
        status = await self.client.get_status(instance_id)
        return status.runtime_status.value if status and status.runtime_status else None

    async def blob_names(self, job_id: str) -> list[str]:
        container = self.blobs.get_container_client(self.container)
        return [blob.name async for blob in container.list_blobs(name_starts_with=f"{job_id}/")]


def settings_for(connection_string: str) -> Settings:
    return load_settings({
        "GENERATION_STORAGE": connection_string,
        "JOBS_QUEUE_KIND": "servicebus",
        "JOBS_QUEUE_NAME": QUEUE,
        "ServiceBusConnection__fullyQualifiedNamespace": "sb-test.servicebus.windows.net",
        "GENERATION_DEADLINE_SECONDS": "600",
        "JOB_RETENTION_DAYS": "30",
    })


@pytest.fixture(scope="module")
def standin_specs() -> Iterator[dict[str, Any]]:
    module = importlib.import_module("tests.integration.generation.standin_app")
    yield {spec.name: spec for spec in load_app(module.__name__)}


@pytest.fixture
async def durable(
    azurite_connection_string: str, unique_name: str, standin_specs: dict[str, Any]
) -> AsyncIterator[df.DurableOrchestrationClient]:
    task_hub = f"hub{unique_name}"
    async with running_engine(azurite_connection_string, task_hub, specs=standin_specs) as host:
        yield df.DurableOrchestrationClient(host.engine.client_payload(host.base_url))
    await drop_task_hub(azurite_connection_string, task_hub)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    queue = QueueConfig(name=QUEUE, requires_duplicate_detection=True,
                        duplicate_detection_window=DUPLICATE_WINDOW_SECONDS, max_delivery_count=5)
    with running_emulator([queue], tmp_path) as server:
        yield server


@pytest.fixture
async def world(
    azurite_connection_string: str, unique_name: str, durable: df.DurableOrchestrationClient,
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[World]:
    tables = TableServiceClient.from_connection_string(azurite_connection_string)
    blobs = BlobServiceClient.from_connection_string(azurite_connection_string)
    bus = ServiceBusClient.from_connection_string(emulator.connection_string)
    broker = Broker(bus)
    monkeypatch.setattr(bus, "get_queue_sender",
                        lambda **kwargs: RefusingSender(broker, broker.real_sender(**kwargs)))
    stores = Services(
        settings=settings_for(azurite_connection_string),
        jobs=JobStore(tables, jobs_table=f"{unique_name}jobs", index_table=f"{unique_name}index",
                      idempotency_table=f"{unique_name}idem"),
        outputs=OutputStore(blobs, container=unique_name),
        queue=ServiceBusJobQueue(bus, queue_name=QUEUE),
        events=EventLedger(tables, table=f"{unique_name}events"),
        quotas=QuotaStore(tables, limits=QuotaLimits()),
        limiter=SlotLimiter(tables, table=f"{unique_name}pacing"),
        conversations=ConversationStore(tables, table=f"{unique_name}talk"),
        deletions=DeletionLedger(tables, table=f"{unique_name}deletions"),
    )
    yield World(broker, stores, durable, blobs, unique_name)
    for suffix in ("jobs", "index", "idem", "events", "deletions", "talk"):
        await tables.delete_table(f"{unique_name}{suffix}")
    with contextlib.suppress(ResourceNotFoundError):
        await blobs.delete_container(unique_name)
    await stores.queue.close()
    await tables.close()
    await blobs.close()


# ---------------------------------------------------------------------------------- tests
async def test_a_lost_job_is_sent_again_with_its_id_so_repeats_are_dropped(world: World) -> None:
    lost = await world.stores.jobs.create(make_job(created_at=utcnow() - timedelta(minutes=5), n=2))

    first = await operations.run_maintenance(world.stores, world.client, now=utcnow())
    second = await operations.run_maintenance(world.stores, world.client, now=utcnow())

    assert (first.redriven, second.redriven, first.errors, second.errors) == (1, 1, 0, 0)
    [message] = await world.broker.received()  # the second send fell to duplicate detection
    assert message.message_id == lost.id
    assert parse_job_message(b"".join(message.body)) == lost.id
    assert message.application_properties == {b"kind": b"image", b"n": 2}
    assert (await world.stores.jobs.get(lost.id)).status is JobStatus.QUEUED


async def test_an_overdue_job_is_failed_and_its_orchestration_terminated(world: World) -> None:
    stuck = await world.stores.jobs.create(
        make_job(created_at=utcnow() - timedelta(minutes=20), status=JobStatus.RUNNING)
    )
    await world.start(stuck.id, finish=False)

    first = await operations.run_maintenance(world.stores, world.client, now=utcnow())
    second = await operations.run_maintenance(world.stores, world.client, now=utcnow())

    assert (first.failed, second.failed, first.errors) == (1, 0, 0)
    job = await world.stores.jobs.get(stuck.id)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "deadline_exceeded"
    assert await world.runtime_status(stuck.id) == "Terminated"
    assert await world.broker.received() == []


async def test_one_failing_job_does_not_stop_the_run(world: World) -> None:
    old = utcnow() - timedelta(minutes=5)
    refused = await world.stores.jobs.create(make_job(created_at=old))
    sent = await world.stores.jobs.create(make_job(created_at=old))
    world.broker.refused_ids.add(refused.id)

    summary = await operations.run_maintenance(world.stores, world.client, now=utcnow())

    assert (summary.redriven, summary.errors) == (1, 1)
    assert [message.message_id for message in await world.broker.received()] == [sent.id]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_expired_jobs_lose_rows_blobs_history_and_event_records(world: World) -> None:
    expired = await world.stores.jobs.create(
        make_job(created_at=utcnow() - timedelta(days=40), status=JobStatus.SUCCEEDED, channel=Channel.LINE)
    )
    kept = await world.stores.jobs.create(
        make_job(created_at=utcnow() - timedelta(days=5), status=JobStatus.SUCCEEDED)
    )
    await world.stores.outputs.save_image(expired.id, 0, _png())
    await world.start(expired.id, finish=True)
    await world.start(deliver_instance_id(expired.id), finish=True)
    assert await world.stores.events.claim("event-claimed-now", job_id=kept.id)
    old_turn = Turn(job_id=expired.id, question="q", answer="a", created_at=expired.created_at)
    new_turn = Turn(job_id=kept.id, question="q", answer="a", created_at=kept.created_at)
    await world.stores.conversations.add_turn("talk", old_turn)
    await world.stores.conversations.add_turn("talk", new_turn)

    # Two days on, the cutoff (30 days back) falls between the 40-day-old job and the 5-day-old one.
    summary = await operations.run_maintenance(world.stores, world.client, now=utcnow() + timedelta(days=2))

    assert (summary.purged, summary.events_purged, summary.turns_purged, summary.errors) == (1, 0, 1, 0)
    assert [turn.job_id for turn in await world.stores.conversations.turns("talk")] == [kept.id]
    assert await world.stores.jobs.find(expired.id) is None
    assert await world.blob_names(expired.id) == []
    assert await world.runtime_status(expired.id) is None
    assert await world.runtime_status(deliver_instance_id(expired.id)) is None
    assert await world.stores.jobs.find(kept.id) is not None

    later = await operations.run_maintenance(world.stores, world.client, now=utcnow() + timedelta(days=31))
    assert (later.events_purged, later.purged) == (1, 1)  # the claim and the job kept above


async def test_redrive_dead_letters_moves_them_back_to_the_queue(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [make_job(kind=JobKind.TEXT), make_job(n=3), make_job()]
    await world.broker.dead_letter([build_service_bus_message(job) for job in jobs])
    await asyncio.sleep(DUPLICATE_WINDOW_SECONDS + 0.5)  # dead-lettered longer ago than the window
    timer = SimpleNamespace(past_due=False)
    # The timer trigger itself is under test: it gets its services where a host-run trigger does.
    monkeypatch.setattr(operations, "services", lambda: world.stores)

    with caplog.at_level(logging.INFO, logger=operations.__name__):
        await operations.redrive_dead_letters._function.get_user_function()(timer)

    assert await world.broker.dead_letters() == []
    moved = await world.broker.received()
    assert [message.message_id for message in moved] == [job.id for job in jobs]
    assert [parse_job_message(b"".join(message.body)) for message in moved] == [job.id for job in jobs]
    assert [message.application_properties[b"n"] for message in moved] == [1, 3, 1]
    assert f"redrive_dead_letters finished: moved=3 queue={QUEUE}" in caplog.text
