"""Settings files, host.json options and key rules (pure logic: no host needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost import azurite
from devhost.auth import Keys
from devhost.settings import (
    SettingMissingError,
    apply_values,
    load_host_config,
    load_local_settings,
    parse_timespan,
    resolve_references,
    sdk_client_options,
    storage_connection_string,
)


def test_values_fill_the_environment_but_never_override_it() -> None:
    environ = {"ALREADY": "from-env"}
    applied = apply_values({"ALREADY": "from-file", "NEW": "x", "FLAG": True, "COUNT": 3}, environ)
    assert environ == {"ALREADY": "from-env", "NEW": "x", "FLAG": "true", "COUNT": "3"}
    assert sorted(applied) == ["COUNT", "FLAG", "NEW"]


def test_missing_settings_file_is_empty(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path / "local.settings.json") == {}


def test_settings_file_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"Values": {"A": "1"}}).encode())
    assert load_local_settings(path) == {"Values": {"A": "1"}}


@pytest.mark.parametrize(("text", "seconds"), [
    ("00:00:02", 2), ("00:10:00", 600), ("1.02:00:00", 93600), ("00:00:00.5", 0.5)])
def test_timespans(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


def test_malformed_timespan() -> None:
    with pytest.raises(ValueError, match="TimeSpan"):
        parse_timespan("2s")


def test_references_resolve_from_the_environment() -> None:
    assert resolve_references("%Q%-poison", {"Q": "jobs"}) == "jobs-poison"
    with pytest.raises(SettingMissingError, match="NOPE"):
        resolve_references("%NOPE%", {})


def test_development_storage_means_azurite() -> None:
    environ = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "OTHER": "AccountName=x;AccountKey=y"}
    assert storage_connection_string(None, environ) == azurite.CONNECTION_STRING
    assert storage_connection_string("OTHER", environ) == "AccountName=x;AccountKey=y"
    with pytest.raises(SettingMissingError):
        storage_connection_string("ABSENT", environ)


def test_identity_based_connections_are_refused_with_a_reason() -> None:
    environ = {"DATA__queueServiceUri": "https://account.queue.core.windows.net"}
    with pytest.raises(ValueError, match="identity-based"):
        storage_connection_string("DATA", environ)


def test_host_json_options(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({
        "functionTimeout": "00:10:00",
        "extensions": {
            "http": {"routePrefix": ""},
            "queues": {"maxPollingInterval": "00:00:05", "batchSize": 8, "maxDequeueCount": 2,
                       "visibilityTimeout": "00:00:03", "messageEncoding": "none"},
            "durableTask": {"hubName": "%HUB%", "maxConcurrentActivityFunctions": 3},
        },
    }))
    config = load_host_config(tmp_path)
    assert config.route_prefix == ""
    assert config.function_timeout == 600
    queues = config.queues
    assert (queues.max_polling_interval, queues.batch_size, queues.new_batch_threshold) == (5, 8, 4)
    assert (config.queues.max_dequeue_count, config.queues.visibility_timeout) == (2, 3)
    assert config.queues.message_encoding == "none"
    assert config.durable.hub_name == "%HUB%"
    assert (config.durable.max_concurrent_activities, config.durable.max_concurrent_orchestrators) == (3, 10)


def test_host_json_defaults(tmp_path: Path) -> None:
    config = load_host_config(tmp_path)
    assert config.route_prefix == "api"
    assert config.queues.max_dequeue_count == 5
    assert config.queues.message_encoding == "base64"
    assert config.durable.hub_name == "TestHubName"


def test_without_keys_every_level_is_open() -> None:
    keys = Keys.from_environment({})
    assert keys.allows("function", None) and keys.allows("admin", None)


def test_function_keys_and_master_key() -> None:
    keys = Keys.from_environment({"DEVHOST_FUNCTION_KEYS": " one, two ,", "DEVHOST_MASTER_KEY": "master"})
    assert keys.allows("anonymous", None)
    assert not keys.allows("function", None)
    assert not keys.allows("function", "three")
    assert keys.allows("function", "two") and keys.allows("function", "master")
    assert not keys.allows("admin", "one")
    assert keys.allows("admin", "master")


def test_function_keys_without_master_key_close_the_admin_level() -> None:
    keys = Keys.from_environment({"DEVHOST_FUNCTION_KEYS": "one"})
    assert keys.allows("function", "one")
    assert not keys.allows("admin", "one")
    assert not keys.allows("admin", None)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, False), ({"no_proxy": "*"}, False), ({"HTTPS_PROXY": ""}, False),
     ({"HTTPS_PROXY": "http://proxy:3128"}, True), ({"http_proxy": "http://proxy:3128"}, True)],
)
def test_sdk_clients_read_proxies_from_the_environment_only_when_one_is_set(
    environ: dict[str, str], expected: bool
) -> None:
    assert sdk_client_options(environ) == {"use_env_settings": expected}
