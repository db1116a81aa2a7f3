"""Settings for one isolated run of the product app on devhost (tests and benchmarks share them)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from testing.devhost import REPO_ROOT, free_port

__all__ = [
    "REPO_ROOT", "emulator_connection_string", "product_settings", "service_bus_overrides", "unreachable",
]


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


# The job queue's properties on Azure (infra/modules/servicebus.bicep; servicebus.config.json locally).
APP_QUEUE_PROPERTIES = {
    "RequiresDuplicateDetection": True,
    "DuplicateDetectionHistoryTimeWindow": "PT2M",
    "MaxDeliveryCount": 5,
    "LockDuration": "PT5M",
    "DeadLetteringOnMessageExpiration": True,
    "DefaultMessageTimeToLive": "P1D",
}


def service_bus_overrides(settings: dict[str, str], workdir: Path, **properties: object) -> dict[str, str]:
    """Settings that put `settings`' job queue on a Service Bus emulator devhost starts, with its data
    and entities in `workdir`; `properties` override the queue's (e.g. a short LockDuration)."""
    queue = {"Name": settings["JOBS_QUEUE_NAME"], "Properties": {**APP_QUEUE_PROPERTIES, **properties}}
    config = workdir / "servicebus.config.json"
    config.write_text(json.dumps({"UserConfig": {"Namespaces": [{"Name": "test", "Queues": [queue]}]}}))
    port = free_port()
    return {
        "JOBS_QUEUE_KIND": "servicebus",
        "ServiceBusConnection": emulator_connection_string(port),
        "DEVHOST_SERVICEBUS_DATA": str(workdir / "servicebus-data"),
        "DEVHOST_SERVICEBUS_CONFIG": str(config),
        "AzureWebJobs.start_generation_from_queue.Disabled": "true",
    }


def emulator_connection_string(port: int, key: str = "test-dummy-key") -> str:
    return (f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=RootManageSharedAccessKey;"
            f"SharedAccessKey={key};UseDevelopmentEmulator=true")


def unreachable(connection_string: str, *endpoints: str) -> str:
    """The connection string with the named services (`TableEndpoint`...) on a port nothing listens on."""
    parts = dict(part.split("=", 1) for part in connection_string.split(";") if part)
    for endpoint in endpoints:
        parts[endpoint] = "http://127.0.0.1:9/devstoreaccount1"
    return ";".join(f"{key}={value}" for key, value in parts.items())
