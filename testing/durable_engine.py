"""Shared helpers of the durable engine tests (no tests here): the engine in-process on real Azurite."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import types
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import azure.durable_functions as df
import azure.functions as func
from aiohttp import web
from azure.data.tables.aio import TableServiceClient
from azure.durable_functions.models.utils import http_utils

from devhost.durable import DurableEngine
from devhost.functions import FunctionSpec, invoke, load_app

SAMPLE_APP = Path(__file__).resolve().parents[1] / "tests" / "devhost" / "sample_app"
TERMINAL = ("Completed", "Failed", "Terminated")


@functools.cache
def sample_specs() -> dict[str, FunctionSpec]:
    """The durable sample blueprint in an app of its own (independent of the sample function_app.py).

    Indexed once per process: the SDK refuses to index the same app twice.
    """
    name = "durable_engine_sample_app"
    if str(SAMPLE_APP) not in sys.path:
        sys.path.insert(0, str(SAMPLE_APP))
    import durable_functions

    return blueprint_specs(name, durable_functions.bp)


def blueprint_specs(name: str, blueprint: df.Blueprint) -> dict[str, FunctionSpec]:
    """One blueprint registered in an app module of its own (`name`), indexed as devhost indexes apps."""
    module = types.ModuleType(name)
    module.app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)  # type: ignore[attr-defined]
    module.app.register_functions(blueprint)  # type: ignore[attr-defined]
    sys.modules[name] = module
    return {spec.name: spec for spec in load_app(name)}


async def reset_client_session() -> None:
    """The SDK keeps one aiohttp session per process; drop it so the next event loop makes its own."""
    session = http_utils._client_session
    if session is not None and not session.closed:
        await session.close()
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()


class Host:
    """One engine and its API server; helpers to call the sample HTTP functions and poll status."""

    def __init__(self, engine: DurableEngine, base_url: str, specs: dict[str, FunctionSpec]) -> None:
        self.engine = engine
        self.base_url = base_url
        self.specs = specs
        self.api = f"{base_url}/runtime/webhooks/durabletask"
        self.http = aiohttp.ClientSession()

    async def call(self, function: str, route_params: dict[str, str], body: Any = None,
                   method: str = "POST") -> func.HttpResponse:
        """Invoke one of the sample HTTP functions with its durable client binding."""
        request = func.HttpRequest(method=method, url=f"{self.base_url}/api/{function}", headers={},
                                   params={}, route_params=route_params,
                                   body=b"" if body is None else json.dumps(body).encode())
        response: func.HttpResponse = await invoke(
            self.specs[function], {"req": request}, client_payload=self.engine.client_payload(self.base_url))
        return response

    async def start(self, name: str, input_: Any = None, instance_id: str | None = None) -> str:
        instance_id = instance_id or f"{name}-{uuid.uuid4().hex[:12]}"
        response = await self.call("durable_start", {"name": name, "instance_id": instance_id}, input_)
        assert response.status_code == 202, response.get_body()
        return instance_id

    async def manage(self, instance_id: str, action: str, body: Any = None) -> Any:
        response = await self.call("durable_manage", {"instance_id": instance_id, "action": action}, body)
        assert response.status_code == 200, response.get_body()
        return json.loads(response.get_body())

    async def status(self, instance_id: str, **query: str) -> tuple[int, dict[str, Any] | None]:
        async with self.http.get(f"{self.api}/instances/{instance_id}", params=query) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def wait(self, instance_id: str, until: Any = None, within: float = 20) -> dict[str, Any]:
        """Poll the status API until `until(status)` holds (default: a terminal runtime status)."""
        check = until or (lambda body: body["runtimeStatus"] in TERMINAL)
        body = None
        try:
            async with asyncio.timeout(within):
                while True:
                    _, body = await self.status(instance_id)
                    if body is not None and check(body):
                        return body
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise TimeoutError(f"{instance_id} never reached the expected state; last: {body}") from None


@asynccontextmanager
async def running_engine(connection_string: str, task_hub: str, *, max_activities: int = 3,
                         specs: dict[str, FunctionSpec] | None = None) -> AsyncIterator[Host]:
    specs = specs or sample_specs()
    engine = DurableEngine(functions=specs, connection_string=connection_string, task_hub=task_hub,
                           max_concurrent_activities=max_activities, max_concurrent_orchestrators=4)
    app = web.Application()
    engine.add_routes(app, authorize=lambda _request: True)  # no keys: the engine alone
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await engine.start()
    host = Host(engine, f"http://127.0.0.1:{port}", specs)
    try:
        yield host
    finally:
        await host.http.close()
        await engine.stop()
        await runner.cleanup()
        await reset_client_session()


async def drop_task_hub(connection_string: str, task_hub: str) -> None:
    async with TableServiceClient.from_connection_string(connection_string) as service:
        for suffix in ("Instances", "History"):
            await service.delete_table(f"{task_hub}{suffix}")
