"""Which activity hands a finished job to its channel; activities are named by string, so no import."""

from __future__ import annotations

DELIVERY_ACTIVITIES: dict[str, str] = {"line": "deliver_line"}


def delivery_activity(channel: str) -> str | None:
    """The delivery activity of a channel, or None when the channel is polled (the HTTP API)."""
    return DELIVERY_ACTIVITIES.get(channel)
