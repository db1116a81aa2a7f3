"""LINE over a per-user quota: a friendly reply, no job, and the event is not redelivered into one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from line_webhook import texts
from testing.devhost import DevhostProcess
from testing.factories_line import as_redelivery, source, text_event, user_id
from testing.fakes.line_server import FakeLine
from tests.e2e.line.conftest import _run, jobs_of, post_events, sent_to

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def quota_line_app(azurite_connection_string: str, fake_line: FakeLine) -> Iterator[DevhostProcess]:
    yield from _run(azurite_connection_string, fake_line, QUOTA_IMAGES_PER_DAY="1")


def test_a_request_over_the_daily_quota_gets_a_friendly_reply_and_no_job(
    quota_line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    user = user_id()
    first, second = fake_line.issue_reply_token(to=user), fake_line.issue_reply_token(to=user)
    fox = text_event("a fox", src=source(user=user), reply_token=first)
    assert post_events(quota_line_app, [fox]).status == 200
    sent_to(fake_line, user)  # the picture
    over = text_event("another fox", src=source(user=user), reply_token=second)

    assert post_events(quota_line_app, [over]).status == 200
    assert post_events(quota_line_app, [as_redelivery(over)]).status == 200

    sent = sent_to(fake_line, user, count=2)
    assert sent[1]["messages"] == [{"type": "text", "text": texts.over_quota("QUOTA_IMAGES_PER_DAY", 1)}]
    assert len(jobs_of(quota_line_app, user)) == 1
