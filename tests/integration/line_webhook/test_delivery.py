from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from jobs.domain.models import Channel, JobError, JobKind
from line_webhook import texts
from line_webhook.calls import TransientLineError
from line_webhook.delivery import LineDelivery
from line_webhook.retry_keys import retry_key
from testing.factories import make_job
from testing.factories_line import group_id
from testing.fakes.line_server import FakeLine
from tests.integration.line_webhook.conftest import TTL_SECONDS, finished_job, line_delivery, with_clock


async def test_a_fresh_token_delivers_the_image_by_reply(delivery: LineDelivery, fake_line: FakeLine) -> None:
    line = line_delivery(reply_token=fake_line.issue_reply_token(to="chat"))
    job = await finished_job(delivery, line=line)

    result = await delivery.deliver(job.id)

    assert result == {"job_id": job.id, "status": "delivered", "via": "reply", "messages": 1}
    [sent] = fake_line.sent_snapshot()
    assert sent["via"] == "reply"
    [image] = sent["messages"]
    assert image["type"] == "image"
    assert f"/{job.id}/0.png?" in image["originalContentUrl"]
    assert f"/{job.id}/0.preview.jpg?" in image["previewImageUrl"]
    # Azurite serves http; LINE needs https in production (docs/line.md).
    assert sent["scheme_warning"] is not None
    async with aiohttp.ClientSession(trust_env=False) as session:
        async with session.get(image["originalContentUrl"]) as response:
            assert response.status == 200
            assert (await response.read()).startswith(b"\x89PNG")
        async with session.get(image["previewImageUrl"]) as response:
            assert response.headers["Content-Type"] == "image/jpeg"


