"""Our Standard Webhooks signatures, checked with the reference `standardwebhooks` verifier."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from generation.callbacks.signing import signature, webhook_headers
from testing.fakes.webhook_receiver import OTHER_SECRET, TEST_SECRET


def test_the_reference_verifier_accepts_our_headers() -> None:
    body = b'{"id":"j1","status":"succeeded","prompt":"caf\xc3\xa9"}'
    headers = webhook_headers(TEST_SECRET, message_id="msg_j1", timestamp=int(time.time()), body=body)
    assert Webhook(TEST_SECRET).verify(body, headers) == {"id": "j1", "status": "succeeded", "prompt": "café"}


def test_our_signature_equals_the_reference_signature() -> None:
    from datetime import UTC, datetime

    moment = 1_700_000_000
    body = '{"a":1}'
    expected = Webhook(TEST_SECRET).sign("msg_x", datetime.fromtimestamp(moment, UTC), body)
    assert signature(TEST_SECRET, message_id="msg_x", timestamp=moment, body=body.encode()) == expected


@pytest.mark.parametrize("tamper", ["body", "id", "secret"])
def test_a_changed_message_or_another_secret_is_rejected(tamper: str) -> None:
    body = b'{"id":"j1"}'
    headers = webhook_headers(TEST_SECRET, message_id="msg_j1", timestamp=int(time.time()), body=body)
    secret = OTHER_SECRET if tamper == "secret" else TEST_SECRET
    if tamper == "body":
        body = b'{"id":"j2"}'
    if tamper == "id":
        headers["webhook-id"] = "msg_j2"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
