"""LINE end to end: signed webhooks into the product app on devhost, results into a fake LINE."""

from __future__ import annotations

import pytest

from jobs.domain.models import JobKind
from line_webhook import texts
from line_webhook.retry_keys import retry_key
from testing.devhost import DevhostProcess
from testing.factories_line import (
    CHANNEL_ACCESS_TOKEN,
    as_redelivery,
    follow_event,
    group_id,
    sign,
    signed_request,
    source,
    text_event,
    user_id,
    webhook_body,
)
from testing.fakes.line_server import FakeLine
from testing.product_app import REPO_ROOT
from tests.e2e.line.conftest import jobs_of, line_app_settings, post_events, post_webhook, sent_to

pytestmark = pytest.mark.e2e


def test_a_fast_image_arrives_by_reply_after_the_loading_dots(
    line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    user = user_id()
    token = fake_line.issue_reply_token(to=user)

    response = post_events(
        line_app, [text_event("a lighthouse at dawn", src=source(user=user), reply_token=token)]
    )

    assert response.status == 200, response.text
    [sent] = sent_to(fake_line, user)
    assert sent["via"] == "reply"
    [image] = sent["messages"]
    assert image["type"] == "image"
    assert ".png?" in image["originalContentUrl"] and ".preview.jpg?" in image["previewImageUrl"]
    assert {"chatId": user, "loadingSeconds": 60} in fake_line.loading
    [job] = jobs_of(line_app, user)
    assert (job["status"], job["channel"], job["kind"]) == ("succeeded", "line", "image")


def test_a_slow_image_is_pushed_once_the_reply_token_is_too_old(
    slow_line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    user = user_id()
    token = fake_line.issue_reply_token(to=user)

    assert (
        post_events(
            slow_line_app, [text_event("/image a harbour", src=source(user=user), reply_token=token)]
        ).status
        == 200
    )

    [sent] = sent_to(fake_line, user)
    [job] = jobs_of(slow_line_app, user)
    assert (sent["via"], sent["retry_key"]) == ("push", retry_key(job["id"]))
    assert sent["messages"][0]["type"] == "image"


def test_a_redelivered_event_makes_one_job_and_one_message(
    line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    user = user_id()
    event = text_event("a red fox", src=source(user=user), reply_token=fake_line.issue_reply_token(to=user))

    first = post_events(line_app, [event])
    again = post_events(line_app, [as_redelivery(event)])

    assert (first.status, again.status) == (200, 200)
    assert len(jobs_of(line_app, user)) == 1
    sent_to(fake_line, user)
    done = jobs_of(line_app, user)
    assert len(done) == 1 and done[0]["status"] == "succeeded"
    assert len(sent_to(fake_line, user)) == 1


def test_a_bad_signature_gets_401_and_makes_no_job(line_app: DevhostProcess, fake_line: FakeLine) -> None:
    user = user_id()
    body, headers = signed_request([text_event("a red fox", src=source(user=user))])

    wrong = post_webhook(
        line_app, body, {**headers, "x-line-signature": sign(body, "not-the-channel-secret")}
    )
    missing = post_webhook(line_app, body, {"Content-Type": "application/json"})

    assert (wrong.status, missing.status) == (401, 401)
    assert jobs_of(line_app, user) == []
    assert [call for call in fake_line.requests if user in str(call["json"])] == []


def test_the_console_verify_request_gets_200(line_app: DevhostProcess) -> None:
    body = webhook_body([])
    response = post_webhook(line_app, body, {"x-line-signature": sign(body)})
    assert response.status == 200


def test_group_results_go_to_the_group_without_loading_dots(
    line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    chat, member = group_id(), user_id()
    token = fake_line.issue_reply_token(to=chat)
    events = [
        text_event("who wants lunch?", src=source("group", user=member, chat=chat)),
        text_event("/image a bento box", src=source("group", user=member, chat=chat), reply_token=token),
    ]

    assert post_events(line_app, events).status == 200

    [sent] = sent_to(fake_line, chat)
    assert sent["messages"][0]["type"] == "image"
    assert len(jobs_of(line_app, member)) == 1
    loading_calls = [call for call in fake_line.requests if call["path"].endswith("/chat/loading/start")]
    assert all(call["json"]["chatId"] != chat for call in loading_calls)


def test_ask_gets_a_text_answer(line_app: DevhostProcess, fake_line: FakeLine) -> None:
    user = user_id()
    token = fake_line.issue_reply_token(to=user)

    post_events(
        line_app, [text_event("/ask why is the sea salty?", src=source(user=user), reply_token=token)]
    )

    [sent] = sent_to(fake_line, user)
    [message] = sent["messages"]
    assert message["type"] == "text"
    assert "sea salty" in message["text"]


def test_a_rejected_prompt_gets_the_friendly_message(line_app: DevhostProcess, fake_line: FakeLine) -> None:
    user = user_id()
    token = fake_line.issue_reply_token(to=user)

    post_events(line_app, [text_event("a [reject] picture", src=source(user=user), reply_token=token)])

    [sent] = sent_to(fake_line, user)
    assert sent["messages"] == [{"type": "text", "text": texts.REJECTED}]
    [job] = jobs_of(line_app, user)
    assert job["status"] == "failed" and job["error"]["code"] == "content_rejected"


def test_follow_and_help_are_answered_at_once(line_app: DevhostProcess, fake_line: FakeLine) -> None:
    user = user_id()
    greeting_token, help_token = fake_line.issue_reply_token(to=user), fake_line.issue_reply_token(to=user)

    post_events(line_app, [follow_event(src=source(user=user), reply_token=greeting_token)])
    post_events(line_app, [text_event("/help", src=source(user=user), reply_token=help_token)])

    sent = sent_to(fake_line, user, count=2)
    texts_sent = sorted(message["text"] for call in sent for message in call["messages"])
    assert texts_sent == sorted([texts.greeting(JobKind.IMAGE), texts.usage(JobKind.IMAGE)])
    assert jobs_of(line_app, user) == []


def test_a_push_that_failed_with_500_is_retried_without_a_duplicate(
    slow_line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    user = user_id()
    fake_line.fail_next("/v2/bot/message/push", 500)

    post_events(
        slow_line_app, [text_event("a windmill", src=source(user=user), reply_token="expired-anyway")]
    )

    [sent] = sent_to(fake_line, user, timeout=90)
    [job] = jobs_of(slow_line_app, user)
    pushes = [
        call for call in fake_line.requests if call["path"].endswith("/push") and user in str(call["json"])
    ]
    assert len(pushes) == 2, "the failed push and its retry"
    assert {call["headers"]["X-Line-Retry-Key"] for call in pushes} == {retry_key(job["id"])}
    assert sent["via"] == "push"


def test_a_job_that_could_not_be_queued_gets_500_and_its_redelivery_one_job(
    azurite_connection_string: str, line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    user = user_id()
    event = text_event(
        "a paper crane", src=source(user=user), reply_token=fake_line.issue_reply_token(to=user)
    )
    # A queue endpoint answering 404 to everything fails the send at once (an unreachable one
    # would keep the storage SDK retrying for over a minute).
    with FakeLine(CHANNEL_ACCESS_TOKEN) as not_a_queue:
        parts = dict(part.split("=", 1) for part in azurite_connection_string.split(";") if part)
        parts["QueueEndpoint"] = f"{not_a_queue.base_url}/devstoreaccount1"
        broken = ";".join(f"{key}={value}" for key, value in parts.items())
        settings = line_app_settings(azurite_connection_string, fake_line, GENERATION_STORAGE=broken)
        with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as queue_down:
            refused = post_events(queue_down, [event])
    # LINE redelivers the event once the app is healthy again.
    redelivered = post_events(line_app, [as_redelivery(event)])

    assert (refused.status, redelivered.status) == (500, 200)
    [sent] = sent_to(fake_line, user)
    assert sent["messages"][0]["type"] == "image"
    [job] = jobs_of(line_app, user)
    assert job["status"] == "succeeded"
