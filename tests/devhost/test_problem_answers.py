"""Every answer devhost makes itself is an RFC 9457 problem, down to requests aiohttp cannot parse."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from devhost.http import MAX_BODY_BYTES
from testing.devhost import DevhostProcess
from testing.http import Reply, call
from tests.devhost.sample_app.support import sample_settings


@pytest.fixture(scope="module")
def settings(azurite_connection_string: str) -> dict[str, str]:
    return sample_settings(azurite_connection_string)


def _is_problem(status: int, content_type: str, body: bytes) -> None:
    assert content_type.startswith("application/problem+json"), (status, content_type, body)
    document = json.loads(body)
    assert document["status"] == status
    assert document["title"] and document["detail"]


def _check(reply: Reply, status: int) -> None:
    assert reply.status == status, reply.body
    _is_problem(status, reply.headers["content-type"], reply.body)


def _raw(host: DevhostProcess, request: bytes) -> tuple[int, str, bytes]:
    """Send bytes no HTTP client library would; return status, content type and body."""
    parts = urlsplit(host.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            body += sock.recv(65536)
    return int(lines[0].split()[1]), headers.get("content-type", ""), body


def test_no_route_is_a_404_problem(host: DevhostProcess) -> None:
    _check(call("GET", f"{host.base_url}/api/no/such/route"), 404)
    _check(call("GET", f"{host.base_url}/outside/the/prefix"), 404)


def test_a_method_the_route_does_not_take_is_a_405_problem_with_allow(host: DevhostProcess) -> None:
    reply = call("PATCH", f"{host.base_url}/api/echo")
    _check(reply, 405)
    assert reply.headers["allow"] == "POST, PUT"


def test_an_unhandled_error_is_a_500_problem_without_the_details(host: DevhostProcess) -> None:
    reply = call("GET", f"{host.base_url}/api/boom")
    _check(reply, 500)
    assert b"secret detail" not in reply.body


def test_a_body_declared_over_the_host_limit_is_a_413_problem(host: DevhostProcess) -> None:
    head = (f"POST /api/echo HTTP/1.1\r\nHost: h\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n"
            "Connection: close\r\n\r\n").encode()

    status, content_type, body = _raw(host, head + b"x" * 1024)

    assert status == 413, body
    _is_problem(status, content_type, body)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET /api/anonymous HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
        (b"GET /api/anonymous HTTP/1.1\r\nHost: h\r\nX-Bad: a\x00b\r\n\r\n", 400),
        (b"GET /api/anonymous HTTP/1.1\r\nHost: h\r\nBad Name: ab\r\n\r\n", 400),
    ],
    ids=["url-too-long", "header-too-long", "nul-in-header-value", "space-in-header-name"],
)
def test_requests_the_parser_refuses_get_problems(host: DevhostProcess, request_bytes: bytes,
                                                  status: int) -> None:
    answered, content_type, body = _raw(host, request_bytes)
    assert answered == status, body
    _is_problem(status, content_type, body)
