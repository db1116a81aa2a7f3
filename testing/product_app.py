"""Settings for one isolated run of the product app on devhost (tests and benchmarks share them)."""

from __future__ import annotations

import uuid

from testing.devhost import REPO_ROOT

__all__ = ["REPO_ROOT", "product_settings", "unreachable"]


def product_settings(connection_string: str, **overrides: str) -> dict[str, str]:
    """Offline provider, Storage queue, and a task hub and job queue of its own on `connection_string`.

    The operator timers act on every job in the shared tables, so they are off; tests run them on
    purpose through the admin API, which still runs a disabled function.
    """
    suffix = uuid.uuid4().hex[:10]
    return {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": connection_string,
        "GENERATION_STORAGE": connection_string,
        "TASK_HUB_NAME": f"hub{suffix}",
        "JOBS_QUEUE_KIND": "storage",
        "JOBS_QUEUE_NAME": f"jobs-{suffix}",
        "GENERATION_PROVIDER": "offline",
        "OFFLINE_LATENCY_MS": "0",
        "AzureWebJobs.maintenance.Disabled": "true",
        "AzureWebJobs.redrive_dead_letters.Disabled": "true",
        **overrides,
    }


def unreachable(connection_string: str, *endpoints: str) -> str:
    """The connection string with the named services (`TableEndpoint`...) on a port nothing listens on."""
    parts = dict(part.split("=", 1) for part in connection_string.split(";") if part)
    for endpoint in endpoints:
        parts[endpoint] = "http://127.0.0.1:9/devstoreaccount1"
    return ";".join(f"{key}={value}" for key, value in parts.items())
