"""The product app on devhost: settings for a run against Azurite, and a factory that starts it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.helpers.devhost import DevhostProcess
from tests.helpers.product_app import REPO_ROOT, product_settings

StartApp = Callable[..., DevhostProcess]


@pytest.fixture
def app_settings(azurite_connection_string: str) -> dict[str, str]:
    """Settings of one isolated run: its own task hub and job queue on the shared Azurite."""
    return product_settings(
        azurite_connection_string,
        LINE_CHANNEL_SECRET="dummy-line-secret",
        LINE_CHANNEL_ACCESS_TOKEN="dummy-line-token",
    )


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
