"""The LINE Messaging API client, one per services object (its aiohttp session belongs to the loop)."""

from __future__ import annotations

from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

from jobs.services import Services
from line_webhook.settings import line_settings


def line_api(services: Services) -> AsyncMessagingApi:
    """A client built from the LINE settings, for `services.component(line_api)`.

    `LINE_API_HOST` replaces https://api.line.me (the SDK uses `Configuration.host` when set).
    """
    line = line_settings(services.settings)
    configuration = Configuration(access_token=line.channel_access_token, host=_host(line.api_host))
    client = AsyncApiClient(configuration)
    services.on_close(client.close)
    return AsyncMessagingApi(client)


def _host(api_host: str | None) -> str | None:
    return api_host.rstrip("/") if api_host else None
