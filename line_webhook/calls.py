"""Reply, push and loading-animation calls, with LINE's answers sorted into what the caller can act on."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Sequence
from enum import StrEnum
from typing import Any

import aiohttp
from linebot.v3.messaging import (
    ApiException,
    AsyncMessagingApi,
    Message,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
)

logger = logging.getLogger(__name__)

# A LINE call that has not answered in this time is treated as failed (and retried by its owner).
CALL_TIMEOUT_SECONDS = 10.0
INVALID_REPLY_TOKEN = "Invalid reply token"
HTTP_BAD_REQUEST = 400
HTTP_CONFLICT = 409
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500


class LineCallError(Exception):
    """A LINE call failed; `status` is LINE's HTTP status (None when no answer came)."""

    def __init__(self, operation: str, status: int | None, detail: str) -> None:
        super().__init__(f"LINE {operation} failed: {status or 'no answer'} {detail}".strip())
        self.status = status
        self.detail = detail


class TransientLineError(LineCallError):
    """Worth retrying later: rate limited, a LINE server error, or no answer at all."""


class PermanentLineError(LineCallError):
    """Retrying cannot help: LINE refused the request itself (bad request, bad token, forbidden)."""


class Sent(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"  # a push whose retry key LINE had accepted before (409)
    INVALID_REPLY_TOKEN = "invalid_reply_token"  # used, expired or unknown: push instead


def _line_message(body: Any) -> str:
    """LINE's `message` field from an error body (the body never holds our secrets)."""
    try:
        parsed = json.loads(body) if isinstance(body, str | bytes) else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])[:200]
    return ""


async def _call(operation: str, request: Awaitable[Any]) -> Any:
    """Await a LINE call, turning every failure into a Transient or Permanent LineCallError."""
    try:
        return await request
    except ApiException as exc:
        status = int(exc.status) if exc.status else None
        detail = _line_message(exc.body)
        if status is None or status == HTTP_TOO_MANY_REQUESTS or status >= HTTP_SERVER_ERROR:
            raise TransientLineError(operation, status, detail) from None
        raise PermanentLineError(operation, status, detail) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TransientLineError(operation, None, type(exc).__name__) from None


async def reply(api: AsyncMessagingApi, reply_token: str, messages: Sequence[Message]) -> Sent:
    """Reply with the event's token; an invalid token is an answer (push instead), not an error."""
    request = ReplyMessageRequest(reply_token=reply_token, messages=list(messages))
    try:
        await _call("reply", api.reply_message_with_http_info(request, _request_timeout=CALL_TIMEOUT_SECONDS))
    except PermanentLineError as exc:
        if exc.status == HTTP_BAD_REQUEST and INVALID_REPLY_TOKEN.lower() in exc.detail.lower():
            return Sent.INVALID_REPLY_TOKEN
        raise
    return Sent.SENT


async def push(api: AsyncMessagingApi, to: str, messages: Sequence[Message], *, retry_key: str) -> Sent:
    """Push with a retry key; LINE answers 409 when that key's request was accepted before."""
    request = PushMessageRequest(to=to, messages=list(messages))
    try:
        await _call(
            "push",
            api.push_message_with_http_info(
                request, x_line_retry_key=retry_key, _request_timeout=CALL_TIMEOUT_SECONDS
            ),
        )
    except PermanentLineError as exc:
        if exc.status == HTTP_CONFLICT:
            return Sent.ALREADY_SENT
        raise
    return Sent.SENT


async def show_loading(api: AsyncMessagingApi, chat_id: str, *, seconds: int, job_id: str) -> None:
    """Start the typing dots in a 1:1 chat; a failure only costs the animation, so it is logged."""
    request = ShowLoadingAnimationRequest(chat_id=chat_id, loading_seconds=seconds)
    try:
        await _call(
            "loading animation",
            api.show_loading_animation_with_http_info(request, _request_timeout=CALL_TIMEOUT_SECONDS),
        )
    except LineCallError as exc:
        logger.warning("job %s: %s", job_id, exc)
