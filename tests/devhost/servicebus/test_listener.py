"""devhost's Service Bus trigger listener against the emulator: metadata, completion, abandon to the
dead-letter queue, lock renewal while a function runs, and maxConcurrentCalls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import azure.functions as func
import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient

from devhost.functions import FunctionSpec
from devhost.invoker import Invoker
from devhost.servicebus.listener import ServiceBusListener
from devhost.servicebus.server import Emulator
from devhost.settings import ServiceBusOptions

Handler = Callable[[func.ServiceBusMessage], Coroutine[Any, Any, None]]


def _spec(queue: str, handler: Handler) -> FunctionSpec:
    async def function(msg: func.ServiceBusMessage) -> None:
        await handler(msg)

    trigger = {"type": "serviceBusTrigger", "name": "msg", "queueName": queue, "connection": "TEST_BUS"}
    return FunctionSpec(name=f"on_{queue}", trigger=trigger, bindings=(trigger,), func=function)


@pytest.fixture
async def bus(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ServiceBusClient]:
    monkeypatch.setenv("TEST_BUS", emulator.connection_string)
    async with ServiceBusClient.from_connection_string(emulator.connection_string) as client:
        yield client


async def _listen(
    queue: str, handler: Handler, options: ServiceBusOptions
) -> tuple[ServiceBusListener, Invoker, asyncio.Task[None]]:
    invoker = Invoker()
    listener = ServiceBusListener(_spec(queue, handler), options=options, invoker=invoker)
    return listener, invoker, asyncio.create_task(listener.run())


async def _stop(listener: ServiceBusListener, invoker: Invoker, task: asyncio.Task[None]) -> None:
    listener.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await invoker.drain(5)
    await listener.close()


async def _send(bus: ServiceBusClient, queue: str, *messages: ServiceBusMessage) -> None:
    async with bus.get_queue_sender(queue) as sender:
        await sender.send_messages(list(messages))


async def test_message_arrives_with_metadata_and_is_completed(
    bus: ServiceBusClient, emulator: Emulator
) -> None:
    seen: list[func.ServiceBusMessage] = []
    arrived = asyncio.Event()

    async def handler(msg: func.ServiceBusMessage) -> None:
        seen.append(msg)
        arrived.set()

    listener, invoker, task = await _listen("plain", handler, ServiceBusOptions())
    try:
        await _send(
            bus,
            "plain",
            ServiceBusMessage(
                b'{"job_id": "x"}',
                message_id="meta-1",
                subject="sub",
                content_type="application/json",
                application_properties={"kind": "image"},
            ),
        )
        await asyncio.wait_for(arrived.wait(), timeout=10)
    finally:
        await _stop(listener, invoker, task)
    [message] = seen
    assert message.get_body() == b'{"job_id": "x"}'
    assert (message.message_id, message.subject, message.content_type) == (
        "meta-1",
        "sub",
        "application/json",
    )
    assert message.application_properties == {"kind": "image"}
    assert message.delivery_count == 1  # the Functions host counts this delivery
    assert message.sequence_number is not None and message.enqueued_time_utc is not None
    assert emulator.store is not None and emulator.store.counts("plain")["active"] == 0


async def test_a_failing_function_sends_the_message_to_the_dead_letter_queue(bus: ServiceBusClient) -> None:
    attempts: list[int | None] = []

    async def handler(msg: func.ServiceBusMessage) -> None:
        attempts.append(msg.delivery_count)
        raise RuntimeError("always fails")

    listener, invoker, task = await _listen("short-lock", handler, ServiceBusOptions())
    try:
        await _send(bus, "short-lock", ServiceBusMessage("poison", message_id="fail-1"))
        async with bus.get_queue_receiver("short-lock", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
            [message] = await dead.receive_messages(max_wait_time=15)
            assert (message.message_id, message.dead_letter_reason) == ("fail-1", "MaxDeliveryCountExceeded")
            await dead.complete_message(message)
    finally:
        await _stop(listener, invoker, task)
    assert attempts == [1, 2]  # maxDeliveryCount of the short-lock queue


async def test_the_lock_is_renewed_while_a_slow_function_runs(bus: ServiceBusClient) -> None:
    runs: list[str] = []

    async def handler(msg: func.ServiceBusMessage) -> None:
        runs.append(str(msg.message_id))
        await asyncio.sleep(3)  # three times the queue's 1 s lock

    listener, invoker, task = await _listen("short-lock", handler, ServiceBusOptions())
    try:
        await _send(bus, "short-lock", ServiceBusMessage("slow", message_id="slow-1"))
        async with bus.get_queue_receiver("short-lock") as receiver:
            for _ in range(50):
                if runs and not invoker.in_flight:
                    break
                await asyncio.sleep(0.1)
            assert runs and not invoker.in_flight, "the slow function did not finish within 5 s"
            assert await receiver.peek_messages(max_message_count=5) == []
    finally:
        await _stop(listener, invoker, task)
    assert runs == ["slow-1"]  # completed once, never redelivered


async def test_max_concurrent_calls_bounds_the_running_invocations(bus: ServiceBusClient) -> None:
    running = 0
    peak = 0
    finished = 0

    async def handler(msg: func.ServiceBusMessage) -> None:
        nonlocal running, peak, finished
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.3)
        running -= 1
        finished += 1

    listener, invoker, task = await _listen("plain", handler, ServiceBusOptions(max_concurrent_calls=2))
    try:
        await _send(bus, "plain", *(ServiceBusMessage(f"m{i}") for i in range(6)))
        for _ in range(100):
            if finished == 6:
                break
            await asyncio.sleep(0.1)
    finally:
        await _stop(listener, invoker, task)
    assert finished == 6
    assert peak == 2


async def test_shutdown_lets_a_running_invocation_finish_and_complete(bus: ServiceBusClient) -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def handler(msg: func.ServiceBusMessage) -> None:
        started.set()
        await asyncio.sleep(1)
        finished.append(str(msg.message_id))

    listener, invoker, task = await _listen("plain", handler, ServiceBusOptions())
    await _send(bus, "plain", ServiceBusMessage("in flight", message_id="shutdown-1"))
    await asyncio.wait_for(started.wait(), timeout=10)
    await _stop(listener, invoker, task)  # as the host stops: loops cancelled, then the drain

    assert finished == ["shutdown-1"]
    async with bus.get_queue_receiver("plain") as receiver:
        assert await receiver.peek_messages(max_message_count=5) == []  # completed, not left locked
