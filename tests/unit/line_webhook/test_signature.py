from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import azure.functions as func
import pytest

from jobs.config.settings import load_settings
from jobs.services import Services, build_services
from line_webhook.signature import expected_signature, signature_is_valid
from line_webhook.webhook import respond
from testing.factories_line import CHANNEL_SECRET, sign, text_event, webhook_body

BODY = webhook_body([text_event("a red fox")])


def test_a_correct_signature_is_accepted() -> None:
    assert signature_is_valid(CHANNEL_SECRET, BODY, sign(BODY))


def test_the_signature_is_base64_of_the_hmac_sha256_of_the_raw_body() -> None:
    # A fixed known answer for HMAC-SHA256(key="secret", msg="{}"), base64-encoded.
    expected = "dzJZAsrKgS3CWXM6rNBGtzgXNyx3e42VtAJkdHRRbhM="
    assert expected_signature("secret", b"{}") == expected
    assert len(base64.b64decode(expected)) == 32


def test_a_signature_made_with_another_secret_is_refused() -> None:
    assert not signature_is_valid(CHANNEL_SECRET, BODY, sign(BODY, "another-secret"))


@pytest.mark.parametrize("signature", [None, "", "not base64 at all", "Zm9v"])
def test_missing_or_garbage_signatures_are_refused(signature: str | None) -> None:
    assert not signature_is_valid(CHANNEL_SECRET, BODY, signature)


def test_a_body_altered_by_one_byte_is_refused() -> None:
    signature = sign(BODY)
    position = BODY.index(b"red")
    altered = BODY[:position] + b"R" + BODY[position + 1 :]
    assert len(altered) == len(BODY)
    assert not signature_is_valid(CHANNEL_SECRET, altered, signature)


def test_non_ascii_signature_header_does_not_raise() -> None:
    assert not signature_is_valid(CHANNEL_SECRET, BODY, "\u00e9t\u00e9-signature")


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    # Storage is never reached: a bad signature is refused before any event is read.
    settings = load_settings({
        "GENERATION_STORAGE": "UseDevelopmentStorage=true",
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": "dummy-line-token",
    })
    async with build_services(settings) as built:
        yield built


def _request(body: bytes, headers: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST", url="http://localhost/api/line/webhook", headers=headers, body=body
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-line-signature": sign(BODY, "another-secret")}, {"x-line-signature": sign(BODY + b" ")}],
    ids=["missing", "wrong-secret", "other-body"],
)
async def test_the_webhook_answers_401_to_a_bad_signature(
    headers: dict[str, str], services: Services
) -> None:
    response = await respond(_request(BODY, headers), services)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


async def test_the_console_verify_request_gets_200(services: Services) -> None:
    body = webhook_body([])
    response = await respond(_request(body, {"x-line-signature": sign(body)}), services)
    assert response.status_code == 200


async def test_a_signed_body_that_is_not_a_webhook_payload_gets_400(services: Services) -> None:
    body = b'{"destination": "U0", "events": [{"type": "message"}]}'
    response = await respond(_request(body, {"x-line-signature": sign(body)}), services)
    assert response.status_code == 400
