"""Accept-path latency and throughput on devhost, beside the raw floor measured in the same run.

The floor is what the accept path cannot avoid: one Table insert plus one queue send on the same
Azurite. Targets: accept p99 within 2x the floor at concurrency 16; a status read within 2x one
point read. Figures are printed, never asserted.

    .venv/bin/python bench/accept.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
from _common import azurite_connection_string, percentile, start_product_app, summary
from azure.data.tables.aio import TableClient
from azure.storage.queue.aio import QueueClient

Operation = Callable[[int], Awaitable[None]]


async def measure(operation: Operation, *, requests: int, concurrency: int) -> tuple[list[float], float]:
    """Run `requests` operations, at most `concurrency` at once; per-op ms and ops per second."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for number in counter:
            started = time.perf_counter()
            await operation(number)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, requests / (time.perf_counter() - started)


def report(label: str, latencies: list[float], throughput: float) -> None:
    print(f"  {label:<34} {summary(latencies)}  {throughput:7.1f}/s")


async def floor_operation(connection_string: str) -> tuple[Operation, Callable[[], Awaitable[None]]]:
    name = "benchfloor" + uuid.uuid4().hex[:8]
    table = TableClient.from_connection_string(connection_string, name)
    queue = QueueClient.from_connection_string(connection_string, name)
    await table.create_table()
    await queue.create_queue()

    async def operation(number: int) -> None:
        row_key = uuid.uuid4().hex
        body = base64.b64encode(json.dumps({"job_id": row_key}).encode()).decode()
        await table.create_entity({"PartitionKey": row_key, "RowKey": "job", "Prompt": "floor", "N": number})
        await queue.send_message(body)

    async def close() -> None:
        await table.delete_table()
        await queue.delete_queue()
        await table.close()
        await queue.close()

    return operation, close


async def run(requests: int) -> None:
    connection_string = azurite_connection_string()
    app, _settings = start_product_app(connection_string)
    floor, close_floor = await floor_operation(connection_string)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{app.base_url}/api/generations"

            async def accept(number: int) -> None:
                async with http.post(url, json={"prompt": f"bench {number}"}) as response:
                    assert response.status == 202, await response.text()
                    await response.read()

            await measure(accept, requests=20, concurrency=4)  # warm-up: imports, clients, tables
            await measure(floor, requests=20, concurrency=4)
            results: dict[int, tuple[float, float]] = {}
            for concurrency in (1, 16, 64):
                print(f"concurrency {concurrency}")
                floor_ms, floor_rate = await measure(floor, requests=requests, concurrency=concurrency)
                accept_ms, accept_rate = await measure(accept, requests=requests, concurrency=concurrency)
                report("floor (insert + send)", floor_ms, floor_rate)
                report("POST /api/generations", accept_ms, accept_rate)
                results[concurrency] = (percentile(accept_ms, 99), percentile(floor_ms, 99))
            await status_reads(http, app.base_url, connection_string, requests)
            accept_p99, floor_p99 = results[16]
            print(f"accept p99 / floor p99 at concurrency 16: {accept_p99 / floor_p99:.2f}x (target <= 2x)")
    finally:
        await close_floor()
        app.stop()


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
    print(f"status p50 / point read p50: {ratio:.2f}x (target <= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
