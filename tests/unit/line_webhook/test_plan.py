from __future__ import annotations

import json
from typing import Any

import pytest

from jobs.domain.models import ChatDelivery, JobKind, JobRequest
from jobs.tables.entities import is_valid_key
from jobs.tables.events import event_key
from line_webhook import texts
from line_webhook.plan import NewJob, Plan, ReplyNow, plan_event
from line_webhook.webhook import InvalidWebhookBodyError, parse_events
from testing.factories_line import (
    as_redelivery,
    follow_event,
    group_id,
    image_event,
    source,
    text_event,
    unfollow_event,
    user_id,
    webhook_body,
)


def _plan(event: dict[str, Any], default_kind: JobKind = JobKind.IMAGE) -> Plan:
    [parsed] = parse_events(webhook_body([event]))
    return plan_event(parsed, default_kind=default_kind)


def test_a_text_message_becomes_a_job_with_everything_delivery_needs() -> None:
    sender = user_id()
    event = text_event(
        "a red fox", src=source("user", user=sender), reply_token="rt-1", timestamp_ms=1_700_000
    )
    plan = _plan(event)
    assert isinstance(plan, NewJob)
    assert plan.event_id == event["webhookEventId"]
    assert plan.request == JobRequest(prompt="a red fox", kind=JobKind.IMAGE, user=f"line:{sender}")
    assert plan.delivery == ChatDelivery(
        to=sender,
        source_type="user",
        user_id=sender,
        reply_token="rt-1",
        event_timestamp_ms=1_700_000,
        webhook_event_id=event["webhookEventId"],
    )


def test_ask_makes_a_text_job() -> None:
    plan = _plan(text_event("/ask what is a fox?"))
    assert isinstance(plan, NewJob)
    assert plan.request.kind is JobKind.TEXT
    assert plan.request.prompt == "what is a fox?"


def test_group_commands_answer_to_the_group() -> None:
    chat, sender = group_id(), user_id()
    plan = _plan(text_event("/image a cat", src=source("group", user=sender, chat=chat)))
    assert isinstance(plan, NewJob)
    assert plan.delivery.to == chat
    assert plan.delivery.source_type == "group"
    assert plan.request.user == f"line:{sender}"


def test_room_without_a_user_id_still_gets_its_job() -> None:
    event = text_event("/image a cat", src={"type": "room", "roomId": "R" + "1" * 32})
    plan = _plan(event)
    assert isinstance(plan, NewJob)
    assert plan.request.user is None
    assert plan.delivery.to == "R" + "1" * 32


@pytest.mark.parametrize("kind", ["group", "room"])
def test_chatter_in_groups_and_rooms_is_ignored(kind: str) -> None:
    assert _plan(text_event("lunch at noon?", src=source(kind))) is None
    assert _plan(image_event(src=source(kind))) is None


def test_follow_gets_the_greeting_by_reply() -> None:
    plan = _plan(follow_event(reply_token="rt-follow"))
    assert plan == ReplyNow("rt-follow", texts.greeting(JobKind.IMAGE))
    assert "/image" in plan.text
    assert "/ask" in plan.text


def test_help_and_other_message_types_get_the_usage() -> None:
    assert _plan(text_event("/help", reply_token="rt")) == ReplyNow("rt", texts.usage(JobKind.IMAGE))
    assert _plan(image_event(reply_token="rt")) == ReplyNow("rt", texts.usage(JobKind.IMAGE))
    group_help = _plan(text_event("/help", src=source("group"), reply_token="rt"))
    assert group_help == ReplyNow("rt", texts.usage(JobKind.IMAGE, in_group=True))


def test_the_usage_follows_the_default_kind() -> None:
    plan = _plan(text_event("/help"), default_kind=JobKind.TEXT)
    assert isinstance(plan, ReplyNow)
    assert "answer" in plan.text.splitlines()[0]


def test_an_over_long_prompt_gets_a_short_reply_and_no_job() -> None:
    assert _plan(text_event("x" * 4001, reply_token="rt")) == ReplyNow("rt", texts.TOO_LONG)


def test_a_redelivered_message_still_plans_its_job_but_not_a_second_greeting() -> None:
    event = text_event("a red fox")
    first, again = _plan(event), _plan(as_redelivery(event))
    assert isinstance(first, NewJob)
    assert again == first
    assert _plan(as_redelivery(follow_event())) is None
    assert _plan(as_redelivery(text_event("/help"))) is None


def test_events_without_reply_token_or_in_standby_mode_are_ignored() -> None:
    assert _plan(unfollow_event()) is None
    assert _plan({**text_event("a red fox"), "mode": "standby"}) is None


def test_unknown_event_types_are_parsed_and_ignored() -> None:
    event = {**unfollow_event(), "type": "somethingNew"}
    assert _plan(event) is None


@pytest.mark.parametrize("body", [b"\xff\xfe not utf-8", b"[]", b'{"events": [{"type": "message"}]}', b"{}"])
def test_unreadable_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidWebhookBodyError):
        parse_events(body)


def test_a_text_with_a_lone_surrogate_gets_a_friendly_reply_not_a_job() -> None:
    plan = plan_event(_parsed_escaped(text_event("a\ud800b", reply_token="rt-9")), default_kind=JobKind.IMAGE)
    assert plan == ReplyNow("rt-9", texts.UNREADABLE_TEXT)


def test_an_event_with_a_lone_surrogate_in_an_id_is_ignored() -> None:
    event = text_event("a red fox", src=source("user", user="U\udfff"))
    assert plan_event(_parsed_escaped(event), default_kind=JobKind.IMAGE) is None


@pytest.mark.parametrize(
    "body",
    [b'{"events": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", b'{"events": [], "x": ' + b"1" * 5_000 + b"}"],
    ids=["deep-nesting", "huge-integer"],
)
def test_bodies_past_the_parser_limits_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidWebhookBodyError):
        parse_events(body)


def _parsed_escaped(event: dict[str, Any]) -> Any:
    # ensure_ascii: the surrogate travels as the escape "\udfff", as a hostile sender would write it.
    [parsed] = parse_events(json.dumps({"destination": "U0", "events": [event]}).encode())
    return parsed


def test_event_keys_are_the_id_when_the_table_takes_it_else_a_digest() -> None:
    assert event_key("01ABCDEFGHJKMNPQRSTVWXYZ01") == "01ABCDEFGHJKMNPQRSTVWXYZ01"
    hashed = {event_key(value) for value in ("a/b", "a#b", "a?b", "a\\b", "tab\tid", "", "x\ud800")}
    assert len(hashed) == 7
    assert all(key.startswith("~") and is_valid_key(key) for key in hashed)
