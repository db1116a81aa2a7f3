"""`stores()`: one bundle per event loop, built from the settings, working against Azurite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue.aio import QueueServiceClient

from jobs.clients import Stores, close_stores, stores
from jobs.config.settings import reset_settings
from jobs.queues.storage import StorageJobQueue
from tests.factories import make_job


@pytest.fixture
async def local_settings(
    monkeypatch: pytest.MonkeyPatch, queue_service: QueueServiceClient, unique_name: str
) -> AsyncIterator[None]:
    monkeypatch.setenv("GENERATION_STORAGE", "UseDevelopmentStorage=true")
    monkeypatch.setenv("JOBS_QUEUE_KIND", "storage")
    monkeypatch.setenv("JOBS_QUEUE_NAME", unique_name)
    reset_settings()
    yield
    reset_settings()
    with contextlib.suppress(ResourceNotFoundError):
        await queue_service.delete_queue(unique_name)


async def _bundle_in_new_loop() -> int:
    async def inner() -> int:
        bundle = stores()
        await close_stores()
        return id(bundle)

    return await asyncio.to_thread(asyncio.run, inner())


@pytest.mark.usefixtures("local_settings")
async def test_one_bundle_per_event_loop() -> None:
    first = stores()
    try:
        assert stores() is first
        assert isinstance(first, Stores)
        assert await _bundle_in_new_loop() != id(first)
        assert stores() is first
    finally:
        await close_stores()
    replacement = stores()
    await close_stores()
    assert replacement is not first


@pytest.mark.usefixtures("local_settings")
async def test_bundle_reaches_azurite_through_use_development_storage() -> None:
    bundle = stores()
    try:
        job = await bundle.jobs.create(make_job())
        assert (await bundle.jobs.get(job.id)).id == job.id
        assert isinstance(bundle.queue, StorageJobQueue)
        await bundle.queue.send(job)
        await bundle.jobs.delete(job.id)
    finally:
        await close_stores()
