"""The services object: one per event loop from the environment, components built once and closed
with it, working against Azurite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue.aio import QueueServiceClient

from jobs.config.settings import load_settings
from jobs.queues.storage import StorageJobQueue
from jobs.services import Services, build_services, close_services, services
from testing.devhost import free_port
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



@contextlib.asynccontextmanager
async def recording_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP proxy that answers every request 404 (queue not found) and records its target."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.Response(status=404, headers={"x-ms-error-code": "QueueNotFound"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_storage_calls_go_through_a_proxy_named_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, unique_name: str
) -> None:
    # Without a proxy variable the clients skip aiohttp's per-call proxy look-up; with one they
    # must still use it.
    async with recording_proxy() as (proxy, seen):
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        settings = load_settings({**LOCAL, "JOBS_QUEUE_NAME": unique_name, "HTTP_PROXY": proxy})
        async with build_services(settings) as built:
            await built.queue.probe()  # the proxy answers for the queue; nothing reaches Azurite
    assert any(unique_name in target for target in seen), seen
