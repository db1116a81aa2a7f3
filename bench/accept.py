"""Accept-path latency, throughput and CPU per request on devhost, beside raw floors in the same run.

Two floors, raw through the SDKs on the same Azurite: `floor (insert + send)`, one Table insert plus
one queue send; and `floor (same calls)`, exactly the storage calls `POST /api/generations` makes for
a request without a user: the job row, its `all` index entry and its `open:` index entry written
concurrently, then the queue send. Azurite and devhost share the machine's cores, so every storage
call costs throughput no Python change wins back: the targets compare with the same-calls floor.

Targets: accept throughput at 16 and 64 concurrent >= 0.8x the same-calls floor's; accept p99 at 16
<= 1.5x its p99; status read p50 <= 1.5x one point read. CPU figures are the devhost process's CPU
time per accepted request (stable on a loaded machine, unlike the wall-clock ones); `--profile`
adds py-spy's split of it into the app's share and devhost's (bench/_profile.py). Figures are
printed, never asserted.

    .venv/bin/python bench/accept.py [--requests 200] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from _common import (
    Operation,
    add_azurite_option,
    fresh_azurite,
    measure,
    percentile,
    start_product_app,
    summary,
)
from _profile import CpuMeter, Profiler, new_profile_dir, report_cpu
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.queue.aio import QueueClient

Closer = Callable[[], Awaitable[None]]
INSERT_SEND = "floor (insert + send)"
SAME_CALLS = "floor (same calls)"
ACCEPT = "POST /api/generations"


def report(label: str, latencies: list[float], throughput: float) -> None:
    print(f"  {label:<34} {summary(latencies)}  {throughput:7.1f}/s")


def _row(job_id: str, number: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "PartitionKey": job_id, "RowKey": "job", "Status": "queued", "Kind": "image",
        "Prompt": f"bench {number}", "N": 1, "Size": "1024x1024", "Channel": "api", "CreatedAt": now,
        "UpdatedAt": now, "Completed": 0, "CancelRequested": False, "Delivery": "{}",
        "IndexRowKey": f"{number:016d}_{job_id}", "Outputs": "[]",
    }


def _index(partition: str, job_id: str, number: int) -> dict[str, object]:
    return {"PartitionKey": partition, "RowKey": f"{number:016d}_{job_id}", "JobId": job_id,
            "Status": "queued", "CreatedAt": datetime.now(UTC)}


async def floor_operations(connection_string: str) -> tuple[Operation, Operation, Closer]:
    """The two floors' operations on tables and a queue of their own, and what removes them."""
    name = "benchfloor" + uuid.uuid4().hex[:8]
    service = TableServiceClient.from_connection_string(connection_string)
    rows, index = service.get_table_client(name), service.get_table_client(name + "index")
    queue = QueueClient.from_connection_string(connection_string, name)
    await asyncio.gather(rows.create_table(), index.create_table(), queue.create_queue())

    def message(job_id: str) -> str:
        return base64.b64encode(json.dumps({"job_id": job_id}).encode()).decode()

    async def insert_send(number: int) -> None:
        job_id = uuid.uuid4().hex
        await rows.create_entity(_row(job_id, number))
        await queue.send_message(message(job_id))

    async def same_calls(number: int) -> None:
        job_id = uuid.uuid4().hex
        await asyncio.gather(
            rows.create_entity(_row(job_id, number)),
            index.create_entity(_index(f"all-{job_id[:2]}", job_id, number)),
            index.create_entity(_index(f"open:{job_id[:2]}", job_id, number)),
        )
        await queue.send_message(message(job_id))

    async def close() -> None:
        await asyncio.gather(rows.delete_table(), index.delete_table(), queue.delete_queue())
        await asyncio.gather(rows.close(), index.close(), queue.close(), service.close())

    return insert_send, same_calls, close


def target(label: str, value: float, limit: float, *, at_most: bool) -> None:
    met = value <= limit if at_most else value >= limit
    sign = "<=" if at_most else ">="
    print(f"  {label}: {value:.2f}x (target {sign} {limit}x): {'met' if met else 'NOT met'}")


class Phase:
    """Measures one operation at one concurrency; for the accept path also the devhost CPU per request."""

    def __init__(self, meter: CpuMeter, profiler: Profiler | None) -> None:
        self.meter = meter
        self.profiler = profiler

    async def accept(
        self, operation: Operation, *, requests: int, concurrency: int
    ) -> tuple[list[float], float]:
        if self.profiler is not None:
            self.profiler.start(f"accept-c{concurrency}")
        self.meter.start()
        latencies, rate = await measure(operation, requests=requests, concurrency=concurrency)
        cpu_ms = self.meter.stop()
        profile = self.profiler.stop() if self.profiler is not None else None
        report(ACCEPT, latencies, rate)
        report_cpu(f"accept at {concurrency}", cpu_ms=cpu_ms, requests=requests, profile=profile)
        return latencies, rate


