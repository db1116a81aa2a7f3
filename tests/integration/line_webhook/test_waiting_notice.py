"""The notice that a LINE job waits for provider capacity: by reply while the token is fresh (the
result then goes by push), else by push with its own retry key; once; never for a finished job."""

from __future__ import annotations

from datetime import timedelta

from jobs.domain.models import Channel, ChatDelivery, JobStatus
from line_webhook import texts
from line_webhook.delivery import LineDelivery
from line_webhook.retry_keys import waiting_retry_key
from line_webhook.waiting_notice import notify_waiting
from testing.factories import make_job
from testing.fakes.line_server import FakeLine
from tests.integration.line_webhook.conftest import TTL_SECONDS, finished_job, line_delivery, png


async def _waiting_job(delivery: LineDelivery, chat: ChatDelivery) -> str:
    job = await delivery.jobs.create(make_job(channel=Channel.LINE, delivery=chat))
    await delivery.jobs.mark_running(job.id)
    return job.id


async def test_a_fresh_token_carries_the_notice_and_the_result_is_pushed(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    job_id = await _waiting_job(delivery, line_delivery(reply_token=fake_line.issue_reply_token(to="chat")))
    start_at = delivery.clock() + timedelta(seconds=95)

    assert await notify_waiting(delivery, job_id, start_at=start_at) == "reply"
    assert await notify_waiting(delivery, job_id, start_at=start_at) == "skipped"  # a retried activity

    [notice] = fake_line.sent_snapshot()
    assert notice["via"] == "reply"
    assert [m["text"] for m in notice["messages"]] == [texts.waiting(timedelta(seconds=95))]
    assert "about 2 minutes" in notice["messages"][0]["text"]
    # The result still reaches the chat: the token is spent, so it goes by push.
    output = await delivery.outputs.save_image(job_id, 0, png())
    await delivery.jobs.finish(job_id, status=JobStatus.SUCCEEDED, outputs=[output])
    assert (await delivery.deliver(job_id))["via"] == "push"
    assert [sent["via"] for sent in fake_line.sent_snapshot()] == ["reply", "push"]


async def test_without_a_fresh_token_the_notice_is_pushed_once(
    delivery: LineDelivery, fake_line: FakeLine
) -> None:
    stale = line_delivery(reply_token=fake_line.issue_reply_token(), age_seconds=TTL_SECONDS + 5)
    job_id = await _waiting_job(delivery, stale)
    start_at = delivery.clock() + timedelta(seconds=31)

    assert await notify_waiting(delivery, job_id, start_at=start_at) == "push"
    assert await notify_waiting(delivery, job_id, start_at=start_at) == "push"  # LINE answers 409

    [notice] = fake_line.sent_snapshot()
    assert (notice["via"], notice["retry_key"]) == ("push", waiting_retry_key(job_id))
    assert "about 30 seconds" in notice["messages"][0]["text"]
    assert not [call for call in fake_line.requests if call["path"].endswith("/reply")]


async def test_a_finished_job_gets_no_notice(delivery: LineDelivery, fake_line: FakeLine) -> None:
    job = await finished_job(delivery, line=line_delivery(reply_token=fake_line.issue_reply_token()))
    start_at = delivery.clock() + timedelta(seconds=60)
    assert await notify_waiting(delivery, job.id, start_at=start_at) == "skipped"
    assert fake_line.sent_snapshot() == []
