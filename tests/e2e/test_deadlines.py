"""Retries bounded by the job's deadline, end to end on devhost against the fake OpenAI.

A provider that keeps failing transiently is tried again and again (never by count) until the job's
deadline, and the job then says `deadline_exceeded` with the provider's last error; a provider
outage shorter than the deadline fails nothing.
"""

from __future__ import annotations

import pytest

from testing.fakes.openai_server import FakeOpenAI
from testing.fixtures import StartApp
from testing.http import call

pytestmark = pytest.mark.e2e

TERMINAL = ("succeeded", "failed", "canceled")


def _run_one(base_url: str, body: dict[str, object]) -> dict[str, object]:
    accepted = call("POST", f"{base_url}/api/generations", json_body=body, timeout=10)
    assert accepted.status == 202, accepted.text
    status_url = accepted.headers["Location"]
    for _ in range(8):
        job = dict(call("GET", f"{status_url}?wait=10", timeout=20).json())
        if job["status"] in TERMINAL:
            return job
    raise AssertionError(f"job at {status_url} did not finish: {job}")


def test_a_provider_that_keeps_rate_limiting_fails_the_job_only_at_its_deadline(start_app: StartApp) -> None:
    with FakeOpenAI() as openai:
        openai.windows.open("429", seconds=600, retry_after=1)
        app = start_app(GENERATION_PROVIDER="openai", OPENAI_API_KEY=openai.api_key,
                        OPENAI_BASE_URL=openai.base_url, GENERATION_DEADLINE_SECONDS="8")
        job = _run_one(app.base_url, {"prompt": "a slow lighthouse"})
        calls = len(openai.requests_to("/images/generations"))

    assert job["status"] == "failed", job
    error = job["error"]
    assert isinstance(error, dict) and error["code"] == "deadline_exceeded"
    assert error["message"] == ("The job did not finish in time. The last attempt failed: "
                                "OpenAI is rate limiting requests. Please try again.")
    # Retry-after 1 s, back-off 1, 2, 4 s...: far more than the old four attempts would allow in
    # a longer deadline, and never sooner than the provider asked (at most one call a second).
    assert 3 <= calls <= 9, calls


def test_a_provider_outage_shorter_than_the_deadline_fails_nothing(start_app: StartApp) -> None:
    with FakeOpenAI() as openai:
        # Longer than a count of four attempts would have lasted (0, 2, 6 and 14 s).
        openai.windows.open("500", seconds=20)
        app = start_app(GENERATION_PROVIDER="openai", OPENAI_API_KEY=openai.api_key,
                        OPENAI_BASE_URL=openai.base_url)
        job = _run_one(app.base_url, {"prompt": "a patient lighthouse", "n": 2})
        spoiled = openai.windows.spoiled["500"]

    assert job["status"] == "succeeded", job
    assert job["progress"] == {"completed": 2, "total": 2}
    # Each output was refused at least four times (all a count of four allowed), yet both were made.
    assert spoiled >= 8, spoiled
