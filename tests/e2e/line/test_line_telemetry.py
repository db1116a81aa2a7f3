"""LINE end to end with telemetry on: the webhook's job is one trace up to its delivery, counted by mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.devhost import DevhostProcess
from testing.factories_line import CHANNEL_ACCESS_TOKEN, CHANNEL_SECRET, source, text_event, user_id
from testing.fakes.line_server import FakeLine
from testing.product_app import REPO_ROOT
from testing.telemetry_file import assert_one_connected_trace, wait_for_telemetry
from tests.e2e.line.conftest import jobs_of, line_app_settings, post_events, sent_to

pytestmark = pytest.mark.e2e

PROMPT = "a lighthouse for the telemetry-secret-marker"


def test_a_line_job_is_one_trace_from_webhook_to_reply(
    azurite_connection_string: str, fake_line: FakeLine, tmp_path: Path
) -> None:
    sink = tmp_path / "telemetry.jsonl"
    settings = line_app_settings(azurite_connection_string, fake_line, TELEMETRY_EXPORTER=f"file:{sink}")
    user = user_id()
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as app:
        token = fake_line.issue_reply_token(to=user)
        assert post_events(app, [text_event(PROMPT, src=source(user=user), reply_token=token)]).status == 200
        [sent] = sent_to(fake_line, user)
        [job] = jobs_of(app, user)
        seen = wait_for_telemetry(
            sink,
            lambda t: "line.deliver" in {s["name"] for s in t.job_spans(job["id"])}
            and t.total("line.deliveries") >= 1,
        )

    assert sent["via"] == "reply"
    spans = seen.job_spans(job["id"])
    assert_one_connected_trace(spans, job["id"])
    names = {span["name"] for span in spans}
    assert {"job.accept", "job.start", "activity.generate_output", "provider.call", "line.deliver"} <= names
    accept = next(span for span in spans if span["name"] == "job.accept")
    assert accept["attributes"]["channel"] == "line"
    deliver = next(span for span in spans if span["name"] == "line.deliver")
    assert deliver["attributes"]["delivery"] == "reply"
    assert seen.total("line.deliveries", mode="reply") == 1
    assert seen.total("jobs.accepted", channel="line") == 1
    text = sink.read_text(encoding="utf-8")
    for secret in ("telemetry-secret-marker", user, CHANNEL_ACCESS_TOKEN, CHANNEL_SECRET, token):
        assert secret not in text
