"""Service Bus job queue.

Message building is checked on the SDK's real message types; sending, the probe and dead-letter
redrive run through the real SDK against devhost's Service Bus emulator (in this process); a real
client pointed at a closed port or signing with a wrong key shows failures becoming
QueueUnavailableError. Only a send that fails midway through a redrive needs a stand-in sender.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from azure.servicebus import (
    ServiceBusMessage,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusConnectionError

from devhost.servicebus.entities import QueueConfig
from devhost.servicebus.server import Emulator
from jobs.contracts import parse_job_message
from jobs.domain.errors import QueueUnavailableError
from jobs.domain.models import Job, JobKind
from jobs.queues.servicebus import ServiceBusJobQueue, build_service_bus_message, redrive_copy
from testing.factories import make_job
from testing.servicebus import running_emulator


def delivered(message: ServiceBusMessage) -> ServiceBusReceivedMessage:
    """The message as a receiver gets it: encoded to AMQP and decoded by the SDK."""
    amqp = PyamqpTransport.to_outgoing_amqp_message(message.raw_amqp_message)
    return ServiceBusReceivedMessage.from_bytes(bytes(encode_payload(bytearray(), amqp)))


class Sender:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.sent: list[ServiceBusMessage] = []
        self.fail_with = fail_with
        self.closed = False

    async def send_messages(self, message: ServiceBusMessage) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)

    async def close(self) -> None:
        self.closed = True


QUEUE = "jobs-q"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator([QueueConfig(name=QUEUE)], tmp_path_factory.mktemp("servicebus")) as server:
        yield server


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[ServiceBusClient]:
    """A real client; the queue is emptied first (the module shares one emulator)."""
    async with ServiceBusClient.from_connection_string(emulator.connection_string) as bus:
        for sub_queue in (None, ServiceBusSubQueue.DEAD_LETTER):
            async with bus.get_queue_receiver(QUEUE, sub_queue=sub_queue,
                                              receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as drain:
                while await drain.receive_messages(max_message_count=50, max_wait_time=0.2):
                    pass
        yield bus


async def _peek(bus: ServiceBusClient, *, dead: bool = False) -> list[ServiceBusReceivedMessage]:
    sub_queue = ServiceBusSubQueue.DEAD_LETTER if dead else None
    async with bus.get_queue_receiver(QUEUE, sub_queue=sub_queue) as receiver:
        return list(await receiver.peek_messages(max_message_count=50))


async def _dead_letter(bus: ServiceBusClient, jobs: list[Job]) -> None:
    async with bus.get_queue_sender(QUEUE) as sender:
        await sender.send_messages([build_service_bus_message(job) for job in jobs])
    async with bus.get_queue_receiver(QUEUE) as receiver:
        for message in await receiver.receive_messages(max_message_count=len(jobs), max_wait_time=5):
            await receiver.dead_letter_message(message, reason="test")


def test_message_carries_job_id_kind_and_count() -> None:
    job = make_job(kind=JobKind.IMAGE, n=3)
    message = build_service_bus_message(job)

    assert isinstance(message, ServiceBusMessage)
    assert message.message_id == job.id
    assert message.application_properties == {"kind": "image", "n": 3}
    assert message.content_type == "application/json"
    assert json.loads(str(message)) == {"job_id": job.id, "outputs": 3}


def test_message_survives_the_wire() -> None:
    job = make_job(kind=JobKind.TEXT)
    received = delivered(build_service_bus_message(job))

    assert received.message_id == job.id
    assert received.application_properties == {b"kind": b"text", b"n": 1}
    assert parse_job_message(b"".join(received.body)) == job.id


async def test_send_uses_one_sender(emulator: Emulator, client: ServiceBusClient,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = client.get_queue_sender

    def counting(**kwargs: Any) -> Any:
        made.append(kwargs["queue_name"])
        return real(**kwargs)

    monkeypatch.setattr(client, "get_queue_sender", counting)
    queue = ServiceBusJobQueue(client, queue_name=QUEUE)
    first, second = make_job(), make_job()

    await queue.send(first)
    await queue.send(second)

    assert [m.message_id for m in await _peek(client)] == [first.id, second.id]
    assert made == [QUEUE]
    await queue.close()


async def test_send_with_a_wrong_key_becomes_queue_unavailable(emulator: Emulator) -> None:
    wrong = emulator.connection_string.replace("test-dummy-key", "not-the-key")
    bus = ServiceBusClient.from_connection_string(wrong, retry_total=0)
    queue = ServiceBusJobQueue(bus, queue_name=QUEUE)
    try:
        with pytest.raises(QueueUnavailableError) as caught:
            await queue.send(make_job())
        assert isinstance(caught.value.__cause__, ServiceBusAuthenticationError)
    finally:
        await queue.close()


def _unreachable() -> str:
    """A connection string to a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the socket is closed
    return (
        f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=not-a-real-key;UseDevelopmentEmulator=true;"
    )


