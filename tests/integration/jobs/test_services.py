"""The services object: one per event loop from the environment, components built once and closed
with it, working against Azurite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue.aio import QueueServiceClient

from jobs.config.settings import load_settings
from jobs.queues.storage import StorageJobQueue
from jobs.services import Services, build_services, close_services, services
from testing.factories import make_job

LOCAL = {"GENERATION_STORAGE": "UseDevelopmentStorage=true", "JOBS_QUEUE_KIND": "storage"}


@pytest.fixture
async def queue_name(queue_service: QueueServiceClient, unique_name: str) -> AsyncIterator[str]:
    yield unique_name
    with contextlib.suppress(ResourceNotFoundError):
        await queue_service.delete_queue(unique_name)


async def _services_in_new_loop() -> int:
    async def inner() -> int:
        built = services()
        await close_services()
        return id(built)

    return await asyncio.to_thread(asyncio.run, inner())


async def test_one_services_object_per_event_loop_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, queue_name: str
) -> None:
    for name, value in {**LOCAL, "JOBS_QUEUE_NAME": queue_name}.items():
        monkeypatch.setenv(name, value)
    first = services()
    try:
        assert services() is first
        assert first.settings.queue_name == queue_name
        assert await _services_in_new_loop() != id(first)
        assert services() is first
    finally:
        await close_services()
    replacement = services()
    await close_services()
    assert replacement is not first


async def test_services_reach_azurite_through_use_development_storage(queue_name: str) -> None:
    async with build_services(load_settings({**LOCAL, "JOBS_QUEUE_NAME": queue_name})) as built:
        job = await built.jobs.create(make_job())
        assert (await built.jobs.get(job.id)).id == job.id
        assert isinstance(built.queue, StorageJobQueue)
        await built.queue.send(job)
        await built.queue.probe()
        await built.jobs.delete(job.id)


async def test_components_are_built_once_and_closed_first() -> None:
    closed: list[str] = []

    def component(built: Services) -> list[str]:
        async def close() -> None:
            closed.append("component")

        built.on_close(close)
        return ["made"]

    built = build_services(load_settings(LOCAL))

    async def close_store() -> None:
        closed.append("store")

    built.on_close(close_store)
    first = built.component(component)
    assert built.component(component) is first
    await built.close()
    assert closed == ["component", "store"]  # registered last, closed first
    await built.close()
    assert closed == ["component", "store"]  # a second close closes nothing again

