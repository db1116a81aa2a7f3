"""Start the emulator inside devhost when a Service Bus trigger's connection names a local one."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from devhost.functions import FunctionSpec
from devhost.servicebus.entities import NamespaceConfig, QueueConfig, load_config_file
from devhost.servicebus.server import Emulator
from devhost.settings import SettingMissingError, resolve_references

logger = logging.getLogger(__name__)

SERVICE_BUS_TRIGGER = "serviceBusTrigger"
DATA_SETTING = "DEVHOST_SERVICEBUS_DATA"  # where the emulator keeps its messages (default <app>/.servicebus)
CONFIG_SETTING = "DEVHOST_SERVICEBUS_CONFIG"  # entities file (default <app>/servicebus.config.json)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def parse_emulator_connection(value: str) -> tuple[str, int, str, str] | None:
    """(host, port, key name, key) of a `UseDevelopmentEmulator=true` connection string, else None."""
    fields = dict(part.split("=", 1) for part in value.strip().rstrip(";").split(";") if "=" in part)
    lowered = {key.lower(): item for key, item in fields.items()}
    if lowered.get("usedevelopmentemulator", "").lower() != "true":
        return None
    endpoint = urlsplit(lowered.get("endpoint", ""))
    if not endpoint.hostname:
        raise ValueError("the Service Bus emulator connection string has no Endpoint=sb://host:port")
    return (
        endpoint.hostname,
        endpoint.port or 5672,
        lowered.get("sharedaccesskeyname", ""),
        lowered.get("sharedaccesskey", ""),
    )


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _namespace(queues: Sequence[str], *, key_name: str, key: str, app_dir: Path) -> NamespaceConfig:
    path = Path(os.environ.get(CONFIG_SETTING) or app_dir / "servicebus.config.json")
    if path.exists():
        config = load_config_file(path, key_name=key_name, key=key)
        missing = [name for name in queues if config.queue(name) is None]
        if missing:
            raise ValueError(f"{path} declares no queue {', '.join(missing)} (a trigger listens to it)")
        return config
    # No entities file: the triggers' queues with Azure's default properties.
    return NamespaceConfig(
        key_name=key_name, key=key, queues={q.lower(): QueueConfig(name=q) for q in queues}
    )


def emulator_for(
    specs: Sequence[FunctionSpec], *, app_dir: Path, environ: Mapping[str, str] | None = None
) -> Emulator | None:
    """The emulator the app's Service Bus triggers need, not yet started; None when they name none
    (or another process already serves that port)."""
    source = os.environ if environ is None else environ
    wanted: dict[tuple[str, int, str, str], list[str]] = {}
    for spec in specs:
        if spec.trigger_type != SERVICE_BUS_TRIGGER:
            continue
        value = source.get(str(spec.trigger.get("connection") or ""), "")
        try:
            target = parse_emulator_connection(value) if value else None
            queue = resolve_references(str(spec.trigger["queueName"]), source)
        except SettingMissingError:
            continue
        if target is not None and target[0] in LOCAL_HOSTS:
            wanted.setdefault(target, []).append(queue)
    if not wanted:
        return None
    if len(wanted) > 1:
        raise ValueError("Service Bus triggers name more than one local emulator; devhost hosts one")
    (host, port, key_name, key), queues = next(iter(wanted.items()))
    if _listening(host, port):
        logger.info("Service Bus emulator: using the one already listening on %s:%d", host, port)
        return None
    data_dir = Path(source.get(DATA_SETTING) or app_dir / ".servicebus")
    namespace = _namespace(sorted(set(queues)), key_name=key_name, key=key, app_dir=app_dir)
    return Emulator(
        namespace, port=port, data_dir=data_dir, host="127.0.0.1" if host == "localhost" else host
    )