async def test_a_token_older_than_the_ttl_is_left_alone_and_the_result_pushed(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    line = line_delivery(reply_token=fake_line.issue_reply_token(), age_seconds=TTL_SECONDS + 5)
    job = await finished_job(delivery, line=line)

    result = await delivery.deliver(job.id)

    assert result["via"] == "push"
    [sent] = fake_line.sent_snapshot()
    assert (sent["via"], sent["to"], sent["retry_key"]) == ("push", line.to, retry_key(job.id))
    assert not [call for call in fake_line.requests if call["path"].endswith("/reply")]


async def test_an_invalid_reply_token_falls_back_to_push(delivery: LineDelivery, fake_line: FakeLine) -> None:
    line = line_delivery(reply_token="not-a-token-line-issued")
    job = await finished_job(delivery, line=line)

    result = await delivery.deliver(job.id)

    assert result["via"] == "push"
    assert [(s["via"], s["to"]) for s in fake_line.sent_snapshot()] == [("push", line.to)]


async def test_a_push_that_failed_with_500_is_retried_into_one_message(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    job = await finished_job(delivery, line=line_delivery(reply_token=None))
    fake_line.fail_next("/v2/bot/message/push", 500)

    with pytest.raises(TransientLineError):
        await delivery.deliver(job.id)
    assert fake_line.sent_snapshot() == []

    assert (await delivery.deliver(job.id))["status"] == "delivered"
    assert len(fake_line.sent_snapshot()) == 1


async def test_rate_limiting_and_unreachable_line_are_transient(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    job = await finished_job(delivery, line=line_delivery())
    fake_line.fail_next("/message/push", 429)
    with pytest.raises(TransientLineError):
        await delivery.deliver(job.id)
    fake_line.stop()
    with pytest.raises(TransientLineError):
        await delivery.deliver(job.id)


async def test_a_push_answered_409_counts_as_delivered(delivery: LineDelivery, fake_line: FakeLine) -> None:
    job = await finished_job(delivery, line=line_delivery())
    first = await delivery.deliver(job.id)
    # The activity's result was lost and the orchestrator runs it again.
    second = await delivery.deliver(job.id)

    assert first["status"] == second["status"] == "delivered"
    assert len(fake_line.sent_snapshot()) == 1
    statuses = [call for call in fake_line.requests if call["path"].endswith("/push")]
    assert len(statuses) == 2


async def test_a_repeated_delivery_after_a_successful_reply_sends_nothing_twice(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    line = line_delivery(reply_token=fake_line.issue_reply_token())
    job = await finished_job(delivery, line=line)
    assert (await delivery.deliver(job.id))["via"] == "reply"

    # Again while the token is fresh, and again after it expired: neither reply nor push goes out.
    assert (await delivery.deliver(job.id))["via"] == "reply"
    later = with_clock(delivery, later_by=timedelta(seconds=TTL_SECONDS * 2))
    assert (await later.deliver(job.id))["via"] == "reply"
    assert len(fake_line.sent_snapshot()) == 1


async def test_a_reply_that_failed_with_500_is_retried_by_push(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    line = line_delivery(reply_token=fake_line.issue_reply_token())
    job = await finished_job(delivery, line=line)
    fake_line.fail_next("/message/reply", 500)

    with pytest.raises(TransientLineError):
        await delivery.deliver(job.id)
    result = await delivery.deliver(job.id)

    # LINE may or may not have shown a reply it answered with 500; the token is not tried again.
    assert result["via"] == "push"
    assert [s["via"] for s in fake_line.sent_snapshot()] == ["push"]


async def test_group_results_go_to_the_group(delivery: LineDelivery, fake_line: FakeLine) -> None:
    chat = group_id()
    stale = await finished_job(delivery, line=line_delivery(to=chat, source_type="group", age_seconds=120))
    fresh_token = fake_line.issue_reply_token(to=chat)
    fresh = await finished_job(
        delivery, line=line_delivery(to=chat, source_type="group", reply_token=fresh_token)
    )

    await delivery.deliver(stale.id)
    await delivery.deliver(fresh.id)

    assert [(s["via"], s["to"]) for s in fake_line.sent_snapshot()] == [("push", chat), ("reply", chat)]


async def test_a_failed_job_gets_a_friendly_text(delivery: LineDelivery, fake_line: FakeLine) -> None:
    rejected = JobError("content_rejected", "Error code: 400 - moderation_blocked")
    job = await finished_job(delivery, line=line_delivery(), error=rejected)

    await delivery.deliver(job.id)

    [sent] = fake_line.sent_snapshot()
    assert sent["messages"] == [{"type": "text", "text": texts.REJECTED}]


async def test_a_long_answer_goes_out_in_calls_of_five_messages(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    answer = "\n\n".join(f"{i} " + "x" * 4990 for i in range(7))
    line = line_delivery(reply_token=fake_line.issue_reply_token())
    job = await finished_job(delivery, line=line, kind=JobKind.TEXT, answer=answer)

    result = await delivery.deliver(job.id)

    assert result["messages"] == 7
    sent = fake_line.sent_snapshot()
    assert [(s["via"], len(s["messages"]), s["retry_key"]) for s in sent] == [
        ("reply", 5, None),
        ("push", 2, retry_key(job.id, 1)),
    ]
    assert [m["text"].split(" ")[0] for s in sent for m in s["messages"]] == [str(i) for i in range(7)]


async def test_a_permanent_refusal_is_reported_not_retried(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    job = await finished_job(delivery, line=line_delivery())
    fake_line.fail_next("/message/push", 403)

    result = await delivery.deliver(job.id)

    assert result["status"] == "failed"
    assert "403" in result["reason"]
    assert fake_line.sent_snapshot() == []


async def test_unknown_and_unfinished_jobs_are_skipped(delivery: LineDelivery, fake_line: FakeLine) -> None:
    queued = await delivery.jobs.create(make_job(channel=Channel.LINE, delivery=line_delivery()))

    assert (await delivery.deliver("no-such-job"))["status"] == "skipped"
    assert (await delivery.deliver(queued.id))["status"] == "skipped"
    assert fake_line.sent_snapshot() == []
