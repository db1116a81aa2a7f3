"""Telemetry end to end on devhost: one connected trace per job, and the job and provider metrics.

The app writes spans and metrics to a file (`TELEMETRY_EXPORTER=file:<path>`); the test reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.telemetry import hashed_user
from testing.fakes.openai_server import FakeOpenAI
from testing.fixtures import StartApp
from testing.http import Reply, call
from testing.telemetry_file import Telemetry, assert_one_connected_trace, wait_for_telemetry

pytestmark = pytest.mark.e2e

PROMPT = "a lighthouse painted by a secret-prompt-marker"
REJECTED = "something forbidden with a secret-prompt-marker"


CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _submit(base: str, prompt: str, user: str) -> Reply:
    body = {"prompt": prompt, "user": user}
    # The caller's own trace: the host continues it in the invocation, and the job's trace links to it.
    headers = {"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"}
    response = call("POST", f"{base}/api/generations", json_body=body, headers=headers, timeout=10)
    assert response.status == 202, response.text
    return response


def _wait_terminal(status_url: str) -> dict[str, object]:
    for _ in range(6):
        job = call("GET", f"{status_url}?wait=10", timeout=20).json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return dict(job)
    raise AssertionError(f"job at {status_url} did not finish")


def _finished(job_id: str) -> object:
    def ready(seen: Telemetry) -> bool:
        names = {span["name"] for span in seen.job_spans(job_id)}
        return "job.finished" in names and seen.total("jobs.finished") >= 1

    return ready


def test_a_job_is_one_trace_with_its_metrics_and_no_secrets(start_app: StartApp, tmp_path: Path) -> None:
    sink = tmp_path / "telemetry.jsonl"
    with FakeOpenAI() as openai:
        openai.fail_next(429, headers={"retry-after": "1"})
        app = start_app(
            GENERATION_PROVIDER="openai",
            OPENAI_API_KEY=openai.api_key,
            OPENAI_BASE_URL=openai.base_url,
            TELEMETRY_EXPORTER=f"file:{sink}",
            PYTHON_ENABLE_OPENTELEMETRY="true",
        )
        good = _submit(app.base_url, PROMPT, "alice@example.com").json()
        assert _wait_terminal(f"{app.base_url}/api/generations/{good['id']}")["status"] == "succeeded"
        bad = _submit(app.base_url, REJECTED, "alice@example.com").json()
        assert _wait_terminal(f"{app.base_url}/api/generations/{bad['id']}")["status"] == "failed"
        api_key = openai.api_key

    seen = wait_for_telemetry(
        sink, lambda t: all(_finished(job["id"])(t) for job in (good, bad)) and t.total("jobs.finished") >= 2
    )
    spans = seen.job_spans(good["id"])
    assert_one_connected_trace(spans, good["id"])
    names = [span["name"] for span in spans]
    for name in ("job.accept", "job.start", "activity.mark_job_running", "blob.write", "job.finished"):
        assert name in names, names
    assert names.count("activity.generate_output") == 2, "the rate-limited attempt and its retry"
    calls = [span["attributes"] for span in spans if span["name"] == "provider.call"]
    assert [call["outcome"] for call in calls] == ["rate_limited", "ok"]
    assert calls[0]["retry_after_s"] == 1.0 and calls[0]["model"] and calls[0]["size"] == "1024x1024"
    accept = next(span["attributes"] for span in spans if span["name"] == "job.accept")
    assert (accept["channel"], accept["user"]) == ("api", hashed_user("alice@example.com"))
    accept_links = next(span["links"] for span in spans if span["name"] == "job.accept")
    assert [link["context"]["trace_id"] for link in accept_links] == [f"0x{CALLER_TRACE}"]

    text = sink.read_text(encoding="utf-8")
    for secret in ("secret-prompt-marker", api_key, "alice@example.com"):
        assert secret not in text

    assert seen.total("jobs.accepted", channel="api") == 2
    assert seen.total("jobs.finished", status="succeeded") == 1
    assert seen.total("jobs.finished", status="failed", error_code="content_rejected") == 1
    assert seen.total("jobs.duration", kind="image") == 2
    assert seen.total("provider.calls", outcome="rate_limited") == 1
    assert seen.total("provider.calls", outcome="ok") == 1
    assert seen.total("provider.calls", outcome="content_rejected") >= 1
    assert_one_connected_trace(seen.job_spans(bad["id"]), bad["id"])
