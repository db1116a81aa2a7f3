"""LINE webhook acknowledgement latency on devhost with Azurite and a fake LINE server.

Signed webhook POSTs of three kinds: the console's Verify request (no events: signature and parse
only), `/help` (an immediate reply started alongside), and a text message (event claim, job row,
queue send, loading animation started alongside). LINE gives a webhook 2 s; the target is a p99
under 300 ms for job events. Figures are printed, never asserted. Each kind's line is followed by
the devhost process's CPU time per request (with the pipeline running, the jobs' generation
included); `--profile` splits the image jobs' CPU into the app's share and devhost's with py-spy.

    .venv/bin/python bench/line_webhook.py [--requests 200] [--concurrency 1 8] [--ack-only] [--profile]

By default the app also runs the pipeline for every accepted job, in the same process, as one
instance would. `--ack-only` disables the queue trigger, so the figures are the acknowledgement
alone (the queued messages are deleted with the bench queue at the end).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _common import add_azurite_option, fresh_azurite, measure, percentile, start_product_app, summary
from _profile import CpuMeter, Profiler, new_profile_dir, report_cpu
from azure.storage.queue.aio import QueueClient

from testing.factories_line import (
    CHANNEL_ACCESS_TOKEN,
    CHANNEL_SECRET,
    signed_request,
    source,
    text_event,
    user_id,
)
from testing.fakes.line_server import FakeLine

TARGET_P99_MS = 300.0
IMAGE_JOB = "text message -> image job"
EventsFor = Callable[[int], list[dict[str, Any]]]


def poster(http: aiohttp.ClientSession, url: str, events_for: EventsFor) -> Callable[[int], Awaitable[None]]:
    async def post(number: int) -> None:
        body, headers = signed_request(events_for(number))
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            await response.read()

    return post


def api_poster(http: aiohttp.ClientSession, base: str) -> Callable[[int], Awaitable[None]]:
    """The HTTP API's accept path under the same load, for comparison."""

    async def post(number: int) -> None:
        async with http.post(f"{base}/api/generations", json={"prompt": f"bench {number}"}) as response:
            assert response.status == 202, await response.text()
            await response.read()

    return post


def kinds(fake: FakeLine) -> dict[str, EventsFor]:
    def job(text: str) -> EventsFor:
        def events(_: int) -> list[dict[str, Any]]:
            token = fake.issue_reply_token()
            return [text_event(text, src=source(user=user_id()), reply_token=token)]

        return events

    return {
        "verify (no events)": lambda _: [],
        "/help (reply alongside)": lambda _: [text_event("/help", reply_token=fake.issue_reply_token())],
        "/ask -> text job": job("/ask why is the sky blue?"),
        IMAGE_JOB: job("a lighthouse at dawn"),
    }


async def measured(post: Callable[[int], Awaitable[None]], *, label: str, requests: int, concurrency: int,
                   meter: CpuMeter, profiler: Profiler | None) -> list[float]:
    """One kind at one concurrency: its latencies, printed with the devhost CPU time per request."""
    profiling = profiler is not None and label == IMAGE_JOB
    if profiling:
        assert profiler is not None
        profiler.start(f"line-image-c{concurrency}")
    meter.start()
    latencies, _ = await measure(post, requests=requests, concurrency=concurrency)
    cpu_ms = meter.stop()
    profile = profiler.stop() if profiling and profiler is not None else None
    print(f"  {label:<30} {summary(latencies)}")
    report_cpu("  CPU", cpu_ms=cpu_ms, requests=requests, profile=profile)
    return latencies


async def run(connection_string: str, requests: int, concurrencies: list[int], *, ack_only: bool,
              profile: bool) -> None:
    pipeline_off = {"AzureWebJobs.start_generation_from_queue.Disabled": "true"} if ack_only else {}
    with FakeLine(CHANNEL_ACCESS_TOKEN) as fake:
        app, settings = start_product_app(
            connection_string,
            LINE_CHANNEL_SECRET=CHANNEL_SECRET,
            LINE_CHANNEL_ACCESS_TOKEN=CHANNEL_ACCESS_TOKEN,
            LINE_API_HOST=fake.base_url,
            **pipeline_off,
        )
        print("acknowledgement only (pipeline disabled)" if ack_only else "pipeline running alongside")
        assert app.process is not None
        meter = CpuMeter(app.process.pid)
        profiler = Profiler(app.process.pid, keep_dir=new_profile_dir()) if profile else None
        try:
            async with aiohttp.ClientSession(trust_env=False) as http:
                url = f"{app.base_url}/api/line/webhook"
                posts = {label: poster(http, url, events) for label, events in kinds(fake).items()}
                posts["POST /api/generations (API)"] = api_poster(http, app.base_url)
                for post in posts.values():  # warm-up: imports, clients, tables
                    await measure(post, requests=10, concurrency=2)
                for concurrency in concurrencies:
                    print(f"concurrency {concurrency}")
                    p99: dict[str, float] = {}
                    for label, post in posts.items():
                        latencies = await measured(post, label=label, requests=requests,
                                                   concurrency=concurrency, meter=meter, profiler=profiler)
                        p99[label] = percentile(latencies, 99)
                    verdict = "met" if p99[IMAGE_JOB] < TARGET_P99_MS else "NOT met"
                    print(f"  image job p99 {p99[IMAGE_JOB]:.0f} ms "
                          f"(target < {TARGET_P99_MS:.0f} ms): {verdict}")
        except AssertionError:
            print(app.output()[-4000:])
            raise
        finally:
            app.stop()
            if profiler is not None:
                print(f"raw py-spy stacks: {profiler.keep_dir}")
            if ack_only:
                async with QueueClient.from_connection_string(
                    connection_string, settings["JOBS_QUEUE_NAME"]
                ) as queue:
                    await queue.delete_queue()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per kind and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--ack-only", action="store_true", help="disable the pipeline's queue trigger")
    parser.add_argument("--profile", action="store_true",
                        help="sample devhost with py-spy during the image-job phases and split its CPU time")
    add_azurite_option(parser)
    args = parser.parse_args()
    with fresh_azurite(args.azurite) as connection_string:
        asyncio.run(run(connection_string, args.requests, args.concurrency, ack_only=args.ack_only,
                        profile=args.profile))



if __name__ == "__main__":
    main()
