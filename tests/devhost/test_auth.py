"""Auth levels and the admin API on a devhost with keys configured."""

from __future__ import annotations

import json

import pytest

from testing.devhost import DevhostProcess
from testing.http import call
from tests.devhost.sample_app.support import Results, sample_settings

FUNCTION_KEYS = "function-key-one,function-key-two"
MASTER_KEY = "the-master-key"


@pytest.fixture(scope="module")
def settings(azurite_connection_string: str) -> dict[str, str]:
    return sample_settings(azurite_connection_string, DEVHOST_FUNCTION_KEYS=FUNCTION_KEYS,
                           DEVHOST_MASTER_KEY=MASTER_KEY)


def test_anonymous_needs_no_key(host: DevhostProcess) -> None:
    assert call("GET", f"{host.base_url}/api/anonymous").status == 200


@pytest.mark.parametrize(("headers", "query", "status"), [
    ({}, "", 401),
    ({"x-functions-key": "wrong"}, "", 401),
    ({}, "?code=wrong", 401),
    ({"x-functions-key": "function-key-one"}, "", 200),
    ({}, "?code=function-key-two", 200),
    ({"x-functions-key": MASTER_KEY}, "", 200),
])
def test_function_level(host: DevhostProcess, headers: dict[str, str], query: str, status: int) -> None:
    assert call("GET", f"{host.base_url}/api/secure/function{query}", headers=headers).status == status


@pytest.mark.parametrize(("headers", "query", "status"), [
    ({}, "", 401),
    ({"x-functions-key": "function-key-one"}, "", 401),
    ({"x-functions-key": MASTER_KEY}, "", 200),
    ({}, f"?code={MASTER_KEY}", 200),
])
def test_admin_level_needs_the_master_key(host: DevhostProcess, headers: dict[str, str], query: str,
                                          status: int) -> None:
    assert call("GET", f"{host.base_url}/api/secure/admin{query}", headers=headers).status == status


def test_status_probe_is_open(host: DevhostProcess) -> None:
    assert call("GET", f"{host.base_url}/admin/host/status").status == 200


def test_admin_invocation_needs_the_master_key(host: DevhostProcess, results: Results) -> None:
    url = f"{host.base_url}/admin/functions/record_message"

    def body(text: str) -> bytes:
        return json.dumps({"input": text}).encode()

    assert call("POST", url, body=body("without a key")).status == 401
    assert call("POST", url, body=body("with a function key"),
                headers={"x-functions-key": "function-key-one"}).status == 401
    assert call("POST", url, body=body("with the master key"),
                headers={"x-functions-key": MASTER_KEY}).status == 202
    results.wait_for(function="record_message", text="with the master key")
    # The refused calls were made first, so had they run, their records would be here by now.
    assert [r["text"] for r in results.matching(function="record_message")] == ["with the master key"]
