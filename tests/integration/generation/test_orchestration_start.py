"""The queue trigger's work: start the orchestration once, never for a deleted job, and raise (so the
message comes back) when storage cannot be read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from generation.orchestration import start_generation
from jobs.config.settings import load_settings
from jobs.contracts import GENERATION_ORCHESTRATOR, JobMessage
from jobs.services import Services, build_services
from testing.factories import make_job


@dataclass
class RecordingClient:
    """The two calls of DurableOrchestrationClient the starter makes (no instance exists yet)."""

    started: list[tuple[str, str, Any]] = field(default_factory=list)

    async def get_status(self, instance_id: str) -> None:
        return None

    async def start_new(self, name: str, *, instance_id: str, client_input: Any) -> str:
        self.started.append((name, instance_id, client_input))
        return instance_id


@pytest.fixture
async def svc(azurite_connection_string: str) -> AsyncIterator[Services]:
    settings = load_settings({"GENERATION_STORAGE": azurite_connection_string,
                              "GENERATION_DEADLINE_SECONDS": "420", "JOBS_QUEUE_KIND": "storage"})
    async with build_services(settings) as services:
        yield services


async def test_a_queued_job_starts_with_its_output_count_and_deadline(svc: Services) -> None:
    job = await svc.jobs.create(make_job(n=3))
    client = RecordingClient()
    assert await start_generation(svc, client, JobMessage(job.id, outputs=3))
    assert client.started == [(GENERATION_ORCHESTRATOR, job.id, {"deadline_seconds": 420, "outputs": 3})]


async def test_a_job_deleted_while_queued_starts_nothing(svc: Services) -> None:
    job = await svc.jobs.create(make_job(n=2))
    await svc.jobs.delete(job.id)
    client = RecordingClient()
    assert not await start_generation(svc, client, JobMessage(job.id, outputs=2))
    assert client.started == []


async def test_storage_down_raises_so_the_message_is_delivered_again() -> None:
    dead = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=ZGV2;"
            "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
            "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1")
    client = RecordingClient()
    settings = load_settings({"GENERATION_STORAGE": dead, "JOBS_QUEUE_KIND": "storage"})
    async with build_services(settings) as services:
        with pytest.raises(Exception, match=r"(?i)connect|refused|connection"):
            await start_generation(services, client, JobMessage("some-job", outputs=1))
    assert client.started == []
