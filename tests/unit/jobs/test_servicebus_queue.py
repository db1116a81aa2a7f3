"""Service Bus job queue.

No Service Bus emulator runs here, so: message building is checked on the SDK's real message types;
sending and dead-letter redrive run against a small in-memory stand-in for the client that hands
out real `ServiceBusReceivedMessage`s decoded from the AMQP bytes our own messages encode to; and a
real client pointed at a closed port shows a connection failure becoming QueueUnavailableError.
"""

from __future__ import annotations

import json
import socket
from types import TracebackType
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusConnectionError

from jobs.domain.errors import QueueUnavailableError
from jobs.domain.messages import parse_job_message
from jobs.domain.models import JobKind
from jobs.queues.servicebus import ServiceBusJobQueue, build_service_bus_message, redrive_copy
from tests.factories import make_job


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


class DeadLetterReceiver:
    def __init__(self, messages: list[ServiceBusReceivedMessage]) -> None:
        self.pending = list(messages)
        self.completed: list[ServiceBusReceivedMessage] = []
        self.peeked = 0
        self.closed = False

    async def __aenter__(self) -> DeadLetterReceiver:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    async def receive_messages(self, *, max_message_count: int, max_wait_time: float) -> list[Any]:
        batch, self.pending = self.pending[:max_message_count], self.pending[max_message_count:]
        return batch

    async def complete_message(self, message: ServiceBusReceivedMessage) -> None:
        self.completed.append(message)

    async def peek_messages(self, *, max_message_count: int) -> list[Any]:
        self.peeked += 1
        return self.pending[:max_message_count]

    async def close(self) -> None:
        self.closed = True


class Client:
    """The subset of `azure.servicebus.aio.ServiceBusClient` the queue calls."""

    def __init__(self, sender: Sender, dead_letters: list[ServiceBusReceivedMessage] | None = None) -> None:
        self.sender = sender
        self.receiver = DeadLetterReceiver(dead_letters or [])
        self.senders_made = 0
        self.receiver_args: dict[str, Any] = {}
        self.closed = False

    def get_queue_sender(self, *, queue_name: str) -> Sender:
        self.senders_made += 1
        return self.sender

    def get_queue_receiver(self, **kwargs: Any) -> DeadLetterReceiver:
        self.receiver_args = kwargs
        return self.receiver

    async def close(self) -> None:
        self.closed = True


def _queue(client: Client) -> ServiceBusJobQueue:
    return ServiceBusJobQueue(client, queue_name="jobs-q")  # type: ignore[arg-type]


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
    client = Client(Sender())
    queue = _queue(client)
    first, second = make_job(), make_job()

    await queue.send(first)
    await queue.send(second)

    assert [m.message_id for m in client.sender.sent] == [first.id, second.id]
    assert client.senders_made == 1
    await queue.close()
    assert client.sender.closed and client.closed


async def test_send_failure_becomes_queue_unavailable() -> None:
    cause = ServiceBusConnectionError(message="link detached")
    queue = _queue(Client(Sender(fail_with=cause)))

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
    waiting = [delivered(build_service_bus_message(make_job()))]
    client = Client(Sender(), dead_letters=waiting)
    queue = _queue(client)

    await queue.probe()
    await queue.probe()

    assert client.receiver.peeked == 2
    assert client.receiver_args == {"queue_name": "jobs-q"}  # the queue itself, not its dead letters
    assert client.receiver.pending == waiting and client.receiver.completed == []
    await queue.close()
    assert client.receiver.closed


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
    dead = [delivered(build_service_bus_message(job)) for job in jobs]
    client = Client(Sender(), dead_letters=dead)
    queue = _queue(client)

    assert await queue.redrive(limit=3) == 3
    assert await queue.redrive(limit=1000) == 2
    assert await queue.redrive() == 0

    assert client.receiver_args["sub_queue"] == ServiceBusSubQueue.DEAD_LETTER
    assert client.receiver_args["queue_name"] == "jobs-q"
    assert [m.message_id for m in client.sender.sent] == [job.id for job in jobs]
    assert client.receiver.completed == dead


async def test_redrive_stops_before_completing_what_it_could_not_send() -> None:
    dead = [delivered(build_service_bus_message(make_job()))]
    client = Client(Sender(fail_with=ServiceBusConnectionError(message="down")), dead_letters=dead)

    with pytest.raises(ServiceBusConnectionError):
        await _queue(client).redrive()

    assert client.receiver.completed == []
