"""Goodput under a provider's rate limit, on devhost against the fake provider with real limits.

A burst of J jobs of n images each (one user) against a provider limited to R images a minute; while
it runs, other users submit one-image jobs. Printed beside the targets (never asserted):

- goodput / R: images made per minute, from the first accept to the last job's end, over R (≥ 0.95);
- share of provider calls answered 429 (≤ 5 %); failed jobs (0);
- p50/p99 time to finish of another user's one-image job submitted in the middle of the burst
  (under 3 slots of the limit: under 3 s at 60 a minute).

`--instances 2` runs two devhost processes (each its own task hub and job queue, the same job tables
and the same limiter record) and sends half the burst to each: the limit holds across instances.
`--learn` leaves PROVIDER_IMAGES_PER_MINUTE unset, so the limiter learns the rate from 429s.

    .venv/bin/python bench/goodput.py [--jobs 30] [--images 2] [--rate 60] [--probes 5]
                                      [--instances 1|2] [--learn] [--azurite memory|disk]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from datetime import datetime

import aiohttp
from _common import add_azurite_option, fresh_azurite, percentile, start_product_app

from testing.devhost import DevhostProcess
from testing.fakes.openai_server import FakeOpenAI

TERMINAL = {"succeeded", "failed", "canceled"}


async def submit(http: aiohttp.ClientSession, base: str, *, user: str, n: int) -> str:
    body = {"prompt": f"a kite for {user}", "n": n, "user": user}
    async with http.post(f"{base}/api/generations", json=body) as response:
        assert response.status == 202, await response.text()
        return str((await response.json())["id"])


async def finished(http: aiohttp.ClientSession, base: str, job_id: str) -> dict[str, object]:
    url = f"{base}/api/generations/{job_id}"
    while True:
        async with http.get(url, params={"wait": "30"}) as response:
            job: dict[str, object] = await response.json()
        if job["status"] in TERMINAL:
            return job


def seconds(job: dict[str, object]) -> float:
    start, end = (_instant(job[key]) for key in ("created_at", "updated_at"))
    return (end - start).total_seconds()


def _instant(text: object) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


async def probe(http: aiohttp.ClientSession, base: str, number: int, delay: float) -> dict[str, object]:
    await asyncio.sleep(delay)
    return await finished(http, base, await submit(http, base, user=f"probe-{number}", n=1))


Jobs = list[dict[str, object]]


async def run(args: argparse.Namespace, bases: list[str]) -> tuple[Jobs, Jobs, float]:
    images = args.jobs * args.images
    burst_seconds = images * 60 / args.rate
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        started = time.perf_counter()
        ids = await asyncio.gather(*(submit(http, bases[i % len(bases)], user="burst", n=args.images)
                                     for i in range(args.jobs)))
        # Probes arrive spread over the middle half of the burst.
        delays = [burst_seconds * (0.25 + 0.5 * i / max(1, args.probes - 1)) for i in range(args.probes)]
        probes = [probe(http, bases[i % len(bases)], i, delay) for i, delay in enumerate(delays)]
        burst = [finished(http, bases[i % len(bases)], job_id) for i, job_id in enumerate(ids)]
        results = await asyncio.gather(*burst, *probes)
        elapsed = time.perf_counter() - started
    return list(results[: len(ids)]), list(results[len(ids):]), elapsed


def report(args: argparse.Namespace, burst: Jobs, probes: Jobs, elapsed: float, fake: FakeOpenAI) -> None:
    assert fake.limits is not None
    stats = fake.limits.stats
    made = sum(int(job["progress"]["completed"]) for job in [*burst, *probes])  # type: ignore[index]
    goodput = made / elapsed * 60 / args.rate
    calls = stats.admitted + stats.throttled + stats.outage
    failed = sum(job["status"] != "succeeded" for job in [*burst, *probes])
    slot = 60 / args.rate
    times = [seconds(job) for job in probes]
    print(f"burst: {args.jobs} jobs x {args.images} images at {args.rate}/min (provider burst "
          f"{args.burst_seconds:g} s), {args.instances} instance(s), limit "
          f"{'learned' if args.learn else 'configured'}; {made} images in {elapsed:.1f} s")
    print(f"goodput / R        {goodput:6.3f}     target >= 0.95")
    share = stats.throttled / max(1, calls)
    print(f"429 share          {share:6.1%}     target <= 5 %  ({stats.throttled} of {calls} calls)")
    print(f"failed jobs        {failed:6d}     target 0")
    gaps = [(b - a) / slot for a, b in itertools.pairwise(stats.admitted_at)]
    if gaps:
        print(f"gap between calls  p5 {percentile(gaps, 5):4.2f}  p50 {percentile(gaps, 50):4.2f} slots")
    p50, p99 = percentile(times, 50), percentile(times, 99)
    print(f"probe p50 / p99    {p50:5.2f} s / {p99:5.2f} s = {p50 / slot:4.1f} / {p99 / slot:4.1f} slots"
          "   target < 3 slots")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--rate", type=int, default=60, help="the provider's images per minute")
    parser.add_argument("--probes", type=int, default=5)
    parser.add_argument(
        "--burst-seconds", type=float, default=1.0,
        help="seconds of the limit the provider lets through at once (1: 60/min enforced as 1/s; "
             "Azure OpenAI evaluates over 1 or 10 s)",
    )
    parser.add_argument("--instances", type=int, choices=(1, 2), default=1)
    parser.add_argument("--learn", action="store_true", help="leave PROVIDER_IMAGES_PER_MINUTE unset")
    add_azurite_option(parser)
    args = parser.parse_args()
    with fresh_azurite(args.azurite) as connection, FakeOpenAI() as fake:
        fake.limit_rates(images_per_minute=args.rate, burst_seconds=args.burst_seconds)
        settings = {"GENERATION_PROVIDER": "openai", "OPENAI_API_KEY": fake.api_key,
                    "OPENAI_BASE_URL": fake.base_url, "OPENAI_IMAGE_MODEL": "gpt-image-1"}
        if not args.learn:
            settings["PROVIDER_IMAGES_PER_MINUTE"] = str(args.rate)
        apps: list[DevhostProcess] = []
        try:
            for _ in range(args.instances):
                apps.append(start_product_app(connection, **settings)[0])
            burst, probes, elapsed = asyncio.run(run(args, [app.base_url for app in apps]))
        finally:
            for app in apps:
                app.stop()
        report(args, burst, probes, elapsed, fake)


if __name__ == "__main__":
    main()
