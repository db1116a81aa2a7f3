"""Send-to-trigger latency and throughput: devhost's Service Bus emulator beside the Storage queue.

Each message carries its send time; the trigger logs when it ran. For each queue kind and for 1 and
16 concurrent senders: latency p50/p99 (send call started -> function ran) and messages per second
(first send -> last arrival). The queues' own settings are the product's host.json (Storage: 100 ms
max polling, batch 16; Service Bus: maxConcurrentCalls 16, no prefetch). Printed, never asserted.

    .venv/bin/python bench/servicebus.py [--messages 200] [--azurite memory|disk]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import tempfile
import time
import uuid
from pathlib import Path

from _common import REPO_ROOT, add_azurite_option, fresh_azurite, percentile
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from azure.storage.queue.aio import QueueClient

from testing.devhost import DevhostProcess, free_port
from testing.product_app import emulator_connection_string

APP_DIR = REPO_ROOT / "bench" / "trigger_app"
RECEIVED = re.compile(r"bench-received (\w+) (\{.*?\}) ([0-9.]+)")


def start_app(connection_string: str, workdir: Path) -> tuple[DevhostProcess, dict[str, str]]:
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    queues = [{"Name": queue, "Properties": {}}]
    config = {"UserConfig": {"Namespaces": [{"Name": "bench", "Queues": queues}]}}
    (workdir / "servicebus.config.json").write_text(json.dumps(config))
    settings = {
        "BENCH_QUEUE": queue,
        "BENCH_STORAGE": connection_string,
        "AzureWebJobsStorage": connection_string,
        "BENCH_BUS": emulator_connection_string(free_port()),
        "DEVHOST_SERVICEBUS_CONFIG": str(workdir / "servicebus.config.json"),
        "DEVHOST_SERVICEBUS_DATA": str(workdir / "data"),
    }
    app = DevhostProcess(app="function_app", app_dir=APP_DIR, settings=settings)
    app.start()
    app.wait_ready(timeout=60)
    return app, settings


async def send_storage(settings: dict[str, str], bodies: list[str], concurrency: int) -> None:
    queue = QueueClient.from_connection_string(settings["BENCH_STORAGE"], settings["BENCH_QUEUE"])
    async with queue:
        await _spread(bodies, concurrency,
                      lambda body: queue.send_message(base64.b64encode(body.encode()).decode()))


async def send_bus(settings: dict[str, str], bodies: list[str], concurrency: int) -> None:
    async with ServiceBusClient.from_connection_string(settings["BENCH_BUS"]) as bus:
        senders = [bus.get_queue_sender(settings["BENCH_QUEUE"]) for _ in range(concurrency)]
        for sender in senders:
            await sender.__aenter__()
        pool: asyncio.Queue = asyncio.Queue()
        for sender in senders:
            pool.put_nowait(sender)

        async def send(body: str) -> None:
            sender = await pool.get()
            try:
                await sender.send_messages(ServiceBusMessage(body))
            finally:
                pool.put_nowait(sender)

        await _spread(bodies, concurrency, send)
        for sender in senders:
            await sender.close()


async def _spread(bodies: list[str], concurrency: int, send) -> None:  # type: ignore[no-untyped-def]
    items = iter(bodies)

    async def worker() -> None:
        for body in items:
            stamped = json.loads(body)
            stamped["sent"] = time.time()
            await send(json.dumps(stamped))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def arrivals(app: DevhostProcess, kind: str, run: str) -> list[tuple[float, float]]:
    found = []
    for match in RECEIVED.finditer(app.output()):
        body = json.loads(match.group(2))
        if match.group(1) == kind and body["run"] == run:
            found.append((float(body["sent"]), float(match.group(3))))
    return found


async def one_run(app: DevhostProcess, settings: dict[str, str], *, kind: str, messages: int,
                  concurrency: int) -> str:
    run = uuid.uuid4().hex[:8]
    bodies = [json.dumps({"run": run, "n": n}) for n in range(messages)]
    await (send_bus if kind == "servicebus" else send_storage)(settings, bodies, concurrency)
    deadline = time.monotonic() + 60
    got = arrivals(app, kind, run)
    while len(got) < messages and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        got = arrivals(app, kind, run)
    if len(got) < messages:
        return f"{kind:10} senders {concurrency:2}: only {len(got)}/{messages} arrived within 60 s"
    latencies = [(received - sent) * 1000 for sent, received in got]
    first_send = min(sent for sent, _ in got)  # after the senders' links are open
    rate = messages / (max(received for _, received in got) - first_send)
    return (f"{kind:10} senders {concurrency:2}: send->trigger p50 {percentile(latencies, 50):7.1f} ms  "
            f"p99 {percentile(latencies, 99):7.1f} ms  {rate:7.1f} msgs/s  (n={messages})")


async def run(connection_string: str, messages: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        app, settings = start_app(connection_string, Path(workdir))
        try:
            for kind in ("storage", "servicebus"):
                await one_run(app, settings, kind=kind, messages=20, concurrency=4)  # warm-up, untimed
            lines = [await one_run(app, settings, kind=kind, messages=messages, concurrency=concurrency)
                     for concurrency in (1, 16) for kind in ("storage", "servicebus")]
        finally:
            app.stop()
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    add_azurite_option(parser)
    args = parser.parse_args()
    with fresh_azurite(args.azurite) as connection_string:
        asyncio.run(run(connection_string, args.messages))


if __name__ == "__main__":
    main()
