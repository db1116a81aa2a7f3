"""Small typed views of the settings one feature needs, returned by `Settings.require_*()`."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.domain.models import JobKind


@dataclass(frozen=True)
class LineSettings:
    channel_secret: str = field(repr=False)
    channel_access_token: str = field(repr=False)
    api_host: str | None
    default_kind: JobKind
    reply_token_ttl_seconds: int
    image_url_ttl_hours: int
