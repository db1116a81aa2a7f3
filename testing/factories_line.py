"""Factories for LINE webhook payloads: events, sources, bodies and their signatures.

Shapes follow the Messaging API reference (webhook event objects). Ids look like LINE's: `U`, `C`
or `R` followed by 32 hex digits; webhook event ids are 26-character ULID-like strings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

CHANNEL_SECRET = "dummy-line-secret"
CHANNEL_ACCESS_TOKEN = "dummy-line-token"
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def user_id() -> str:
    return "U" + secrets.token_hex(16)


def group_id() -> str:
    return "C" + secrets.token_hex(16)


def room_id() -> str:
    return "R" + secrets.token_hex(16)


def webhook_event_id() -> str:
    return "01" + "".join(secrets.choice(_ULID_ALPHABET) for _ in range(24))


def now_ms() -> int:
    return int(time.time() * 1000)


def source(kind: str = "user", *, user: str | None = None, chat: str | None = None) -> dict[str, Any]:
    """A source object: `user`, or `group`/`room` with the chat id (a fresh one unless given)."""
    sender = user or user_id()
    if kind == "user":
        return {"type": "user", "userId": sender}
    if kind == "group":
        return {"type": "group", "groupId": chat or group_id(), "userId": sender}
    if kind == "room":
        return {"type": "room", "roomId": chat or room_id(), "userId": sender}
    raise ValueError(f"unknown source type {kind!r}")


def _event(
    kind: str,
    *,
    src: dict[str, Any] | None,
    reply_token: str | None,
    timestamp_ms: int | None,
    event_id: str | None,
    redelivery: bool,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": now_ms() if timestamp_ms is None else timestamp_ms,
        "source": src or source(),
        "webhookEventId": event_id or webhook_event_id(),
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if reply_token is not None:
        event["replyToken"] = reply_token
    return event


def text_event(
    text: str,
    *,
    src: dict[str, Any] | None = None,
    reply_token: str = "dummy-reply-token",
    timestamp_ms: int | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
) -> dict[str, Any]:
    """A text message event (1:1 chat by default)."""
    event = _event(
        "message",
        src=src,
        reply_token=reply_token,
        timestamp_ms=timestamp_ms,
        event_id=event_id,
        redelivery=redelivery,
    )
    event["message"] = {
        "id": str(secrets.randbelow(10**18)),
        "type": "text",
        "text": text,
        "quoteToken": secrets.token_urlsafe(16),
    }
    return event


def image_event(
    *, src: dict[str, Any] | None = None, reply_token: str = "dummy-reply-token", redelivery: bool = False
) -> dict[str, Any]:
    """An image message event (the bot does not take images; it answers with usage)."""
    event = _event(
        "message", src=src, reply_token=reply_token, timestamp_ms=None, event_id=None, redelivery=redelivery
    )
    event["message"] = {
        "id": str(secrets.randbelow(10**18)),
        "type": "image",
        "contentProvider": {"type": "line"},
        "quoteToken": secrets.token_urlsafe(16),
    }
    return event


def follow_event(
    *, src: dict[str, Any] | None = None, reply_token: str = "dummy-reply-token", redelivery: bool = False
) -> dict[str, Any]:
    event = _event(
        "follow", src=src, reply_token=reply_token, timestamp_ms=None, event_id=None, redelivery=redelivery
    )
    event["follow"] = {"isUnblocked": False}
    return event


def unfollow_event(*, src: dict[str, Any] | None = None) -> dict[str, Any]:
    return _event("unfollow", src=src, reply_token=None, timestamp_ms=None, event_id=None, redelivery=False)


def as_redelivery(event: dict[str, Any]) -> dict[str, Any]:
    """The same event as LINE sends it again: same webhookEventId, isRedelivery true."""
    return {**event, "deliveryContext": {"isRedelivery": True}}


def webhook_body(events: list[dict[str, Any]], *, destination: str = "U" + "0" * 32) -> bytes:
    """The request body LINE posts; an empty list is the console's Verify request."""
    return json.dumps({"destination": destination, "events": events}, ensure_ascii=False).encode()


def sign(body: bytes, secret: str = CHANNEL_SECRET) -> str:
    """The `x-line-signature` LINE computes: base64 of HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_request(
    events: list[dict[str, Any]], *, secret: str = CHANNEL_SECRET
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a correctly signed webhook POST."""
    body = webhook_body(events)
    return body, {"Content-Type": "application/json; charset=utf-8", "x-line-signature": sign(body, secret)}
