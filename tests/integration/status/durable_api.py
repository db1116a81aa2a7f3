"""A fake of the Durable Functions HTTP API the Python client calls (raise event, purge), over a socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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

    async def raise_event(self, request: web.Request) -> web.Response:
        instance_id, name = request.match_info["id"], request.match_info["name"]
        if instance_id not in self.instances:
            return web.json_response({"message": "not found"}, status=404)
        if not self.instances[instance_id]:
            return web.json_response({"message": "gone"}, status=410)
        self.events.append((instance_id, name))
        return web.json_response({}, status=202)

    async def purge(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["id"]
        self.purged.append(instance_id)
        if self.instances.pop(instance_id, None) is None:
            return web.json_response({"message": "not found"}, status=404)
        return web.json_response({"instancesDeleted": 1})

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
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        # The library keeps one aiohttp session per process; it belongs to this test's event loop.
        await http_utils._close_session()
        await runner.cleanup()
