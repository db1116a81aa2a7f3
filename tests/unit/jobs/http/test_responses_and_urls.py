"""Problem details, JSON answers and absolute URLs built from requests."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func

from jobs.http import ROUTE_PREFIX, base_url, json_response, problem, route_prefix, status_url


def _request(url: str, headers: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest("GET", url, headers=headers or {}, body=b"")


def test_problem_is_rfc9457_json_with_default_title() -> None:
    response = problem(404, detail="No job with id 'x'.")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.get_body()) == {
        "type": "about:blank", "title": "Not Found", "status": 404, "detail": "No job with id 'x'.",
    }


def test_problem_carries_errors_headers_title_and_type() -> None:
    errors = [{"field": "limit", "message": "must be an integer from 1 to 100"}]
    response = problem(
        503, title="Queue unavailable", detail="Try again.", errors=errors,
        headers={"Retry-After": "5"}, type_="https://example.test/problems/queue",
    )
    body = json.loads(response.get_body())
    assert body["errors"] == errors
    assert body["title"] == "Queue unavailable"
    assert body["type"] == "https://example.test/problems/queue"
    assert response.headers["Retry-After"] == "5"


def test_problem_with_unknown_status_still_has_a_title() -> None:
    assert json.loads(problem(599, detail="odd").get_body())["title"] == "Error"


def test_json_response_keeps_unicode_and_status() -> None:
    response = json_response({"prompt": "猫"}, status=202, headers={"Location": "http://h/x"})
    assert response.status_code == 202
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body().decode("utf-8")) == {"prompt": "猫"}
    assert response.headers["Location"] == "http://h/x"


def test_base_url_from_host_header_and_url_scheme() -> None:
    req = _request("http://127.0.0.1:7071/api/generations/1", {"Host": "localhost:7071"})
    assert base_url(req, trust_forwarded=True) == "http://localhost:7071"


def test_base_url_from_url_when_no_host_header() -> None:
    req = _request("https://app.example.net/api/generations")
    assert base_url(req, trust_forwarded=True) == "https://app.example.net"


def test_base_url_honours_forwarded_headers_first_value() -> None:
    req = _request("http://10.0.0.4:8080/api/generations", {
        "Host": "10.0.0.4:8080",
        "X-Forwarded-Proto": "https, http",
        "X-Forwarded-Host": "api.example.com, internal.example.net",
    })
    assert base_url(req, trust_forwarded=True) == "https://api.example.com"


def test_base_url_ignores_forwarded_headers_when_not_trusted() -> None:
    req = _request("http://10.0.0.4:8080/api/x", {
        "Host": "10.0.0.4:8080", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
    })
    assert base_url(req, trust_forwarded=False) == "http://10.0.0.4:8080"


def test_base_url_ignores_a_forwarded_proto_that_is_not_http() -> None:
    req = _request("http://h:1/api/x", {"Host": "h:1", "X-Forwarded-Proto": "javascript"})
    assert base_url(req, trust_forwarded=True) == "http://h:1"


def test_status_url_is_absolute_and_escapes_the_id() -> None:
    assert status_url("https://h", "abc") == "https://h/api/generations/abc"
    assert status_url("https://h/", "a/b") == "https://h/api/generations/a%2Fb"


def test_status_url_follows_the_route_prefix() -> None:
    assert status_url("https://h", "abc", prefix="") == "https://h/generations/abc"
    assert status_url("https://h", "abc", prefix="v2/api") == "https://h/v2/api/generations/abc"


def test_route_prefix_is_read_from_host_json(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "/v1/"}}}))
    assert route_prefix(host_json) == "v1"
    host_json.write_text(json.dumps({"version": "2.0"}))
    assert route_prefix(host_json) == "api"
    assert ROUTE_PREFIX == "api"  # this app's host.json
