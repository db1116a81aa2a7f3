"""What to do with one webhook event: nothing, an immediate reply, or a new job."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from linebot.v3.webhooks import (
    FollowEvent,
    GroupSource,
    MessageEvent,
    RoomSource,
    TextMessageContent,
    UserSource,
)

from jobs.domain.models import ChatDelivery, JobKind, JobRequest, is_storable_text
from line_webhook import texts
from line_webhook.commands import Action, parse_command

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chat:
    """Where an event came from and where answers go."""

    source_type: str  # "user" | "group" | "room"
    to: str  # the user, group or room id to push to
    user_id: str | None  # the sender; LINE may omit it in groups and rooms

    @property
    def is_group(self) -> bool:
        return self.source_type != "user"


@dataclass(frozen=True)
class ReplyNow:
    """Answer at once with the event's reply token (greeting, usage, help)."""

    reply_token: str
    text: str


@dataclass(frozen=True)
class NewJob:
    """Accept a job for this event; the reply token is kept, unused, for the delivery."""

    event_id: str
    request: JobRequest
    chat: Chat
    delivery: ChatDelivery


Plan = ReplyNow | NewJob | None


def chat_of(source: object) -> Chat | None:
    if isinstance(source, UserSource) and source.user_id:
        return Chat("user", source.user_id, source.user_id)
    if isinstance(source, GroupSource):
        return Chat("group", source.group_id, source.user_id)
    if isinstance(source, RoomSource):
        return Chat("room", source.room_id, source.user_id)
    return None


def plan_event(event: object, *, default_kind: JobKind) -> Plan:
    """Decide what an event needs. Pure: no I/O, so it can be tested with parsed events alone."""
    chat = chat_of(getattr(event, "source", None))
    reply_token = getattr(event, "reply_token", None)
    # Standby events belong to another channel (module mode) and carry no reply token.
    if getattr(event, "mode", None) != "active" or chat is None or not reply_token:
        return None
    if not _ids_storable(event, chat, reply_token):
        # LINE never sends these; whoever holds the secret did. Nothing to answer, nothing to store.
        logger.warning("webhook event with ids that are not valid Unicode text; ignored")
        return None
    plan: Plan
    if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
        plan = _plan_text(event, chat, reply_token, default_kind=default_kind)
    else:
        plan = _plan_other(event, chat, reply_token, default_kind=default_kind)
    # A redelivered event's immediate answer most likely went out the first time, and its token is
    # stale by now; only jobs get a second look (the event ledger decides whether they are new).
    if isinstance(plan, ReplyNow) and event.delivery_context.is_redelivery:  # type: ignore[attr-defined]
        return None
    return plan


def _ids_storable(event: object, chat: Chat, reply_token: str) -> bool:
    ids = (getattr(event, "webhook_event_id", "") or "", chat.to, chat.user_id or "", reply_token)
    return all(is_storable_text(value) for value in ids)


def _plan_other(event: object, chat: Chat, reply_token: str, *, default_kind: JobKind) -> ReplyNow | None:
    if isinstance(event, FollowEvent):
        return ReplyNow(reply_token, texts.greeting(default_kind))
    if isinstance(event, MessageEvent) and not chat.is_group:
        # Stickers, images, audio...: the bot takes text only.
        return ReplyNow(reply_token, texts.usage(default_kind))
    return None


def _plan_text(event: MessageEvent, chat: Chat, reply_token: str, *, default_kind: JobKind) -> Plan:
    if not is_storable_text(event.message.text):
        # Lone surrogates (legal in JSON escapes) cannot be stored or sent on: say so, make no job.
        return ReplyNow(reply_token, texts.UNREADABLE_TEXT)
    command = parse_command(event.message.text, default_kind=default_kind, commands_only=chat.is_group)
    if command.action is Action.GENERATE and command.kind is not None:
        request = JobRequest(
            prompt=command.prompt,
            kind=command.kind,
            user=f"line:{chat.user_id}" if chat.user_id else None,
        )
        delivery = ChatDelivery(
            to=chat.to,
            source_type=chat.source_type,
            user_id=chat.user_id,
            reply_token=reply_token,
            event_timestamp_ms=int(event.timestamp),
            webhook_event_id=event.webhook_event_id,
        )
        return NewJob(event.webhook_event_id, request, chat, delivery)
    if command.action is Action.IGNORE:
        return None
    if command.action is Action.TOO_LONG:
        return ReplyNow(reply_token, texts.TOO_LONG)
    return ReplyNow(reply_token, texts.usage(default_kind, in_group=chat.is_group))
