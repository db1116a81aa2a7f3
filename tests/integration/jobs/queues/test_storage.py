"""StorageJobQueue on real Azurite: message format, lazy queue creation, failures, poison redrive."""

from __future__ import annotations

import base64
import json
import socket

import pytest
from azure.storage.queue.aio import QueueServiceClient

from jobs.config.connections import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from jobs.contracts import parse_job_message
from jobs.domain.errors import QueueUnavailableError
from jobs.queues.storage import StorageJobQueue
from testing.factories import make_job


async def _drain(service: QueueServiceClient, name: str) -> list[str]:
    client = service.get_queue_client(name)
    return [message.content async for message in client.receive_messages(max_messages=32)]


async def test_send_creates_the_queue_and_writes_base64_json(
    storage_queue: StorageJobQueue, queue_service: QueueServiceClient
) -> None:
    job = make_job()

    await storage_queue.send(job)

    [raw] = await _drain(queue_service, storage_queue.queue_name)
    assert json.loads(base64.b64decode(raw, validate=True)) == {"job_id": job.id, "outputs": 1}
    assert parse_job_message(raw) == job.id


async def test_send_to_an_unreachable_account_raises_queue_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT_NAME};"
    )
    service = QueueServiceClient.from_connection_string(connection, retry_total=0, connection_timeout=1)
    async with service:
        with pytest.raises(QueueUnavailableError) as caught:
            await StorageJobQueue(service, queue_name="unreachable").send(make_job())
    assert caught.value.__cause__ is not None


async def test_redrive_poison_moves_messages_back(
    storage_queue: StorageJobQueue, queue_service: QueueServiceClient
) -> None:
    poison = queue_service.get_queue_client(f"{storage_queue.queue_name}-poison")
    await poison.create_queue()
    jobs = [make_job() for _ in range(3)]
    sent = []
    for job in jobs:
        text = base64.b64encode(json.dumps({"job_id": job.id}).encode()).decode()
        sent.append(text)
        await poison.send_message(text)

    assert await storage_queue.redrive(limit=2) == 2
    assert await storage_queue.redrive(limit=10) == 1
    assert await storage_queue.redrive() == 0

    moved = await _drain(queue_service, storage_queue.queue_name)
    assert sorted(moved) == sorted(sent)  # verbatim, so the host decodes them as before
    assert await _drain(queue_service, f"{storage_queue.queue_name}-poison") == []


async def test_redrive_without_a_poison_queue_moves_nothing(storage_queue: StorageJobQueue) -> None:
    assert await storage_queue.redrive() == 0


async def test_depth_counts_waiting_and_poisoned_messages(
    storage_queue: StorageJobQueue, queue_service: QueueServiceClient
) -> None:
    assert await storage_queue.depth() == (0, 0)  # neither queue exists yet
    for _ in range(3):
        await storage_queue.send(make_job())
    poison = queue_service.get_queue_client(f"{storage_queue.queue_name}-poison")
    await poison.create_queue()
    await poison.send_message("eyJqb2JfaWQiOiAieCJ9")

    assert await storage_queue.depth() == (3, 1)
