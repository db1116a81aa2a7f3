from __future__ import annotations

from collections.abc import Iterator

import pytest
from linebot.v3.messaging import TextMessage

from jobs.config.settings import reset_settings
from line_webhook.calls import Sent, reply
from line_webhook.client import close_line_api, line_api
from tests.factories_line import CHANNEL_ACCESS_TOKEN, CHANNEL_SECRET
from tests.fakes.line_server import FakeLine


@pytest.fixture
def line_settings(monkeypatch: pytest.MonkeyPatch, fake_line: FakeLine) -> Iterator[None]:
    monkeypatch.setenv("GENERATION_STORAGE", "UseDevelopmentStorage=true")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", CHANNEL_SECRET)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", CHANNEL_ACCESS_TOKEN)
    monkeypatch.setenv("LINE_API_HOST", fake_line.base_url + "/")
    reset_settings()
    yield
    reset_settings()


@pytest.mark.usefixtures("line_settings")
async def test_one_client_per_loop_pointed_at_line_api_host(fake_line: FakeLine) -> None:
    api = line_api()
    assert line_api() is api
    try:
        assert await reply(api, fake_line.issue_reply_token(), [TextMessage(text="hi")]) is Sent.SENT
    finally:
        await close_line_api()
    assert line_api() is not api
    await close_line_api()
    assert [call["path"] for call in fake_line.requests] == ["/v2/bot/message/reply"]
