"""Health probes against real Azurite services, and against an endpoint where nothing listens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import ACCOUNT_KEY, ACCOUNT_NAME
from jobs.blobs.outputs import OutputStore
from jobs.queues.storage import StorageJobQueue
from jobs.tables.store import JobStore
from status.health import Probe, dependency_states, health_response, probe_blob, probe_table

# Port 9 (discard) has no listener here: every request fails to connect.
DEAD_STORAGE = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
    f"TableEndpoint=http://127.0.0.1:9/{ACCOUNT_NAME};QueueEndpoint=http://127.0.0.1:9/{ACCOUNT_NAME};"
)


@pytest.fixture
async def job_queue(queue_service: QueueServiceClient, unique_name: str) -> AsyncIterator[StorageJobQueue]:
    queue = StorageJobQueue(queue_service, queue_name=unique_name)
    yield queue
    await queue.close()


async def test_every_dependency_ok_is_200(
    job_store: JobStore, output_store: OutputStore, job_queue: StorageJobQueue
) -> None:
    probes: dict[str, Probe] = {
        "table": lambda: probe_table(job_store),
        "blob": lambda: probe_blob(output_store),
        "queue": job_queue.probe,
    }
    response = health_response(await dependency_states(probes, seconds=5))
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {
        "status": "ok", "dependencies": {"table": "ok", "blob": "ok", "queue": "ok"}}


async def test_unreachable_dependencies_are_named_in_a_503(
    output_store: OutputStore, unique_name: str
) -> None:
    async with TableServiceClient.from_connection_string(DEAD_STORAGE) as dead_tables:
        dead_service = QueueServiceClient.from_connection_string(DEAD_STORAGE)
        dead_queue = StorageJobQueue(dead_service, queue_name=unique_name)
        probes: dict[str, Probe] = {
            "table": lambda: probe_table(JobStore(dead_tables, jobs_table=f"{unique_name}jobs")),
            "blob": lambda: probe_blob(output_store),
            "queue": dead_queue.probe,
        }
        response = health_response(await dependency_states(probes, seconds=1))
        await dead_queue.close()
        await dead_service.close()
    assert response.status_code == 503
    body = json.loads(response.get_body())
    assert body == {
        "status": "unavailable",
        "dependencies": {"table": "unavailable", "blob": "ok", "queue": "unavailable"},
    }
    assert ACCOUNT_KEY not in response.get_body().decode()
