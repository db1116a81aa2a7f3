"""An in-memory Service Bus queue behind the subset of `azure.servicebus.aio.ServiceBusClient` the job
queue calls (no emulator runs here). Messages go through real AMQP encoding, so receivers get the
SDK's own `ServiceBusReceivedMessage`s."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from azure.servicebus.exceptions import ServiceBusConnectionError


def wire(message: ServiceBusMessage) -> bytes:
    """The AMQP bytes a message travels as."""
    amqp = PyamqpTransport.to_outgoing_amqp_message(message.raw_amqp_message)
    return bytes(encode_payload(bytearray(), amqp))


def delivered(message: ServiceBusMessage) -> ServiceBusReceivedMessage:
    """The message as a receiver gets it: encoded to AMQP and decoded by the SDK."""
    return ServiceBusReceivedMessage.from_bytes(wire(message))


class Broker:
    """One queue and its dead-letter sub-queue; a message id seen before is dropped (duplicate
    detection). `fail_with` makes every send raise it; a send of an id in `refused_ids` loses the
    connection."""

    def __init__(self) -> None:
        self.active: list[bytes] = []
        self.dead_letters: list[bytes] = []
        self.sent_ids: list[str] = []
        self.fail_with: Exception | None = None
        self.refused_ids: set[str] = set()
        self._seen: set[str] = set()

    def accept(self, message: ServiceBusMessage) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if message.message_id in self.refused_ids:
            raise ServiceBusConnectionError(message="connection lost")
        self.sent_ids.append(str(message.message_id))
        if message.message_id not in self._seen:
            self._seen.add(str(message.message_id))
            self.active.append(wire(message))

    def received(self) -> list[ServiceBusReceivedMessage]:
        return [ServiceBusReceivedMessage.from_bytes(data) for data in self.active]


class FakeSender:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.closed = False

    async def send_messages(self, message: ServiceBusMessage) -> None:
        self._broker.accept(message)

    async def close(self) -> None:
        self.closed = True


class FakeReceiver:
    """Peeks at the queue, or receives and completes dead letters under a lock that lapses when the
    receiver is closed (what was not completed comes back)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._locked: dict[int, bytes] = {}
        self.peeks = 0
        self.closed = False

    async def __aenter__(self) -> FakeReceiver:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def peek_messages(self, *, max_message_count: int) -> list[ServiceBusReceivedMessage]:
        self.peeks += 1
        return self._broker.received()[:max_message_count]

    async def receive_messages(self, *, max_message_count: int, max_wait_time: float) -> list[Any]:
        taken = self._broker.dead_letters[:max_message_count]
        del self._broker.dead_letters[:max_message_count]
        batch = [ServiceBusReceivedMessage.from_bytes(data) for data in taken]
        self._locked.update((id(message), data) for message, data in zip(batch, taken, strict=True))
        return batch

    async def complete_message(self, message: ServiceBusReceivedMessage) -> None:
        del self._locked[id(message)]

    async def close(self) -> None:
        self._broker.dead_letters.extend(self._locked.values())
        self._locked.clear()
        self.closed = True


class FakeServiceBusClient:
    """The part of `ServiceBusClient` the job queue uses, for one queue name."""

    def __init__(self, broker: Broker, *, queue_name: str) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.senders: list[FakeSender] = []
        self.receivers: list[tuple[dict[str, Any], FakeReceiver]] = []
        self.closed = False

    def get_queue_sender(self, *, queue_name: str) -> FakeSender:
        assert queue_name == self.queue_name
        sender = FakeSender(self.broker)
        self.senders.append(sender)
        return sender

    def get_queue_receiver(
        self, *, queue_name: str, sub_queue: ServiceBusSubQueue | None = None, **options: Any
    ) -> FakeReceiver:
        assert queue_name == self.queue_name
        receiver = FakeReceiver(self.broker)
        self.receivers.append(({"sub_queue": sub_queue, **options}, receiver))
        return receiver

    async def close(self) -> None:
        self.closed = True
