"""The LINE settings the webhook and the delivery need, checked when LINE is first used."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.config.settings import Settings
from jobs.domain.errors import SettingsError
from jobs.domain.models import JobKind


@dataclass(frozen=True)
class LineSettings:
    channel_secret: str = field(repr=False)
    channel_access_token: str = field(repr=False)
    api_host: str | None
    default_kind: JobKind
    reply_token_ttl_seconds: int
    image_url_ttl_hours: int


def line_settings(settings: Settings) -> LineSettings:
    """The LINE view of `settings`; SettingsError names the first missing secret."""
    if not settings.line_channel_secret:
        raise SettingsError("LINE_CHANNEL_SECRET is not set")
    if not settings.line_channel_access_token:
        raise SettingsError("LINE_CHANNEL_ACCESS_TOKEN is not set")
    return LineSettings(
        channel_secret=settings.line_channel_secret,
        channel_access_token=settings.line_channel_access_token,
        api_host=settings.line_api_host,
        default_kind=settings.line_default_kind,
        reply_token_ttl_seconds=settings.line_reply_token_ttl_seconds,
        image_url_ttl_hours=settings.line_image_url_ttl_hours,
    )
