"""The pytest fixtures every test package shares (loaded with `-p testing.fixtures`): one real Azurite
for the whole run, names unique to a test, and the product app on devhost."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite, connection_string_for, ensure_azurite, start_azurite
from testing.devhost import DevhostProcess
from testing.product_app import REPO_ROOT, product_settings, service_bus_overrides

StartApp = Callable[..., DevhostProcess]
# Runs a test on the Storage queue and on Service Bus (devhost's emulator): `@BOTH_QUEUE_KINDS`.
BOTH_QUEUE_KINDS = pytest.mark.parametrize("queue_kind", ["storage", "servicebus"], indirect=True)


def _start_or_reuse_azurite() -> Azurite:
    """The default ports' Azurite, or with AZURITE_PORTS=blob,queue,table one of the run's own there
    (so two runs on one machine do not share, and clean up, each other's jobs)."""
    location = os.environ.get("AZURITE_LOCATION")
    ports = os.environ.get("AZURITE_PORTS")
    if not ports:
        return ensure_azurite(location)
    blob, queue, table = (int(port) for port in ports.split(","))
    try:
        return start_azurite(location, ports=(blob, queue, table), in_memory=location is None)
    except RuntimeError:  # already running there (a previous run left it up): reuse it
        return Azurite(connection_string=connection_string_for(blob, queue, table))


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """Connection string of a running Azurite (the default development account), started from npm
    or reused if one listens (see AZURITE_PORTS above)."""
    azurite = _start_or_reuse_azurite()
    yield azurite.connection_string
    azurite.stop()


@pytest.fixture
def unique_name() -> str:
    """A lowercase, letter-first name that is valid for tables, queues and containers."""
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture
def queue_kind(request: pytest.FixtureRequest) -> str:
    """`storage` unless a test is parametrized (indirectly) with `servicebus`."""
    return str(getattr(request, "param", "storage"))


@pytest.fixture
def app_settings(azurite_connection_string: str, queue_kind: str, tmp_path: Path) -> dict[str, str]:
    """Settings of one isolated run: its own task hub and job queue on the shared Azurite, or on a
    Service Bus emulator devhost starts (a short lock: a killed host's message comes back soon)."""
    settings = product_settings(
        azurite_connection_string,
        LINE_CHANNEL_SECRET="dummy-line-secret",
        LINE_CHANNEL_ACCESS_TOKEN="dummy-line-token",
    )
    if queue_kind == "servicebus":
        settings.update(service_bus_overrides(settings, tmp_path, LockDuration="PT10S"))
    return settings


@pytest.fixture
def start_app(app_settings: dict[str, str]) -> Iterator[StartApp]:
    """Start the product app on devhost with `app_settings` plus overrides; stopped after the test."""
    started: list[DevhostProcess] = []

    def start(**overrides: str) -> DevhostProcess:
        settings = {**app_settings, **overrides}
        process = DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings)
        process.start()
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()
