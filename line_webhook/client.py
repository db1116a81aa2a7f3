"""The LINE Messaging API client: one per event loop (its aiohttp session belongs to the loop)."""

from __future__ import annotations

import asyncio
import weakref

from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

from jobs.config.settings import get_settings
from line_webhook.settings import line_settings

# A loop that is gone takes its entry with it; the session was bound to it anyway.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[AsyncApiClient, AsyncMessagingApi]] = (
    weakref.WeakKeyDictionary()
)


def line_api() -> AsyncMessagingApi:
    """The running loop's client, built on first use from the LINE settings.

    `LINE_API_HOST` replaces https://api.line.me (the SDK uses `Configuration.host` when set).
    """
    loop = asyncio.get_running_loop()
    entry = _clients.get(loop)
    if entry is None:
        line = line_settings(get_settings())
        configuration = Configuration(access_token=line.channel_access_token, host=_host(line.api_host))
        client = AsyncApiClient(configuration)
        entry = (client, AsyncMessagingApi(client))
        _clients[loop] = entry
    return entry[1]


def _host(api_host: str | None) -> str | None:
    return api_host.rstrip("/") if api_host else None


async def close_line_api() -> None:
    """Close the running loop's client (tests and shutdown); the next call builds a new one."""
    entry = _clients.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry[0].close()
