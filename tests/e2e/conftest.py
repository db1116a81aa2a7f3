"""The product app on devhost: settings for a run against Azurite, and a factory that starts it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.devhost import DevhostProcess
from tests.helpers.product_app import REPO_ROOT, product_settings, service_bus_overrides

StartApp = Callable[..., DevhostProcess]
BOTH_QUEUE_KINDS = pytest.mark.parametrize("queue_kind", ["storage", "servicebus"], indirect=True)


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
