"""Which of the app's own modules one request's path runs: a count for newcomers, printed, never asserted.

Runs devhost in this process (the product app, offline provider, a fresh Azurite) and a profiler hook
on every thread. Two requests go through the whole path: POST /api/generations -> row -> queue ->
orchestration -> output stored -> GET the status until it is terminal. Counted: every module of the app's
packages (jobs, generation, status, line_webhook, web; not function_app, devhost, testing or third-party
code) with any code that ran between the POST and the terminal status answer, a module body imported
on the way included. The first request after start-up also builds the services (settings, clients);
the second shows the steady state.

    .venv/bin/python bench/request_path.py [--queue storage|servicebus] [--azurite memory|disk]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from _common import REPO_ROOT, add_azurite_option, add_queue_option, fresh_azurite

from devhost.auth import Keys
from devhost.functions import load_app
from devhost.host import Host
from devhost.settings import apply_values, load_host_config
from testing.devhost import free_port
from testing.product_app import product_settings, service_bus_overrides

APP_PACKAGES = ("jobs", "generation", "status", "line_webhook", "web")
TERMINAL = {"succeeded", "failed", "canceled"}


class ModuleRecorder:
    """A profile hook (every thread) that notes the app modules whose code runs while recording."""

    def __init__(self) -> None:
        self.recording = False
        self.seen: set[str] = set()
        self._names: dict[str, str | None] = {}  # file name -> app module name, or None

    def _module(self, filename: str) -> str | None:
        if filename not in self._names:
            path = Path(filename)
            name = None
            if path.suffix == ".py" and path.is_relative_to(REPO_ROOT):
                parts = path.relative_to(REPO_ROOT).with_suffix("").parts
                if parts[0] in APP_PACKAGES:
                    name = ".".join(parts)
            self._names[filename] = name
        return self._names[filename]

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if self.recording and event == "call":
            module = self._module(frame.f_code.co_filename)
            if module is not None:
                self.seen.add(module)

    def install(self) -> None:
        threading.setprofile(self.hook)
        sys.setprofile(self.hook)

    def take(self) -> list[str]:
        seen, self.seen = sorted(self.seen), set()
        return seen


async def one_request(http: aiohttp.ClientSession, base: str, prompt: str) -> str:
    async with http.post(f"{base}/api/generations", json={"prompt": prompt}) as response:
        assert response.status == 202, await response.text()
        job = await response.json()
    while job["status"] not in TERMINAL:
        async with http.get(f"{base}/api/generations/{job['id']}", params={"wait": "30"}) as response:
            job = await response.json()
    return str(job["status"])


async def measure(recorder: ModuleRecorder) -> list[tuple[str, str, list[str]]]:
    host = Host(load_app("function_app", app_dir=REPO_ROOT), config=load_host_config(REPO_ROOT),
                keys=Keys.from_environment(), port=free_port())
    await host.start()
    runs = []
    try:
        async with aiohttp.ClientSession() as http:
            for label in ("first request after start-up", "second request"):
                recorder.recording = True
                status = await one_request(http, host.base_url, label)
                recorder.recording = False
                runs.append((label, status, recorder.take()))
    finally:
        await host.stop()
    return runs


def report(runs: list[tuple[str, str, list[str]]]) -> None:
    for label, status, modules in runs:
        print(f"{label} (job {status}): {len(modules)} app modules ran")
        for package in APP_PACKAGES:
            names = [m for m in modules if m == package or m.startswith(f"{package}.")]
            short = " ".join(name.removeprefix(f"{package}.") for name in names)
            if names:
                print(f"  {package:13} {len(names):2}  {short}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_azurite_option(parser)
    add_queue_option(parser)
    args = parser.parse_args()
    recorder = ModuleRecorder()
    with fresh_azurite(args.azurite) as connection_string:
        settings = product_settings(connection_string)
        if args.queue == "servicebus":
            workdir = Path(tempfile.mkdtemp(prefix="bench-servicebus-"))
            settings.update(service_bus_overrides(settings, workdir))
        apply_values(settings, os.environ)
        os.chdir(REPO_ROOT)  # as devhost does: the app runs in its own directory
        recorder.install()
        report(asyncio.run(measure(recorder)))


if __name__ == "__main__":
    main()