async def test_real_client_that_cannot_connect_raises_queue_unavailable() -> None:
    queue = ServiceBusJobQueue(ServiceBusClient.from_connection_string(_unreachable(), retry_total=0))
    try:
        with pytest.raises(QueueUnavailableError) as caught:
            await queue.send(make_job())
        assert isinstance(caught.value.__cause__, ServiceBusConnectionError)
    finally:
        await queue.close()


async def test_probe_peeks_without_taking_a_message(client: ServiceBusClient) -> None:
    job = make_job()
    async with client.get_queue_sender(QUEUE) as sender:
        await sender.send_messages(build_service_bus_message(job))
    queue = ServiceBusJobQueue(client, queue_name=QUEUE)

    await queue.probe()
    await queue.probe()

    [waiting] = await _peek(client)
    assert (waiting.message_id, waiting.delivery_count) == (job.id, 0)  # still there, never delivered
    await queue.close()


async def test_probe_of_a_queue_that_cannot_be_reached_raises() -> None:
    queue = ServiceBusJobQueue(ServiceBusClient.from_connection_string(_unreachable(), retry_total=0))
    try:
        with pytest.raises(ServiceBusConnectionError):
            await queue.probe()
    finally:
        await queue.close()


def test_redrive_copy_keeps_body_id_and_properties() -> None:
    job = make_job(n=2)
    copy = redrive_copy(delivered(build_service_bus_message(job)))

    assert copy.message_id == job.id
    assert copy.application_properties == {"kind": "image", "n": 2}
    assert copy.content_type == "application/json"
    assert json.loads(str(copy)) == {"job_id": job.id, "outputs": 2}


async def test_redrive_dead_letters_resends_then_completes(client: ServiceBusClient) -> None:
    jobs = [make_job() for _ in range(5)]
    await _dead_letter(client, jobs)
    queue = ServiceBusJobQueue(client, queue_name=QUEUE)

    assert await queue.redrive(limit=3) == 3
    assert await queue.redrive(limit=1000) == 2
    assert await queue.redrive() == 0

    back = await _peek(client)
    assert sorted(m.message_id for m in back) == sorted(job.id for job in jobs)
    # The service keeps the dead-letter reason among the application properties; the copy carries it.
    kept = [{key: m.application_properties[key] for key in (b"kind", b"n")} for m in back]
    assert kept == [{b"kind": b"image", b"n": 1}] * 5
    assert await _peek(client, dead=True) == []
    await queue.close()


async def test_redrive_stops_before_completing_what_it_could_not_send(
    client: ServiceBusClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = make_job()
    await _dead_letter(client, [job])
    # The one stand-in: a sender that fails while the real dead-letter receiver works.
    monkeypatch.setattr(client, "get_queue_sender",
                        lambda **_: Sender(fail_with=ServiceBusConnectionError(message="down")))

    with pytest.raises(ServiceBusConnectionError):
        await ServiceBusJobQueue(client, queue_name=QUEUE).redrive()

    assert [m.message_id for m in await _peek(client, dead=True)] == [job.id]
