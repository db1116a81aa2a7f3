"""The callback client against real loopback receivers: pinned addresses, no redirects, the timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from generation.callbacks.sender import CallbackSender
from generation.callbacks.signing import webhook_headers
from testing.fakes.webhook_receiver import TEST_SECRET, WebhookReceiver

BODY = b'{"id":"job-1","status":"succeeded"}'


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


class Dns:
    """A resolver the test points wherever it likes (a name no real DNS knows)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        assert host == "hooks.test"
        self.lookups += 1
        return [self.address]


def _headers() -> dict[str, str]:
    return webhook_headers(TEST_SECRET, message_id="msg_job-1", timestamp=int(time.time()), body=BODY)


def _named(receiver: WebhookReceiver) -> str:
    return receiver.url.replace("127.0.0.1", "hooks.test")


async def test_a_name_connects_to_the_address_the_guard_resolved(receiver: WebhookReceiver) -> None:
    dns = Dns("127.0.0.1")
    sender = CallbackSender(resolver=dns, allow_loopback_http=True)
    try:
        result = await sender.post(_named(receiver), body=BODY, headers=_headers())
    finally:
        await sender.close()
    assert result.delivered and result.status == 204
    assert dns.lookups == 1
    assert [(r.verified, r.body) for r in receiver.received] == [(True, BODY)]


async def test_a_name_that_now_resolves_to_a_private_address_is_refused(receiver: WebhookReceiver) -> None:
    dns = Dns("127.0.0.1")
    sender = CallbackSender(resolver=dns, allow_loopback_http=True)
    try:
        assert (await sender.post(_named(receiver), body=BODY, headers=_headers())).delivered
        dns.address = "10.0.0.5"  # rebound after the check at submit
        result = await sender.post(_named(receiver), body=BODY, headers=_headers())
    finally:
        await sender.close()
    assert result.refused and result.status is None
    assert "private" in (result.problem or "")
    assert len(receiver.received) == 1


async def test_loopback_is_refused_unless_allowed(receiver: WebhookReceiver) -> None:
    sender = CallbackSender()
    try:
        result = await sender.post(receiver.url, body=BODY, headers=_headers())
    finally:
        await sender.close()
    assert result.refused and receiver.received == []


async def test_a_redirect_is_not_followed(receiver: WebhookReceiver) -> None:
    receiver.script = [307]
    sender = CallbackSender(allow_loopback_http=True)
    try:
        result = await sender.post(receiver.url, body=BODY, headers=_headers())
    finally:
        await sender.close()
    assert result.status == 307 and not result.delivered
    assert len(receiver.received) == 1


async def test_a_server_error_and_a_timeout_are_not_deliveries(receiver: WebhookReceiver) -> None:
    receiver.script = [500, "hang"]
    sender = CallbackSender(allow_loopback_http=True, timeout_seconds=0.5)
    try:
        failed = await sender.post(receiver.url, body=BODY, headers=_headers())
        hung = await sender.post(receiver.url, body=BODY, headers=_headers())
    finally:
        await sender.close()
    assert (failed.status, failed.delivered, failed.refused) == (500, False, False)
    assert (hung.status, hung.problem, hung.refused) == (None, "timed out", False)
