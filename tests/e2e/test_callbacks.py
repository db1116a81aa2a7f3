"""Signed completion callbacks on devhost: a loopback receiver verifies each one with the Standard
Webhooks reference verifier; retries run on the orchestrator's durable timers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from testing.devhost import DevhostProcess, wait_for
from testing.fakes.webhook_receiver import OTHER_SECRET, TEST_SECRET, WebhookReceiver
from testing.fixtures import StartApp
from testing.product_app import REPO_ROOT, product_settings

pytestmark = pytest.mark.e2e

CALLBACKS = {"CALLBACK_SIGNING_SECRET": TEST_SECRET, "CALLBACK_ALLOW_LOOPBACK_HTTP": "true"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(hang_seconds=7) as started:  # longer than the sender's 5 s timeout
        yield started


@pytest.fixture(scope="module")
def ssrf_app(azurite_connection_string: str) -> Iterator[DevhostProcess]:
    """One app for every SSRF case: a signing secret, and loopback HTTP not allowed (the default)."""
    settings = product_settings(azurite_connection_string, CALLBACK_SIGNING_SECRET=TEST_SECRET)
    with DevhostProcess(app_dir=REPO_ROOT, settings=settings) as app:
        yield app


def _submit(app: DevhostProcess, callback_url: Any, user: str) -> requests.Response:
    body = {"prompt": "a lighthouse at dusk", "user": user, "callback_url": callback_url}
    return requests.post(f"{app.base_url}/api/generations", json=body, timeout=30)


def _job(app: DevhostProcess, job_id: str) -> dict[str, Any]:
    answer = requests.get(f"{app.base_url}/api/generations/{job_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _nothing_sent(app: DevhostProcess, job_id: str) -> bool:
    """Whether the callback step of the job met its deletion (the activity logs it and sends nothing)."""
    log = app.output()
    return any(f"job {job_id}: callback {why}" in log for why in ("gone (job deleted)", "dropped"))


def test_a_finished_job_is_called_back_signed_after_a_500_and_a_timeout(
    start_app: StartApp, receiver: WebhookReceiver
) -> None:
    app = start_app(**CALLBACKS)
    receiver.script = [500, "hang"]
    accepted = _submit(app, receiver.url, f"cb-{uuid.uuid4().hex[:8]}")
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    assert accepted.json()["callback"] == {"state": "pending", "attempts": 0, "last_status": None}

    done = wait_for(lambda: _job(app, job_id) if _job(app, job_id)["callback"]["state"] != "pending"
                    else None, timeout=90)
    assert done["callback"] == {"state": "delivered", "attempts": 3, "last_status": 204}
    assert [got.answered for got in receiver.received] == [500, "hang", 204]
    assert all(got.verified for got in receiver.received)
    assert {got.headers["webhook-id"] for got in receiver.received} == {f"msg_{job_id}"}
    body = receiver.received[-1].json()
    assert (body["id"], body["status"]) == (job_id, "succeeded")
    assert body["progress"] == {"completed": 1, "total": 1}
    assert body["outputs"][0]["url"].startswith(f"{app.base_url}/api/generations/{job_id}/outputs/0")


@pytest.mark.parametrize("url", [
    "http://example.com/hook",
    "ftp://example.com/hook",
    "https://user:secret@example.com/hook",
    "https://10.0.0.1/hook",
    "https://172.16.0.9/hook",
    "https://192.168.1.1/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://[fe80::1]/hook",
    "https://224.0.0.251/hook",
    "https://0.0.0.0/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "http://127.0.0.1:8080/hook",  # loopback http without the development setting
    42,
])
def test_each_refused_callback_url_is_a_422_naming_it_and_stores_nothing(
    ssrf_app: DevhostProcess, url: Any
) -> None:
    app = ssrf_app
    user = f"ssrf-{uuid.uuid4().hex[:8]}"
    answer = _submit(app, url, user)
    assert answer.status_code == 422, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert [error["field"] for error in answer.json()["errors"]] == ["callback_url"]
    listed = requests.get(f"{app.base_url}/api/generations", params={"user": user}, timeout=10).json()
    assert listed["items"] == []


def test_a_wrong_secret_receiver_rejects_and_a_delete_stops_the_retries(start_app: StartApp) -> None:
    app = start_app(**CALLBACKS)
    with WebhookReceiver(secret=OTHER_SECRET) as stranger:
        job_id = _submit(app, stranger.url, f"cb-{uuid.uuid4().hex[:8]}").json()["id"]
        first = wait_for(lambda: _job(app, job_id) if _job(app, job_id)["callback"]["attempts"] else None,
                         timeout=60)
        assert first["callback"] == {"state": "pending", "attempts": 1, "last_status": 401}
        assert [got.verified for got in stranger.received] == [False]
        assert requests.delete(f"{app.base_url}/api/generations/{job_id}", timeout=30).status_code == 204
        wait_for(lambda: _nothing_sent(app, job_id), timeout=60)
        assert len(stranger.received) == 1


def test_no_callback_for_a_job_deleted_before_it_finished(
    start_app: StartApp, receiver: WebhookReceiver
) -> None:
    app = start_app(**CALLBACKS, OFFLINE_LATENCY_MS="20000")
    job_id = _submit(app, receiver.url, f"cb-{uuid.uuid4().hex[:8]}").json()["id"]
    wait_for(lambda: _job(app, job_id)["status"] == "running", timeout=30)
    assert requests.delete(f"{app.base_url}/api/generations/{job_id}", timeout=60).status_code == 204
    wait_for(lambda: _nothing_sent(app, job_id), timeout=60)
    assert receiver.received == []
