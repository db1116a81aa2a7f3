"""With keys enforced, the Durable HTTP API takes the master or system key, and the app's client works."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from testing.devhost import DevhostProcess, wait_for
from testing.http import call
from tests.devhost.sample_app.support import sample_settings

FUNCTION_KEY = "function-key-one"
MASTER_KEY = "the-master-key"
API = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def settings(azurite_connection_string: str) -> dict[str, str]:
    return sample_settings(azurite_connection_string, DEVHOST_FUNCTION_KEYS=FUNCTION_KEY,
                           DEVHOST_MASTER_KEY=MASTER_KEY)


def _start(host: DevhostProcess, instance_id: str) -> dict[str, str]:
    reply = call("POST", f"{host.base_url}/api/durable/start/fan_out_fan_in/{instance_id}",
                 body=b'{"count": 2}',
                 headers={"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json"})
    assert reply.status == 202, reply.body
    links: dict[str, str] = json.loads(reply.body)
    return links


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/instances"),
        ("DELETE", f"{API}/instances?createdTimeFrom=2000-01-01T00:00:00Z"),
        ("POST", f"{API}/orchestrators/fan_out_fan_in/forged-{uuid.uuid4().hex}"),
        ("GET", f"{API}/instances/some-instance"),
        ("POST", f"{API}/instances/some-instance/terminate"),
    ],
    ids=["list", "purge-all", "start-forged", "status", "terminate"],
)
@pytest.mark.parametrize("key", [None, "wrong", FUNCTION_KEY], ids=["no-key", "wrong-key", "function-key"])
def test_the_durable_api_refuses_anything_but_the_master_or_system_key(
    host: DevhostProcess, method: str, path: str, key: str | None
) -> None:
    headers = {} if key is None else {"x-functions-key": key}

    reply = call(method, f"{host.base_url}{path}", headers=headers)

    assert (reply.status, reply.body) == (401, b"")  # empty, as the Functions host answers it


def test_the_app_client_works_and_hands_out_urls_carrying_the_system_key(host: DevhostProcess) -> None:
    instance_id = f"keyed-{uuid.uuid4().hex[:8]}"

    links = _start(host, instance_id)  # the client inside the function called the API without a key

    status_url = links["statusQueryGetUri"]
    [system_key] = parse_qs(urlsplit(status_url).query)["code"]
    assert system_key not in (MASTER_KEY, FUNCTION_KEY)
    done = wait_for(lambda: (r := call("GET", status_url)).status == 200
                    and json.loads(r.body)["runtimeStatus"] == "Completed" and r)
    assert json.loads(done.body)["instanceId"] == instance_id
    without_code = status_url.split("?")[0]
    assert call("GET", without_code).status == 401
    assert call("GET", without_code, headers={"x-functions-key": MASTER_KEY}).status == 200


def test_a_key_of_bytes_that_are_not_utf8_is_401_not_500(host: DevhostProcess) -> None:
    for url in (f"{host.base_url}/api/secure/function", f"{host.base_url}{API}/instances"):
        reply = call("GET", url, headers={"x-functions-key": b"\xff\xfe-key"})  # type: ignore[dict-item]
        assert (reply.status, reply.body) == (401, b""), url