async def run(connection_string: str, requests: int, *, profile: bool) -> None:
    # Only the accept path is measured: the queue trigger is switched off the way Azure does it, so
    # the jobs accepted here are not generated by the same process while it is being timed.
    app, _settings = start_product_app(
        connection_string, **{"AzureWebJobs.start_generation_from_queue.Disabled": "true"}
    )
    assert app.process is not None
    meter = CpuMeter(app.process.pid)
    profiler = Profiler(app.process.pid, keep_dir=new_profile_dir()) if profile else None
    insert_send, same_calls, close_floors = await floor_operations(connection_string)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{app.base_url}/api/generations"

            async def accept(number: int) -> None:
                async with http.post(url, json={"prompt": f"bench {number}"}) as response:
                    assert response.status == 202, await response.text()
                    await response.read()

            await measure(accept, requests=20, concurrency=4)  # warm-up: imports, clients, tables
            await measure(insert_send, requests=20, concurrency=4)
            await measure(same_calls, requests=20, concurrency=4)
            await idle_cpu(meter)
            phase = Phase(meter, profiler)
            await concurrency_levels(phase, accept, insert_send, same_calls, requests)
            await status_reads(http, app.base_url, connection_string, requests)
    finally:
        await close_floors()
        app.stop()
    if profiler is not None:
        print(f"raw py-spy stacks: {profiler.keep_dir}")


async def idle_cpu(meter: CpuMeter, seconds: float = 3.0) -> None:
    """devhost's own background work (Durable engine polling, timers), to read the figures against."""
    meter.start()
    await asyncio.sleep(seconds)
    print(f"devhost idle: {meter.stop() / seconds:.1f} ms CPU per second (background pollers)")


async def concurrency_levels(
    phase: Phase, accept: Operation, insert_send: Operation, same_calls: Operation, requests: int
) -> None:
    results: dict[int, dict[str, tuple[list[float], float]]] = {}
    for concurrency in (1, 16, 64):
        print(f"concurrency {concurrency}")
        level = {
            INSERT_SEND: await measure(insert_send, requests=requests, concurrency=concurrency),
            SAME_CALLS: await measure(same_calls, requests=requests, concurrency=concurrency),
        }
        report(INSERT_SEND, *level[INSERT_SEND])
        report(SAME_CALLS, *level[SAME_CALLS])
        level[ACCEPT] = await phase.accept(accept, requests=requests, concurrency=concurrency)
        results[concurrency] = level
    print("targets (against the same-calls floor of the same run)")
    for concurrency in (16, 64):
        rate = results[concurrency][ACCEPT][1] / results[concurrency][SAME_CALLS][1]
        target(f"accept throughput at {concurrency}", rate, 0.8, at_most=False)
    p99 = percentile(results[16][ACCEPT][0], 99) / percentile(results[16][SAME_CALLS][0], 99)
    target("accept p99 at 16", p99, 1.5, at_most=True)


async def status_reads(http: aiohttp.ClientSession, base: str, connection_string: str, requests: int) -> None:
    async with http.post(f"{base}/api/generations", json={"prompt": "status bench"}) as response:
        job_id = (await response.json())["id"]
    status_url = f"{base}/api/generations/{job_id}"
    table = TableClient.from_connection_string(connection_string, "jobs")

    async def status(_: int) -> None:
        async with http.get(status_url) as response:
            await response.read()

    async def point_read(_: int) -> None:
        await table.get_entity(job_id, "job")

    async with table:
        read_ms, read_rate = await measure(point_read, requests=requests, concurrency=1)
        status_ms, status_rate = await measure(status, requests=requests, concurrency=1)
    print("status read (concurrency 1)")
    report("table point read", read_ms, read_rate)
    report("GET /api/generations/{id}", status_ms, status_rate)
    ratio = percentile(status_ms, 50) / percentile(read_ms, 50)
    target("status p50 / point read p50", ratio, 1.5, at_most=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    parser.add_argument("--profile", action="store_true",
                        help="sample devhost with py-spy during the accept phases and split its CPU time")
    add_azurite_option(parser)
    args = parser.parse_args()
    started = time.monotonic()
    with fresh_azurite(args.azurite) as connection_string:
        asyncio.run(run(connection_string, args.requests, profile=args.profile))
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
