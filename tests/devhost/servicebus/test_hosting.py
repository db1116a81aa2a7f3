"""When devhost starts the emulator, with which entities, and how a trigger's connection is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.functions import FunctionSpec
from devhost.servicebus.entities import parse_duration
from devhost.servicebus.hosting import emulator_for, parse_emulator_connection
from devhost.servicebus.listener import build_client
from devhost.settings import SettingMissingError

LOCAL = "Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=Root;SharedAccessKey=dummy;UseDevelopmentEmulator=true"


def _trigger(queue: str = "%QUEUE%", connection: str = "BUS") -> FunctionSpec:
    trigger = {"type": "serviceBusTrigger", "name": "msg", "queueName": queue, "connection": connection}
    return FunctionSpec(name="on_message", trigger=trigger, bindings=(trigger,), func=lambda msg: None)


def test_connection_strings_are_read_as_the_sdk_reads_them() -> None:
    assert parse_emulator_connection(LOCAL.format(port=5999)) == ("127.0.0.1", 5999, "Root", "dummy")
    real = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k"
    assert parse_emulator_connection(real) is None


def test_a_local_emulator_connection_starts_one_with_the_triggers_queues(tmp_path: Path) -> None:
    environ = {"BUS": LOCAL.format(port=5999), "QUEUE": "jobs", "DEVHOST_SERVICEBUS_DATA": str(tmp_path)}
    emulator = emulator_for([_trigger()], app_dir=tmp_path, environ=environ)
    assert emulator is not None
    assert (emulator.port, list(emulator.namespace.queues)) == (5999, ["jobs"])
    assert emulator.namespace.queues["jobs"].max_delivery_count == 10  # Azure's default without a file
    assert emulator.data_dir == tmp_path


def test_the_entities_file_gives_the_properties_and_must_name_every_trigger_queue(tmp_path: Path) -> None:
    config = {
        "UserConfig": {
            "Namespaces": [
                {
                    "Name": "n",
                    "Queues": [
                        {"Name": "jobs", "Properties": {"MaxDeliveryCount": 5, "LockDuration": "PT5M"}}
                    ],
                }
            ]
        }
    }
    (tmp_path / "servicebus.config.json").write_text(json.dumps(config))
    environ = {"BUS": LOCAL.format(port=5999), "QUEUE": "jobs"}
    emulator = emulator_for([_trigger()], app_dir=tmp_path, environ=environ)
    assert emulator is not None
    assert (
        emulator.namespace.queues["jobs"].max_delivery_count,
        emulator.namespace.queues["jobs"].lock_duration,
    ) == (5, 300.0)
    with pytest.raises(ValueError, match="other"):
        emulator_for([_trigger("other")], app_dir=tmp_path, environ=environ)


def test_a_remote_namespace_or_a_missing_setting_starts_nothing(tmp_path: Path) -> None:
    remote = {"BUS__fullyQualifiedNamespace": "ns.servicebus.windows.net", "QUEUE": "jobs"}
    assert emulator_for([_trigger()], app_dir=tmp_path, environ=remote) is None
    assert emulator_for([_trigger()], app_dir=tmp_path, environ={"QUEUE": "jobs"}) is None


def test_unsupported_queue_properties_are_refused_by_name(tmp_path: Path) -> None:
    config = {
        "UserConfig": {
            "Namespaces": [
                {"Name": "n", "Queues": [{"Name": "jobs", "Properties": {"RequiresSession": True}}]}
            ]
        }
    }
    (tmp_path / "servicebus.config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="RequiresSession"):
        emulator_for(
            [_trigger()], app_dir=tmp_path, environ={"BUS": LOCAL.format(port=5999), "QUEUE": "jobs"}
        )


def test_durations_in_both_notations() -> None:
    assert [parse_duration(text) for text in ("PT1M", "P1D", "PT2.5S", "00:05:00", "1.00:00:00")] == [
        60,
        86400,
        2.5,
        300,
        86400,
    ]
    with pytest.raises(ValueError):
        parse_duration("soon")


async def test_identity_connections_use_the_namespace() -> None:
    client = build_client("BUS", {"BUS__fullyQualifiedNamespace": "ns.servicebus.windows.net"})
    try:
        assert client.fully_qualified_namespace == "ns.servicebus.windows.net"
    finally:
        await client.close()
    with pytest.raises(SettingMissingError):
        build_client("BUS", {})
