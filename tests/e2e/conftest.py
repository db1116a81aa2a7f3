"""The product app on devhost: settings for a run against Azurite, and a factory that starts it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.devhost import DevhostProcess

REPO_ROOT = Path(__file__).resolve().parents[2]

StartApp = Callable[..., DevhostProcess]


@pytest.fixture
def app_settings(azurite_connection_string: str) -> dict[str, str]:
    """Settings of one isolated run: its own task hub and job queue on the shared Azurite."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": azurite_connection_string,
        "GENERATION_STORAGE": azurite_connection_string,
        "TASK_HUB_NAME": f"hub{suffix}",
        "JOBS_QUEUE_KIND": "storage",
        "JOBS_QUEUE_NAME": f"jobs-{suffix}",
        "GENERATION_PROVIDER": "offline",
        "OFFLINE_LATENCY_MS": "0",
        "GENERATION_DEADLINE_SECONDS": "600",
        "LINE_CHANNEL_SECRET": "dummy-line-secret",
        "LINE_CHANNEL_ACCESS_TOKEN": "dummy-line-token",
        # The operator timers act on every job in the shared tables; tests run them on purpose only
        # (through the admin API, which still runs a disabled function).
        "AzureWebJobs.maintenance.Disabled": "true",
        "AzureWebJobs.redrive_dead_letters.Disabled": "true",
    }


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
