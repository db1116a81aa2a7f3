"""The emulator through the real azure-servicebus SDK (sync): every operation and failure answer."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusError,
)

from devhost.servicebus.server import Emulator
from testing.devhost import wait_for


def test_every_property_round_trips(client: ServiceBusClient) -> None:
    sent = ServiceBusMessage(
        b'{"job_id": "a"}',
        message_id="m-1",
        content_type="application/json",
        correlation_id="corr-1",
        subject="subject-1",
        application_properties={"kind": "image", "n": 2},
    )
    with client.get_queue_sender("plain") as sender:
        sender.send_messages(sent)
    with client.get_queue_receiver("plain", max_wait_time=5) as receiver:
        [message] = receiver.receive_messages(max_message_count=1, max_wait_time=5)
        assert b"".join(message.body) == b'{"job_id": "a"}'
        assert (message.message_id, message.content_type, message.correlation_id, message.subject) == (
            "m-1",
            "application/json",
            "corr-1",
            "subject-1",
        )
        assert message.application_properties == {b"kind": b"image", b"n": 2}
        assert message.sequence_number is not None and message.sequence_number > 0
        assert message.delivery_count == 0  # Python shows the AMQP header's count of earlier deliveries
        now = datetime.now(UTC)
        assert message.enqueued_time_utc is not None and abs(message.enqueued_time_utc - now) < timedelta(
            seconds=5
        )
        assert message.locked_until_utc is not None and message.locked_until_utc > now + timedelta(seconds=50)
        assert message.lock_token is not None
        receiver.complete_message(message)
        assert receiver.peek_messages(max_message_count=5) == []


def test_batch_send_and_receive_and_delete(client: ServiceBusClient) -> None:
    with client.get_queue_sender("plain") as sender:
        batch = sender.create_message_batch()
        for index in range(3):
            batch.add_message(ServiceBusMessage(f"m{index}", message_id=f"b{index}"))
        sender.send_messages(batch)
        sender.send_messages([ServiceBusMessage("m3", message_id="b3")])
    with client.get_queue_receiver(
        "plain", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
    ) as receiver:
        got = receiver.receive_messages(max_message_count=10, max_wait_time=3)
        assert [m.message_id for m in got] == ["b0", "b1", "b2", "b3"]
        assert [str(m) for m in got] == ["m0", "m1", "m2", "m3"]
        assert receiver.peek_messages(max_message_count=10) == []


def test_oversize_message_is_refused(client: ServiceBusClient) -> None:
    with client.get_queue_sender("plain") as sender, pytest.raises(MessageSizeExceededError):
        sender.send_messages(ServiceBusMessage(b"x" * (256 * 1024 + 1)))
    with client.get_queue_receiver("plain") as receiver:
        assert receiver.peek_messages(max_message_count=5) == []


def test_abandon_counts_a_delivery_and_dead_letter_keeps_reason(client: ServiceBusClient) -> None:
    with client.get_queue_sender("plain") as sender:
        sender.send_messages(ServiceBusMessage("again", message_id="ab-1"))
    with client.get_queue_receiver("plain", max_wait_time=3) as receiver:
        [first] = receiver.receive_messages(max_wait_time=3)
        receiver.abandon_message(first)
        [second] = receiver.receive_messages(max_wait_time=3)
        assert (second.message_id, second.delivery_count) == ("ab-1", 1)
        receiver.dead_letter_message(second, reason="bad-input", error_description="no such job")
    with client.get_queue_receiver("plain", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
        [message] = dead.receive_messages(max_wait_time=3)
        assert (message.message_id, message.dead_letter_reason, message.dead_letter_error_description) == (
            "ab-1",
            "bad-input",
            "no such job",
        )
        assert message.dead_letter_source == "plain"
        dead.complete_message(message)


def test_defer_then_receive_deferred_by_sequence_number(client: ServiceBusClient) -> None:
    with client.get_queue_sender("plain") as sender:
        sender.send_messages(ServiceBusMessage("later", message_id="d-1"))
    with client.get_queue_receiver("plain", max_wait_time=3) as receiver:
        [message] = receiver.receive_messages(max_wait_time=3)
        receiver.defer_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []
        [deferred] = receiver.receive_deferred_messages([message.sequence_number])
        assert deferred.message_id == "d-1"
        receiver.complete_message(deferred)
        with pytest.raises(ServiceBusError):
            receiver.receive_deferred_messages([message.sequence_number])


def test_schedule_cancel_and_peek(client: ServiceBusClient, emulator: Emulator) -> None:
    with client.get_queue_sender("plain") as sender:
        soon = datetime.now(UTC) + timedelta(seconds=3)
        [kept] = sender.schedule_messages(ServiceBusMessage("soon", message_id="s-1"), soon)
        [dropped] = sender.schedule_messages(ServiceBusMessage("never", message_id="s-2"), soon)
        sender.cancel_scheduled_messages(dropped)
    with client.get_queue_receiver("plain") as receiver:
        peeked = receiver.peek_messages(max_message_count=10)
        assert [(m.sequence_number, m.message_id) for m in peeked] == [(kept, "s-1")]
        assert peeked[0].scheduled_enqueue_time_utc is not None
        assert emulator.store is not None and emulator.store.counts("plain")["scheduled"] == 1
        [message] = receiver.receive_messages(max_wait_time=10)
        assert message.message_id == "s-1"
        receiver.complete_message(message)


def test_duplicate_detection_drops_a_second_send(client: ServiceBusClient) -> None:
    with client.get_queue_sender("dedupe") as sender:
        sender.send_messages(ServiceBusMessage("one", message_id="same"))
        sender.send_messages(ServiceBusMessage("two", message_id="same"))
        sender.send_messages(ServiceBusMessage("three", message_id="other"))
    with client.get_queue_receiver("dedupe") as receiver:
        assert [str(m) for m in receiver.peek_messages(max_message_count=10)] == ["one", "three"]


def test_lock_expiry_redelivers_then_dead_letters_past_max_delivery_count(client: ServiceBusClient) -> None:
    with client.get_queue_sender("short-lock") as sender:
        sender.send_messages(ServiceBusMessage("stuck", message_id="l-1"))
    with client.get_queue_receiver("short-lock", max_wait_time=3) as receiver:
        [first] = receiver.receive_messages(max_wait_time=3)
        [second] = receiver.receive_messages(max_wait_time=5)  # after the 1 s lock ran out
        assert (second.message_id, second.delivery_count) == ("l-1", 1)
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(first)
    with client.get_queue_receiver("short-lock", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
        [message] = dead.receive_messages(max_wait_time=5)
        assert message.dead_letter_reason == "MaxDeliveryCountExceeded"
        dead.complete_message(message)


def test_renew_lock_and_lock_lost_answers(client: ServiceBusClient) -> None:
    with client.get_queue_sender("short-lock") as sender:
        sender.send_messages(ServiceBusMessage("renew me", message_id="r-1"))
    with client.get_queue_receiver("short-lock", max_wait_time=3) as receiver:
        [message] = receiver.receive_messages(max_wait_time=3)
        first_until = message.locked_until_utc
        time.sleep(0.5)
        renewed = receiver.renew_message_lock(message)
        assert first_until is not None and renewed > first_until
        time.sleep(1.3)
        # A client whose clock runs behind still believes in the lock: the service's answer decides.
        message._expiry = datetime.now(UTC) + timedelta(minutes=1)
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(message)


def test_settling_twice_fails(client: ServiceBusClient) -> None:
    with client.get_queue_sender("plain") as sender:
        sender.send_messages(ServiceBusMessage("once"))
    with client.get_queue_receiver("plain", max_wait_time=3) as receiver:
        [message] = receiver.receive_messages(max_wait_time=3)
        receiver.complete_message(message)
        with pytest.raises(MessageAlreadySettled):
            receiver.complete_message(message)


def test_ttl_expiry_dead_letters_when_enabled_and_drops_otherwise(
    client: ServiceBusClient, emulator: Emulator
) -> None:
    with client.get_queue_sender("expiring") as sender:
        sender.send_messages(ServiceBusMessage("old", message_id="t-1"))
    with client.get_queue_sender("vanishing") as sender:
        sender.send_messages(ServiceBusMessage("old", message_id="t-2"))
    assert emulator.store is not None
    wait_for(lambda: emulator.store is not None and emulator.store.counts("expiring")["dead"] == 1, timeout=5)
    wait_for(
        lambda: emulator.store is not None and emulator.store.counts("vanishing")["active"] == 0, timeout=5
    )
    with client.get_queue_receiver("expiring", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
        [message] = dead.receive_messages(max_wait_time=3)
        assert (message.message_id, message.dead_letter_reason) == ("t-1", "TTLExpiredException")
        dead.complete_message(message)
    assert emulator.store.counts("vanishing")["dead"] == 0


def test_unknown_queue_is_not_found(client: ServiceBusClient) -> None:
    with pytest.raises(MessagingEntityNotFoundError), client.get_queue_receiver("no-such-queue") as receiver:
        receiver.receive_messages(max_wait_time=2)


def test_wrong_key_is_an_authentication_error(emulator: Emulator) -> None:
    wrong = emulator.connection_string.replace("test-dummy-key", "not-the-key")
    with (
        ServiceBusClient.from_connection_string(wrong, retry_total=0) as bus,
        pytest.raises(ServiceBusAuthenticationError),
        bus.get_queue_sender("plain") as sender,
    ):
        sender.send_messages(ServiceBusMessage("x"))


def test_a_sender_to_an_unknown_queue_is_not_found(client: ServiceBusClient) -> None:
    with pytest.raises(MessagingEntityNotFoundError), client.get_queue_sender("no-such-queue") as sender:
        sender.send_messages(ServiceBusMessage("x"))


def test_sessions_are_refused_not_hung(client: ServiceBusClient) -> None:
    with client.get_queue_sender("plain") as sender, pytest.raises(ServiceBusError):
        sender.send_messages(ServiceBusMessage("x", session_id=str(uuid.uuid4())))
    with (
        pytest.raises(ServiceBusError),
        client.get_queue_receiver("plain", session_id="s", max_wait_time=2) as r,
    ):
        r.receive_messages(max_wait_time=1)
