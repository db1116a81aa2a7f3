"""HTTP triggers on a running devhost (no keys configured): routes, bodies, responses, errors, settings."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

import pytest

from testing.devhost import DevhostProcess, wait_for
from testing.http import call
from tests.devhost.sample_app.support import SAMPLE_APP, sample_settings


@pytest.fixture(scope="module")
def host(azurite_connection_string: str) -> Iterator[DevhostProcess]:
    settings = sample_settings(azurite_connection_string, SAMPLE_PRECEDENCE="from-file",
                               SAMPLE_FILE_ONLY="only-in-file")
    process = DevhostProcess(app_dir=SAMPLE_APP, settings=settings, env={"SAMPLE_PRECEDENCE": "from-env"})
    with process:
        yield process


@pytest.mark.parametrize("body", [
    bytes(range(256)),
    b'{ "type" :"message",\n\t"text":"caf\xc3\xa9" ,"n": 1.50 }  ',
    b"",
], ids=["all-bytes", "odd-json", "empty"])
def test_raw_body_reaches_the_function_byte_for_byte(host: DevhostProcess, body: bytes) -> None:
    reply = call("POST", f"{host.base_url}/api/echo", body=body,
                 headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 200
    assert reply.json() == {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body),
                            "content_type": "application/octet-stream"}


def test_request_method_query_headers_and_url(host: DevhostProcess) -> None:
    reply = call("PATCH", f"{host.base_url}/api/inspect?x=1&name=two%20words", headers={"X-Sample": "hi"})
    assert reply.status == 200
    assert reply.json() == {"method": "PATCH", "url": f"{host.base_url}/api/inspect?x=1&name=two%20words",
                            "params": {"x": "1", "name": "two words"}, "header": "hi", "route_params": {}}


def test_optional_and_constrained_route_parameters(host: DevhostProcess) -> None:
    assert call("GET", f"{host.base_url}/api/items").json() == {"route_params": {}}
    assert call("GET", f"{host.base_url}/api/items/42").json() == {"route_params": {"id": "42"}}
    assert call("GET", f"{host.base_url}/api/items/forty-two").status == 404
    guid = "6f1c3a5e-1111-4c4c-9d9d-000000000000"
    assert call("GET", f"{host.base_url}/api/things/{guid}").body.decode() == guid
    assert call("GET", f"{host.base_url}/api/things/not-a-guid").status == 404
    files = call("GET", f"{host.base_url}/api/users/alice/files/report.final.pdf")
    assert files.json() == {"name": "alice", "stem": "report.final", "ext": "pdf"}
    assert call("GET", f"{host.base_url}/api/users/al1ce/files/a.pdf").status == 404


def test_methods_select_the_function_and_others_get_405(host: DevhostProcess) -> None:
    assert call("DELETE", f"{host.base_url}/api/items/42").status == 204
    wrong = call("POST", f"{host.base_url}/api/items/42")
    assert wrong.status == 405
    assert wrong.headers["allow"] == "DELETE, GET"
    assert call("GET", f"{host.base_url}/api/echo").status == 405


def test_unknown_routes_and_paths_outside_the_prefix_are_404(host: DevhostProcess) -> None:
    assert call("GET", f"{host.base_url}/api/no-such-function").status == 404
    assert call("GET", f"{host.base_url}/anonymous").status == 404
    assert call("GET", f"{host.base_url}/").status == 404
    assert call("GET", f"{host.base_url}/API/Anonymous").status == 200


def test_http_response_status_headers_and_mimetype(host: DevhostProcess) -> None:
    shaped = call("GET", f"{host.base_url}/api/shape")
    assert shaped.status == 201
    assert shaped.headers["x-sample"] == "yes"
    assert shaped.headers["location"] == "/api/shape/1"
    assert shaped.headers["content-type"] == "application/problem+json"
    assert shaped.body == b'{"shaped": true}'
    text = call("GET", f"{host.base_url}/api/shape?kind=text")
    assert (text.status, text.headers["content-type"], text.body) == (
        202, "text/plain; charset=utf-8", b"plain words")
    returned = call("GET", f"{host.base_url}/api/text")
    assert (returned.status, returned.body) == (200, b"returned a str")


def test_exception_is_a_generic_500_with_the_trace_in_the_log(host: DevhostProcess) -> None:
    reply = call("GET", f"{host.base_url}/api/boom")
    assert reply.status == 500
    assert b"secret" not in reply.body and b"Traceback" not in reply.body
    log = wait_for(lambda: "RuntimeError: sample failure" in host.output() and host.output(), timeout=10)
    assert re.search(r"Executed 'boom' \(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms\)", log)
    assert "Traceback (most recent call last)" in log


def test_every_invocation_logs_one_line(host: DevhostProcess) -> None:
    before = host.output().count("Executed 'anonymous' (Succeeded")
    for _ in range(3):
        assert call("GET", f"{host.base_url}/api/anonymous").status == 200
    wait_for(lambda: host.output().count("Executed 'anonymous' (Succeeded") == before + 3, timeout=10)
    assert re.search(r"Executed 'anonymous' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)", host.output())


def test_environment_wins_over_the_settings_file(host: DevhostProcess) -> None:
    assert call("GET", f"{host.base_url}/api/settings/SAMPLE_PRECEDENCE").body == b"from-env"
    assert call("GET", f"{host.base_url}/api/settings/SAMPLE_FILE_ONLY").body == b"only-in-file"


def test_without_keys_function_and_admin_levels_are_open(host: DevhostProcess) -> None:
    assert call("GET", f"{host.base_url}/api/secure/function").body == b"function ok"
    assert call("GET", f"{host.base_url}/api/secure/admin").body == b"admin ok"
    assert "no keys configured" in host.output()


def test_unsupported_triggers_are_listed_and_the_rest_is_served(host: DevhostProcess) -> None:
    log = host.output()
    # Hosted when its connection is set (tests/devhost/servicebus); here the setting is missing.
    missing = "setting 'SAMPLE_SERVICE_BUS' is not set"
    assert f"not hosting 'service_bus_listener' (serviceBusTrigger): {missing}" in log
    assert f"anonymous: [ALL] {host.base_url}/api/anonymous" in log
    assert f"get_item: [GET] {host.base_url}/api/items/{{id:int?}}" in log
    assert "yearly_timer: timerTrigger" in log
    assert call("GET", f"{host.base_url}/api/anonymous").status == 200


def test_admin_api_answers_for_functions_it_cannot_run(host: DevhostProcess) -> None:
    status = call("GET", f"{host.base_url}/admin/host/status")
    assert (status.status, status.json()["state"]) == (200, "Running")
    body = json.dumps({"input": "x"}).encode()
    assert call("POST", f"{host.base_url}/admin/functions/no_such_function", body=body).status == 404
    assert call("POST", f"{host.base_url}/admin/functions/anonymous", body=body).status == 400
    refused = call("POST", f"{host.base_url}/admin/functions/service_bus_listener", body=body)
    assert refused.status == 400 and "SAMPLE_SERVICE_BUS" in refused.json()["detail"]
    assert call("POST", f"{host.base_url}/admin/functions/yearly_timer", body=b"not json").status == 400
    assert call("POST", f"{host.base_url}/admin/functions/yearly_timer", body=b'{"input": 5}').status == 400
