"""The queue trigger's work: start the orchestration once, never for a deleted job, and raise (so the
message comes back) when storage cannot be read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from generation.starter import ORCHESTRATOR, start_generation
from jobs.clients import Stores, close_stores, stores
from jobs.config.settings import reset_settings
from jobs.domain.messages import JobMessage
from tests.factories import make_job


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
async def app_stores(
    monkeypatch: pytest.MonkeyPatch, azurite_connection_string: str
) -> AsyncIterator[Stores]:
    monkeypatch.setenv("GENERATION_STORAGE", azurite_connection_string)
    monkeypatch.setenv("GENERATION_DEADLINE_SECONDS", "420")
    reset_settings()
    yield stores()
    await close_stores()
    reset_settings()


async def test_a_queued_job_starts_with_its_output_count_and_deadline(app_stores: Stores) -> None:
    job = await app_stores.jobs.create(make_job(n=3))
    client = RecordingClient()
    assert await start_generation(client, JobMessage(job.id, outputs=3))
    assert client.started == [(ORCHESTRATOR, job.id, {"deadline_seconds": 420, "outputs": 3})]


async def test_a_job_deleted_while_queued_starts_nothing(app_stores: Stores) -> None:
    job = await app_stores.jobs.create(make_job(n=2))
    await app_stores.jobs.delete(job.id)
    client = RecordingClient()
    assert not await start_generation(client, JobMessage(job.id, outputs=2))
    assert client.started == []


async def test_storage_down_raises_so_the_message_is_delivered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=ZGV2;"
            "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
            "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1")
    monkeypatch.setenv("GENERATION_STORAGE", dead)
    reset_settings()
    client = RecordingClient()
    try:
        with pytest.raises(Exception, match=r"(?i)connect|refused|connection"):
            await start_generation(client, JobMessage("some-job", outputs=1))
    finally:
        await close_stores()
        reset_settings()
    assert client.started == []
