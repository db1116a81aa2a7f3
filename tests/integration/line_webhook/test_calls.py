"""The LINE calls through the real SDK against the fake server (which these tests also pin down)."""

from __future__ import annotations

import aiohttp
import pytest
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration, ImageMessage, TextMessage

from line_webhook.calls import PermanentLineError, Sent, TransientLineError, push, reply, show_loading
from line_webhook.retry_keys import retry_key
from testing.factories_line import CHANNEL_ACCESS_TOKEN, group_id, user_id
from testing.fakes.line_server import FakeLine

HELLO = [TextMessage(text="hello")]


async def test_a_reply_token_works_once(line_api: AsyncMessagingApi, fake_line: FakeLine) -> None:
    token = fake_line.issue_reply_token()
    assert await reply(line_api, token, HELLO) is Sent.SENT
    assert await reply(line_api, token, HELLO) is Sent.INVALID_REPLY_TOKEN
    assert [s["messages"] for s in fake_line.sent_snapshot()] == [[{"type": "text", "text": "hello"}]]


async def test_an_expired_reply_token_is_invalid(line_api: AsyncMessagingApi, fake_line: FakeLine) -> None:
    token = fake_line.issue_reply_token(ttl=0)
    assert await reply(line_api, token, HELLO) is Sent.INVALID_REPLY_TOKEN
    assert fake_line.sent_snapshot() == []


async def test_a_retry_key_is_sent_once_and_then_answered_409(
    line_api: AsyncMessagingApi, fake_line: FakeLine
) -> None:
    to, key = user_id(), retry_key("job-1")
    assert await push(line_api, to, HELLO, retry_key=key) is Sent.SENT
    assert await push(line_api, to, HELLO, retry_key=key) is Sent.ALREADY_SENT
    assert [s["retry_key"] for s in fake_line.sent_snapshot()] == [key]
    conflict = fake_line.requests[-1]
    assert conflict["headers"]["X-Line-Retry-Key"] == key


async def test_a_failed_push_does_not_use_up_its_retry_key(
    line_api: AsyncMessagingApi, fake_line: FakeLine
) -> None:
    fake_line.fail_next("/message/push", 500)
    with pytest.raises(TransientLineError) as failure:
        await push(line_api, user_id(), HELLO, retry_key=retry_key("job-2"))
    assert failure.value.status == 500
    assert await push(line_api, user_id(), HELLO, retry_key=retry_key("job-2")) is Sent.SENT


async def test_a_wrong_access_token_is_permanent(fake_line: FakeLine) -> None:
    client = AsyncApiClient(Configuration(access_token="wrong", host=fake_line.base_url))
    try:
        with pytest.raises(PermanentLineError) as failure:
            await push(AsyncMessagingApi(client), user_id(), HELLO, retry_key=retry_key("job-3"))
    finally:
        await client.close()
    assert failure.value.status == 401
    assert "wrong" not in str(failure.value)


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "text", "text": str(i)} for i in range(6)],
        [{"type": "text", "text": "x" * 5001}],
        [{"type": "text", "text": ""}],
        [
            {
                "type": "image",
                "originalContentUrl": "https://x.test/" + "a" * 2000,
                "previewImageUrl": "https://x",
            }
        ],
        [{"type": "image", "originalContentUrl": "ftp://x.test/a.png", "previewImageUrl": "https://x"}],
        [{"type": "sticker", "packageId": "1", "stickerId": "1"}],
    ],
    ids=["six-messages", "long-text", "empty-text", "long-url", "not-http", "unsupported-type"],
)
async def test_the_fake_checks_message_shapes(fake_line: FakeLine, messages: list[dict[str, object]]) -> None:
    # Raw JSON: the SDK itself refuses some of these before sending.
    headers = {"Authorization": f"Bearer {CHANNEL_ACCESS_TOKEN}"}
    async with aiohttp.ClientSession(trust_env=False) as session:
        url = f"{fake_line.base_url}/v2/bot/message/push"
        async with session.post(
            url, json={"to": user_id(), "messages": messages}, headers=headers
        ) as response:
            assert response.status == 400
            assert (await response.json())["details"]
    assert fake_line.sent_snapshot() == []


async def test_a_long_text_is_refused_as_permanent(line_api: AsyncMessagingApi, fake_line: FakeLine) -> None:
    with pytest.raises(PermanentLineError) as failure:
        await push(line_api, user_id(), [TextMessage(text="x" * 5001)], retry_key=retry_key("job-5"))
    assert failure.value.status == 400


async def test_https_images_carry_no_scheme_warning(line_api: AsyncMessagingApi, fake_line: FakeLine) -> None:
    image = ImageMessage(
        original_content_url="https://x.test/a.png", preview_image_url="https://x.test/a.jpg"
    )
    await push(line_api, group_id(), [image], retry_key=retry_key("job-7"))
    assert fake_line.sent_snapshot()[0]["scheme_warning"] is None


async def test_loading_animation_is_for_users_only(line_api: AsyncMessagingApi, fake_line: FakeLine) -> None:
    user = user_id()
    await show_loading(line_api, user, seconds=60, job_id="job-8")
    # LINE refuses group ids; the failure is logged, never raised.
    await show_loading(line_api, group_id(), seconds=60, job_id="job-8")
    assert fake_line.loading == [{"chatId": user, "loadingSeconds": 60}]
