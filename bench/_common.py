"""Shared bench plumbing: Azurite, the product app on devhost, percentiles."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from devhost.azurite import start_azurite  # noqa: E402
from testing.devhost import DevhostProcess, free_port  # noqa: E402
from testing.product_app import product_settings, service_bus_overrides  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values, in the values' unit."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values_ms: list[float]) -> str:
    return (
        f"p50 {percentile(values_ms, 50):7.1f} ms  p95 {percentile(values_ms, 95):7.1f} ms  "
        f"p99 {percentile(values_ms, 99):7.1f} ms  mean {statistics.fmean(values_ms):7.1f} ms  "
        f"n={len(values_ms)}"
    )


def start_product_app(connection_string: str, *, queue: str = "storage",
                      **overrides: str) -> tuple[DevhostProcess, dict[str, str]]:
    """The product app on devhost with its own task hub and job queue (a Storage queue, or a Service
    Bus queue on the emulator devhost starts, data in a temporary folder); returns it and its settings."""
    settings = product_settings(connection_string, **overrides)
    if queue == "servicebus":
        settings.update(service_bus_overrides(settings, Path(tempfile.mkdtemp(prefix="bench-servicebus-"))))
    process = DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings)
    process.start()
    process.wait_ready(timeout=60)
    return process, settings


def add_queue_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", choices=("storage", "servicebus"), default="storage",
                        help="the job queue: a Storage queue (default) or Service Bus on devhost's emulator")


def add_azurite_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--azurite", choices=("memory", "disk"), default="memory",
        help="a fresh Azurite for this run, keeping its data in memory (default) or on disk as "
             "`make run` does; on disk it also rewrites its database files as it goes, which shows "
             "in every figure",
    )


@contextmanager
def fresh_azurite(mode: str) -> Iterator[str]:
    """A new Azurite on free ports, stopped afterwards: no data or load left by earlier runs."""
    ports = (free_port(), free_port(), free_port())
    azurite = start_azurite(None, ports=ports, in_memory=mode == "memory")
    print(f"Azurite: fresh, data {'in memory' if mode == 'memory' else 'on disk'}")
    try:
        yield azurite.connection_string
    finally:
        azurite.stop()


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
