from __future__ import annotations

from linebot.v3.messaging import TextMessage

from jobs.config.settings import load_settings
from jobs.services import build_services
from line_webhook.calls import Sent, reply
from line_webhook.client import line_api
from testing.factories_line import CHANNEL_ACCESS_TOKEN, CHANNEL_SECRET
from testing.fakes.line_server import FakeLine


async def test_one_client_per_services_pointed_at_line_api_host(fake_line: FakeLine) -> None:
    settings = load_settings({
        "GENERATION_STORAGE": "UseDevelopmentStorage=true",
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": CHANNEL_ACCESS_TOKEN,
        "LINE_API_HOST": fake_line.base_url + "/",
    })
    async with build_services(settings) as services:
        api = services.component(line_api)
        assert services.component(line_api) is api
        assert await reply(api, fake_line.issue_reply_token(), [TextMessage(text="hi")]) is Sent.SENT
    async with build_services(settings) as others:
        assert others.component(line_api) is not api
    assert [call["path"] for call in fake_line.requests] == ["/v2/bot/message/reply"]
