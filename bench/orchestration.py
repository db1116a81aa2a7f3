"""Durable engine overhead: one orchestration fanning out N zero-work activities, repeated R times.

Runs devhost's DurableEngine in this process on Azurite (started if none is listening), with its HTTP API
on a local socket. Prints p50/p95 of end-to-end orchestration time (start request to Completed seen on
the status API), the same for an orchestration with no activity, the per-activity overhead derived from
the two, and the Table storage calls per orchestration. Figures are printed, never asserted.

    .venv/bin/python bench/orchestration.py [--activities 10] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import statistics
import sys
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402
import azure.durable_functions as df  # noqa: E402
import azure.functions as func  # noqa: E402
from _common import add_azurite_option, fresh_azurite  # noqa: E402
from aiohttp import web  # noqa: E402
from azure.data.tables.aio import TableServiceClient  # noqa: E402

from devhost.durable import DurableEngine  # noqa: E402
from devhost.durable.store import TaskHubStore  # noqa: E402
from devhost.functions import FunctionSpec, load_app  # noqa: E402

CALLS: collections.Counter[str] = collections.Counter()


def bench_app() -> dict[str, FunctionSpec]:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context")
    def bench_fan_out(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        count = int(context.get_input())
        return (yield context.task_all([context.call_activity("bench_noop", i) for i in range(count)]))

    @app.activity_trigger(input_name="value")
    def bench_noop(value: int) -> int:
        return value

    module = types.ModuleType("durable_bench_app")
    module.app = app  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return {spec.name: spec for spec in load_app(module.__name__)}


def count_storage_calls() -> None:
    """Wrap the store's coroutines so each call is counted (one call is one round trip, or a few pages)."""
    for name in ("get_instance", "create_instance", "replace_instance", "save_instance", "load_execution",
                 "add_messages", "commit", "delete_partition"):
        original: Callable[..., Any] = getattr(TaskHubStore, name)

        @functools.wraps(original)
        async def counted(*args: Any, __name: str = name, __original: Any = original, **kwargs: Any) -> Any:
            CALLS[__name] += 1
            return await __original(*args, **kwargs)

        setattr(TaskHubStore, name, counted)


async def run_once(http: aiohttp.ClientSession, api: str, count: int) -> float:
    instance_id = uuid.uuid4().hex
    started = time.perf_counter()
    async with http.post(f"{api}/orchestrators/bench_fan_out/{instance_id}", json=str(count)) as response:
        assert response.status == 202, await response.text()
    while True:
        async with http.get(f"{api}/instances/{instance_id}") as response:
            body = await response.json()
        if body["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            assert body["runtimeStatus"] == "Completed", body
            return (time.perf_counter() - started) * 1000
        await asyncio.sleep(0.002)


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


async def measure(args: argparse.Namespace, connection_string: str) -> None:
    hub = "bench" + uuid.uuid4().hex[:12]
    engine = DurableEngine(functions=bench_app(), connection_string=connection_string, task_hub=hub,
                           max_concurrent_activities=args.activities, max_concurrent_orchestrators=4)
    app = web.Application()
    engine.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    api = f"http://127.0.0.1:{runner.addresses[0][1]}/runtime/webhooks/durabletask"
    await engine.start()
    try:
        async with aiohttp.ClientSession() as http:
            await run_once(http, api, args.activities)  # warm-up: tables, connections, imports
            empty = [await run_once(http, api, 0) for _ in range(args.repeat)]
            CALLS.clear()
            fan_out = [await run_once(http, api, args.activities) for _ in range(args.repeat)]
    finally:
        await engine.stop()
        await runner.cleanup()
        async with TableServiceClient.from_connection_string(connection_string) as service:
            for suffix in ("Instances", "History"):
                await service.delete_table(f"{hub}{suffix}")
    report(args, empty, fan_out)


def report(args: argparse.Namespace, empty: list[float], fan_out: list[float]) -> None:
    n = args.activities
    print(f"orchestration with no activity       p50 {percentile(empty, 50):7.1f} ms  "
          f"p95 {percentile(empty, 95):7.1f} ms  (n={len(empty)})")
    print(f"orchestration fanning out {n:3d}        p50 {percentile(fan_out, 50):7.1f} ms  "
          f"p95 {percentile(fan_out, 95):7.1f} ms  (n={len(fan_out)})")
    overhead = (percentile(fan_out, 50) - percentile(empty, 50)) / max(n, 1)
    print(f"per-activity overhead (p50 delta / {n}): {overhead:6.2f} ms")
    per_run = {name: count / args.repeat for name, count in sorted(CALLS.items())}
    print("storage calls per fan-out orchestration: "
          + ", ".join(f"{name} {count:.1f}" for name, count in per_run.items())
          + f"  (total {sum(per_run.values()):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=10, help="activities per orchestration (N)")
    parser.add_argument("--repeat", type=int, default=20, help="orchestrations measured (R)")
    add_azurite_option(parser)
    args = parser.parse_args()
    count_storage_calls()
    with fresh_azurite(args.azurite) as connection_string:
        asyncio.run(measure(args, connection_string))


if __name__ == "__main__":
    main()
