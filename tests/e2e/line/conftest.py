"""The product app on devhost wired to a fake LINE server; one app per settings profile per module."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from testing.devhost import DevhostProcess
from testing.factories_line import CHANNEL_ACCESS_TOKEN, CHANNEL_SECRET, signed_request
from testing.fakes.line_server import FakeLine
from testing.http import Reply, call
from testing.product_app import REPO_ROOT, product_settings

# Generation slower than the reply token's lifetime, so the result must be pushed.
SLOW = {"OFFLINE_LATENCY_MS": "2500", "LINE_REPLY_TOKEN_TTL_SECONDS": "1"}


def line_app_settings(connection_string: str, fake: FakeLine, **overrides: str) -> dict[str, str]:
    return product_settings(
        connection_string,
        LINE_CHANNEL_SECRET=CHANNEL_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=CHANNEL_ACCESS_TOKEN,
        LINE_API_HOST=fake.base_url,
        **overrides,
    )


@pytest.fixture(scope="module")
def fake_line() -> Iterator[FakeLine]:
    with FakeLine(CHANNEL_ACCESS_TOKEN) as fake:
        yield fake


def _run(connection_string: str, fake: FakeLine, **overrides: str) -> Iterator[DevhostProcess]:
    settings = line_app_settings(connection_string, fake, **overrides)
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as app:
        yield app


@pytest.fixture(scope="module")
def line_app(azurite_connection_string: str, fake_line: FakeLine) -> Iterator[DevhostProcess]:
    """Fast generation: results arrive while the reply token is fresh."""
    yield from _run(azurite_connection_string, fake_line)


@pytest.fixture(scope="module")
def slow_line_app(azurite_connection_string: str, fake_line: FakeLine) -> Iterator[DevhostProcess]:
    yield from _run(azurite_connection_string, fake_line, **SLOW)


def post_webhook(app: DevhostProcess, body: bytes, headers: dict[str, str]) -> Reply:
    return call("POST", f"{app.base_url}/api/line/webhook", body=body, headers=headers)


def post_events(app: DevhostProcess, events: list[dict[str, Any]]) -> Reply:
    body, headers = signed_request(events)
    return post_webhook(app, body, headers)


def jobs_of(app: DevhostProcess, user: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"user": f"line:{user}"})
    answer = call("GET", f"{app.base_url}/api/generations?{query}")
    assert answer.status == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def sent_to(fake: FakeLine, chat: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
    """The calls that reached `chat`, once there are `count` of them (fewer if time runs out)."""
    fake.wait_for(lambda f: len([s for s in f.sent if s["to"] == chat]) >= count, timeout)
    return [sent for sent in fake.sent_snapshot() if sent["to"] == chat]
