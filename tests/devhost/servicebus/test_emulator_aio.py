"""The emulator through the real azure-servicebus SDK's `aio` client: the same operations and answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
)

from devhost.servicebus.server import Emulator


def _client(emulator: Emulator, connection_string: str | None = None) -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(
        connection_string or emulator.connection_string, retry_total=0
    )


async def test_send_receive_settle_round_trip(emulator: Emulator) -> None:
    async with _client(emulator) as bus:
        async with bus.get_queue_sender("plain") as sender:
            await sender.send_messages(
                ServiceBusMessage(b"one", message_id="a-1", subject="s", application_properties={"k": "v"})
            )
            await sender.send_messages(
                [ServiceBusMessage(b"two", message_id="a-2"), ServiceBusMessage(b"three", message_id="a-3")]
            )
        async with bus.get_queue_receiver("plain") as receiver:
            got = await receiver.receive_messages(max_message_count=3, max_wait_time=5)
            assert [m.message_id for m in got] == ["a-1", "a-2", "a-3"]
            assert (got[0].subject, got[0].application_properties) == ("s", {b"k": b"v"})
            await receiver.complete_message(got[0])
            with pytest.raises(MessageAlreadySettled):
                await receiver.complete_message(got[0])
            await receiver.abandon_message(got[1])
            await receiver.dead_letter_message(got[2], reason="why", error_description="because")
            [again] = await receiver.receive_messages(max_wait_time=5)
            assert (again.message_id, again.delivery_count) == ("a-2", 1)
            await receiver.defer_message(again)
            [deferred] = await receiver.receive_deferred_messages([again.sequence_number])
            await receiver.complete_message(deferred)
        async with bus.get_queue_receiver(
            "plain",
            sub_queue=ServiceBusSubQueue.DEAD_LETTER,
            receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE,
        ) as dead:
            [message] = await dead.receive_messages(max_wait_time=5)
            assert (message.message_id, message.dead_letter_reason) == ("a-3", "why")
            assert await dead.peek_messages(max_message_count=5) == []


async def test_schedule_peek_renew_and_lock_lost(emulator: Emulator) -> None:
    async with _client(emulator) as bus:
        async with bus.get_queue_sender("short-lock") as sender:
            [number] = await sender.schedule_messages(
                ServiceBusMessage("s", message_id="sch-1"), datetime.now(UTC) + timedelta(seconds=1)
            )
        async with bus.get_queue_receiver("short-lock") as receiver:
            [peeked] = await receiver.peek_messages(max_message_count=5)
            assert peeked.sequence_number == number
            [message] = await receiver.receive_messages(max_wait_time=10)
            renewed = await receiver.renew_message_lock(message)
            assert message.locked_until_utc == renewed
            [again] = await receiver.receive_messages(max_wait_time=10)  # the lock ran out meanwhile
            assert again.message_id == "sch-1"
            with pytest.raises(MessageLockLostError):
                await receiver.complete_message(message)
            await receiver.complete_message(again)


async def test_failure_answers(emulator: Emulator) -> None:
    async with _client(emulator) as bus:
        async with bus.get_queue_sender("plain") as sender:
            with pytest.raises(MessageSizeExceededError):
                await sender.send_messages(ServiceBusMessage(b"x" * (300 * 1024)))
        with pytest.raises(MessagingEntityNotFoundError):
            async with bus.get_queue_receiver("missing") as receiver:
                await receiver.receive_messages(max_wait_time=2)
        with pytest.raises(MessagingEntityNotFoundError):
            async with bus.get_queue_sender("missing") as sender:
                await sender.send_messages(ServiceBusMessage("x"))
    wrong = emulator.connection_string.replace("test-dummy-key", "wrong-key")
    async with _client(emulator, wrong) as bus:
        with pytest.raises(ServiceBusAuthenticationError):
            async with bus.get_queue_sender("plain") as sender:
                await sender.send_messages(ServiceBusMessage("x"))
