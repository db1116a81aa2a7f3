"""The emulator's namespace: its queues and their properties, from a config file or the app's settings."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEAD_LETTER_SUFFIX = "/$deadletterqueue"
STANDARD_MAX_MESSAGE_BYTES = 256 * 1024  # Standard tier's limit on one message (and one batch)

_ISO_DURATION = re.compile(
    r"P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)")


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration (`PT1M`, `P14D`) or a .NET TimeSpan (`00:01:00`)."""
    value = text.strip()
    timespan = _TIMESPAN.fullmatch(value)
    if timespan:
        days, hours, minutes, seconds = timespan.groups()
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    match = _ISO_DURATION.fullmatch(value)
    if not match or value.upper() in ("P", "PT"):
        raise ValueError(f"not a duration (expected ISO 8601 such as PT1M, or hh:mm:ss): {text!r}")
    parts = {name: float(number or 0) for name, number in match.groupdict().items()}
    return parts["days"] * 86400 + parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"]


@dataclass(frozen=True)
class QueueConfig:
    """One queue's properties, with Azure Service Bus's defaults."""

    name: str
    max_delivery_count: int = 10
    lock_duration: float = 60.0
    requires_duplicate_detection: bool = False
    duplicate_detection_window: float = 600.0
    default_ttl: float = 14 * 86400.0
    dead_lettering_on_expiration: bool = False


@dataclass(frozen=True)
class NamespaceConfig:
    """The SAS rule every client must sign with, and the queues by lower-cased name."""

    key_name: str
    key: str = field(repr=False)
    queues: Mapping[str, QueueConfig]

    def queue(self, name: str) -> QueueConfig | None:
        return self.queues.get(name.lower())


def entity_parts(address: str) -> tuple[str, bool]:
    """(queue name, is the dead-letter sub-queue) for a link address such as `q/$DeadLetterQueue`."""
    path = address.strip("/")
    if "://" in path:
        path = path.split("://", 1)[1].partition("/")[2]
    if path.lower().endswith(DEAD_LETTER_SUFFIX):
        return path[: -len(DEAD_LETTER_SUFFIX)], True
    return path, False


_PROPERTY_PARSERS: dict[str, tuple[str, Any]] = {
    "maxdeliverycount": ("max_delivery_count", int),
    "lockduration": ("lock_duration", parse_duration),
    "requiresduplicatedetection": ("requires_duplicate_detection", bool),
    "duplicatedetectionhistorytimewindow": ("duplicate_detection_window", parse_duration),
    "defaultmessagetimetolive": ("default_ttl", parse_duration),
    "deadletteringonmessageexpiration": ("dead_lettering_on_expiration", bool),
}


def queue_from_properties(name: str, properties: Mapping[str, Any]) -> QueueConfig:
    """A queue from the official emulator's `Properties` (or Bicep's camelCase names); unknown keys fail."""
    values: dict[str, Any] = {}
    for key, raw in properties.items():
        known = _PROPERTY_PARSERS.get(key.lower())
        if known is None:
            # The official emulator's config lists these switched off; off is what the emulator does.
            if key.lower() in ("requiressession", "forwardto", "forwarddeadletteredmessagesto") and raw in (
                False, "", None):
                continue
            raise ValueError(f"queue {name!r}: property {key!r} is not supported by the emulator")
        attribute, parse = known
        values[attribute] = parse(raw) if parse is not bool else _boolean(key, raw)
    config = QueueConfig(name=name, **values)
    if config.max_delivery_count < 1 or config.lock_duration <= 0 or config.default_ttl <= 0:
        raise ValueError(f"queue {name!r}: MaxDeliveryCount, LockDuration and TTL must be positive")
    return config


def _boolean(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "false"):
        return str(raw).lower() == "true"
    raise ValueError(f"{key} must be true or false, got {raw!r}")


def load_config_file(path: Path, *, key_name: str, key: str) -> NamespaceConfig:
    """Queues from a config file shaped like the official emulator's `config.json`."""
    document = json.loads(path.read_text(encoding="utf-8-sig"))
    namespaces = document.get("UserConfig", {}).get("Namespaces", [])
    if not isinstance(namespaces, list) or len(namespaces) != 1:
        raise ValueError(f"{path}: UserConfig.Namespaces must hold exactly one namespace")
    namespace = namespaces[0]
    if namespace.get("Topics"):
        raise ValueError(f"{path}: topics are not supported by the emulator (queues only)")
    queues = [
        queue_from_properties(str(q["Name"]), q.get("Properties", {})) for q in namespace.get("Queues", [])
    ]
    return NamespaceConfig(key_name=key_name, key=key, queues={q.name.lower(): q for q in queues})
