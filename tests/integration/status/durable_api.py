"""A fake of the Durable Functions HTTP API the Python client calls (raise event, purge), over a socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import azure.durable_functions as df
from aiohttp import web
from azure.durable_functions.models.utils import http_utils


@dataclass
class FakeDurableApi:
    """Records every call; `instances` maps ids to whether they are live (absent ids answer 404)."""

    instances: dict[str, bool] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    base_url: str = ""
    on_event: Callable[[str], None] | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def raise_event(self, request: web.Request) -> web.Response:
        instance_id, name = request.match_info["id"], request.match_info["name"]
        if instance_id not in self.instances:
            return web.json_response({"message": "not found"}, status=404)
        if not self.instances[instance_id]:
            return web.json_response({"message": "gone"}, status=410)
        self.events.append((instance_id, name))
        if self.on_event is not None:
            self.on_event(instance_id)
        return web.json_response({}, status=202)

    async def purge(self, request: web.Request) -> web.Response:
        """As the durable API: not found → 404; a running instance cannot be purged (412)."""
        instance_id = request.match_info["id"]
        self.purged.append(instance_id)
        if instance_id not in self.instances:
            return web.json_response({"message": "not found"}, status=404)
        if self.instances[instance_id]:
            return web.json_response("Only orchestrations in a terminal state can be purged", status=412)
        del self.instances[instance_id]
        return web.json_response({"instancesDeleted": 1})

    async def status(self, request: web.Request) -> web.Response:
        """As the durable API: 404 for an unknown id, else the instance with its runtime status."""
        instance_id = request.match_info["id"]
        if instance_id not in self.instances:
            return web.json_response({}, status=404)
        live = self.instances[instance_id]
        body = {"name": "generation_orchestrator", "instanceId": instance_id,
                "runtimeStatus": "Running" if live else "Completed",
                "createdTime": "2026-01-01T00:00:00Z", "lastUpdatedTime": "2026-01-01T00:00:00Z"}
        return web.json_response(body, status=202 if live else 200)

    def client(self) -> df.DurableOrchestrationClient:
        binding = {
            "taskHubName": "hub",
            "creationUrls": {},
            "managementUrls": {},
            "rpcBaseUrl": f"{self.base_url}/durabletask/",
        }
        return df.DurableOrchestrationClient(json.dumps(binding))


@asynccontextmanager
async def durable_api() -> AsyncIterator[FakeDurableApi]:
    fake = FakeDurableApi()
    app = web.Application()
    app.router.add_post("/durabletask/instances/{id}/raiseEvent/{name}", fake.raise_event)
    app.router.add_delete("/durabletask/instances/{id}", fake.purge)
    app.router.add_get("/durabletask/instances/{id}", fake.status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
        await asyncio.gather(*fake.background)
    finally:
        # The library keeps one aiohttp session per process; it belongs to this test's event loop.
        await http_utils._close_session()
        await runner.cleanup()
