"""Pipeline overhead on devhost: what the system adds beyond the provider's own time.

1. Overhead per job with a zero-latency provider: from the row's creation to its terminal update
   (server-side timestamps, so client polling does not blur it), less the provider's own time (the
   offline provider still draws and encodes a PNG; that time is measured in this process and taken
   off). Target p50 under 150 ms.
2. A 4-output job with provider latency L: wall time over L. Target under 1.3 L (the outputs run
   in parallel, so the job should take about one provider call, not four).
Figures are printed, never asserted.

    .venv/bin/python bench/pipeline.py [--jobs 40] [--latency-ms 2000] [--azurite memory|disk]
        [--queue storage|servicebus]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import datetime

import aiohttp
from _common import add_azurite_option, add_queue_option, fresh_azurite, start_product_app, summary

from generation.providers.offline import OfflineProvider

TERMINAL = {"succeeded", "failed", "canceled"}
# Untimed jobs first: a fresh Azurite (Node.js) and devhost answer slowly until their code is warm.
WARM_UP_JOBS = 10


async def run_job(http: aiohttp.ClientSession, base: str, body: dict[str, object]) -> dict[str, object]:
    async with http.post(f"{base}/api/generations", json=body) as response:
        assert response.status == 202, await response.text()
        job = await response.json()
    status_url = f"{base}/api/generations/{job['id']}"
    while job["status"] not in TERMINAL:
        async with http.get(status_url, params={"wait": "30"}) as response:
            job = await response.json()
    assert job["status"] == "succeeded", job
    return dict(job)


def _instant(text: object) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def server_ms(job: dict[str, object]) -> float:
    return (_instant(job["updated_at"]) - _instant(job["created_at"])).total_seconds() * 1000


async def provider_ms(samples: int = 30) -> float:
    """Median time the zero-latency offline provider takes for one 1024x1024 picture here."""
    provider = OfflineProvider(latency_ms=0)
    times = []
    for index in range(samples):
        started = time.perf_counter()
        await provider.generate_image(prompt=f"job {index}", size="1024x1024", index=0)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def overhead(connection_string: str, jobs: int, queue: str) -> None:
    app, _ = start_product_app(connection_string, queue=queue, OFFLINE_LATENCY_MS="0")
    render = await provider_ms()
    totals: list[float] = []
    pauses = random.Random(7)
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(WARM_UP_JOBS):
                await run_job(http, app.base_url, {"prompt": f"warm-up {i}"})
            for i in range(jobs):
                # A pause of random length first: back-to-back jobs would all reach the queue at the
                # same point of the trigger's polling cycle, and measure that one point over and over.
                await asyncio.sleep(pauses.uniform(0, 0.25))
                job = await run_job(http, app.base_url, {"prompt": f"job {i}"})
                totals.append(server_ms(job))
    finally:
        app.stop()
    print(f"zero-latency provider, 1 output, one job at a time, {queue} queue "
          "(created -> terminal, server clock)")
    print(f"  provider time (offline drawing one 1024x1024 PNG, median)  {render:.1f} ms")
    print(f"  job time          {summary(totals)}")
    print(f"  overhead per job  {summary([t - render for t in totals])}  (target p50 < 150 ms)")


async def fan_out(connection_string: str, jobs: int, latency_ms: int, queue: str) -> None:
    app, _ = start_product_app(connection_string, queue=queue, OFFLINE_LATENCY_MS=str(latency_ms))
    try:
        async with aiohttp.ClientSession() as http:
            await run_job(http, app.base_url, {"prompt": "warm-up"})
            times = [
                server_ms(await run_job(http, app.base_url, {"prompt": f"four {i}", "n": 4}))
                for i in range(max(3, jobs // 4))
            ]
    finally:
        app.stop()
    ratios = [t / latency_ms for t in times]
    print(f"4 outputs, provider latency L = {latency_ms} ms")
    print(f"  job time          {summary(times)}")
    print(f"  job time / L      best {min(ratios):.2f}  worst {max(ratios):.2f}  (target < 1.3)")


async def run(connection_string: str, jobs: int, latency_ms: int, queue: str) -> None:
    await overhead(connection_string, jobs, queue)
    await fan_out(connection_string, jobs, latency_ms, queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--latency-ms", type=int, default=2000)
    add_azurite_option(parser)
    add_queue_option(parser)
    args = parser.parse_args()
    with fresh_azurite(args.azurite) as connection_string:
        asyncio.run(run(connection_string, args.jobs, args.latency_ms, args.queue))


if __name__ == "__main__":
    main()
