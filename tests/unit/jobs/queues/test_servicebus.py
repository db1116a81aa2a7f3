"""Service Bus job queue.

No Service Bus emulator runs here, so: message building is checked on the SDK's real message types;
sending, probing and dead-letter redrive run against `testing.fakes.servicebus`, an in-memory queue
that hands out real `ServiceBusReceivedMessage`s decoded from the AMQP bytes our messages encode to; and a
real client pointed at a closed port shows a connection failure becoming QueueUnavailableError.
"""

from __future__ import annotations

import json
import socket

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusConnectionError

from jobs.domain.errors import QueueUnavailableError
from jobs.domain.messages import parse_job_message
from jobs.domain.models import JobKind
from jobs.queues.servicebus import ServiceBusJobQueue, build_service_bus_message, redrive_copy
from testing.factories import make_job
from testing.fakes.servicebus import Broker, FakeServiceBusClient, delivered, wire


def _queue(client: FakeServiceBusClient) -> ServiceBusJobQueue:
    return ServiceBusJobQueue(client, queue_name="jobs-q")  # type: ignore[arg-type]


def _client() -> FakeServiceBusClient:
    return FakeServiceBusClient(Broker(), queue_name="jobs-q")


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


async def test_send_uses_one_sender() -> None:
    client = _client()
    queue = _queue(client)
    first, second = make_job(), make_job()

    await queue.send(first)
    await queue.send(second)

    assert client.broker.sent_ids == [first.id, second.id]
    assert len(client.senders) == 1
    await queue.close()
    assert client.senders[0].closed and client.closed


async def test_send_failure_becomes_queue_unavailable() -> None:
    cause = ServiceBusConnectionError(message="link detached")
    client = _client()
    client.broker.fail_with = cause
    queue = _queue(client)

    with pytest.raises(QueueUnavailableError) as caught:
        await queue.send(make_job())

    assert caught.value.__cause__ is cause


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


async def test_probe_peeks_without_taking_a_message() -> None:
    client = _client()
    queue = _queue(client)
    job = make_job()
    await queue.send(job)

    await queue.probe()
    await queue.probe()

    [(options, receiver)] = client.receivers
    assert options == {"sub_queue": None}  # the queue itself, not its dead letters
    assert receiver.peeks == 2
    assert [message.message_id for message in client.broker.received()] == [job.id]  # still there
    await queue.close()
    assert receiver.closed


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


async def test_redrive_dead_letters_resends_then_completes() -> None:
    jobs = [make_job() for _ in range(5)]
    client = _client()
    client.broker.dead_letters.extend(wire(build_service_bus_message(job)) for job in jobs)
    queue = _queue(client)

    assert await queue.redrive(limit=3) == 3
    assert await queue.redrive(limit=1000) == 2
    assert await queue.redrive() == 0

    assert {options["sub_queue"] for options, _ in client.receivers} == {ServiceBusSubQueue.DEAD_LETTER}
    assert client.broker.sent_ids == [job.id for job in jobs]
    assert client.broker.dead_letters == []


async def test_redrive_stops_before_completing_what_it_could_not_send() -> None:
    dead = wire(build_service_bus_message(make_job()))
    client = _client()
    client.broker.dead_letters.append(dead)
    client.broker.fail_with = ServiceBusConnectionError(message="down")

    with pytest.raises(ServiceBusConnectionError):
        await _queue(client).redrive()

    assert client.broker.dead_letters == [dead]  # not completed: its lock lapsed and it is back
