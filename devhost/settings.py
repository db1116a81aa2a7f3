"""App settings (local.settings.json → environment) and the host.json options devhost honours."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost import azurite

logger = logging.getLogger(__name__)

DEVELOPMENT_STORAGE = "usedevelopmentstorage=true"
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)")
_REFERENCE = re.compile(r"%([^%]+)%")


class SettingMissingError(KeyError):
    """A `%NAME%` reference or a connection setting that names no environment variable."""

    def __str__(self) -> str:
        return f"setting {self.args[0]!r} is not set"


def load_local_settings(path: Path) -> dict[str, Any]:
    """Read a local.settings.json file; a missing file is an empty one, as for Core Tools."""
    if not path.exists():
        logger.info("no settings file at %s; using the environment only", path)
        return {}
    with path.open(encoding="utf-8-sig") as handle:
        document = json.load(handle)
    if not isinstance(document, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return document


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def apply_values(values: Mapping[str, Any], environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Copy `Values` into the environment without overriding variables already set; return names applied."""
    target = os.environ if environ is None else environ
    applied = []
    for name, value in values.items():
        if name in target:
            continue
        target[name] = _as_text(value)
        applied.append(name)
    return applied


def resolve_references(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `%NAME%` with the setting's value, as binding expressions in queue names and schedules do."""
    source = os.environ if environ is None else environ

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in source:
            raise SettingMissingError(name)
        return source[name]

    return _REFERENCE.sub(value, text)


def storage_connection_string(setting: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The connection string held by a binding's `connection` setting (default AzureWebJobsStorage).

    Raises SettingMissingError when unset, ValueError for an identity-based connection.
    """
    source = os.environ if environ is None else environ
    name = setting or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        value = source.get(candidate, "").strip()
        if value:
            break
    else:
        if any(key.startswith(f"{name}__") for key in source):
            raise ValueError(f"identity-based connection '{name}__...' is not supported by devhost; "
                             f"set {name} to a connection string")
        raise SettingMissingError(name)
    if value.replace(" ", "").lower().startswith(DEVELOPMENT_STORAGE):
        return azurite.CONNECTION_STRING
    return value


def sdk_client_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Options for devhost's own Azure SDK clients (Durable engine, queue listeners).

    With `use_env_settings` on (the SDK's default) aiohttp looks proxies up in the environment and
    reads ~/.netrc in a worker thread for every call, which would make the host's bookkeeping cost
    more than the app it hosts; it stays on only when a proxy variable is set.
    """
    env = os.environ if environ is None else environ
    proxy = any(key.lower().endswith("_proxy") and key.lower() != "no_proxy" and value
                for key, value in env.items())
    return {"use_env_settings": proxy}


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string such as `00:00:02` or `1.00:00:00`."""
    match = _TIMESPAN.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a TimeSpan (expected hh:mm:ss): {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues`, with the host's defaults (max polling interval: 2 s here)."""

    max_polling_interval: float = 2.0
    visibility_timeout: float = 0.0
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    message_encoding: str = "base64"


@dataclass(frozen=True)
class ServiceBusOptions:
    """host.json `extensions.serviceBus`, with the host's defaults."""

    prefetch_count: int = 0
    max_concurrent_calls: int = 16
    auto_complete_messages: bool = True
    max_auto_lock_renewal_duration: float = 300.0


@dataclass(frozen=True)
class DurableOptions:
    """host.json `extensions.durableTask`; `hub_name` may hold a `%NAME%` reference."""

    hub_name: str = "TestHubName"
    max_concurrent_activities: int = 10
    max_concurrent_orchestrators: int = 10


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json devhost reads."""

    route_prefix: str = "api"
    function_timeout: float = 300.0
    queues: QueueOptions = QueueOptions()
    service_bus: ServiceBusOptions = ServiceBusOptions()
    durable: DurableOptions = DurableOptions()


def _queue_options(section: Mapping[str, Any]) -> QueueOptions:
    batch_size = max(1, int(section.get("batchSize", 16)))
    return QueueOptions(
        max_polling_interval=parse_timespan(str(section.get("maxPollingInterval", "00:00:02"))),
        visibility_timeout=parse_timespan(str(section.get("visibilityTimeout", "00:00:00"))),
        batch_size=batch_size,
        new_batch_threshold=int(section.get("newBatchThreshold", batch_size // 2)),
        max_dequeue_count=int(section.get("maxDequeueCount", 5)),
        message_encoding=str(section.get("messageEncoding", "base64")).lower(),
    )


def _service_bus_options(section: Mapping[str, Any]) -> ServiceBusOptions:
    return ServiceBusOptions(
        prefetch_count=int(section.get("prefetchCount", 0)),
        max_concurrent_calls=max(1, int(section.get("maxConcurrentCalls", 16))),
        auto_complete_messages=str(section.get("autoCompleteMessages", True)).lower() == "true",
        max_auto_lock_renewal_duration=parse_timespan(
            str(section.get("maxAutoLockRenewalDuration", "00:05:00"))),
    )


def _durable_options(section: Mapping[str, Any]) -> DurableOptions:
    return DurableOptions(
        hub_name=str(section.get("hubName", "TestHubName")),
        max_concurrent_activities=int(section.get("maxConcurrentActivityFunctions", 10)),
        max_concurrent_orchestrators=int(section.get("maxConcurrentOrchestratorFunctions", 10)),
    )


def load_host_config(app_dir: Path) -> HostConfig:
    """Read `host.json` from the app directory (absent: all defaults); `%NAME%` references stay unresolved."""
    path = app_dir / "host.json"
    document: dict[str, Any] = {}
    if path.exists():
        with path.open(encoding="utf-8-sig") as handle:
            document = json.load(handle)
    extensions = document.get("extensions", {})
    timeout = document.get("functionTimeout")
    return HostConfig(
        route_prefix=str(extensions.get("http", {}).get("routePrefix", "api")).strip("/"),
        function_timeout=parse_timespan(timeout) if timeout else 300.0,
        queues=_queue_options(extensions.get("queues", {})),
        service_bus=_service_bus_options(extensions.get("serviceBus", {})),
        durable=_durable_options(extensions.get("durableTask", {})),
    )
