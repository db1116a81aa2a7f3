"""The review gate end to end: the product app on devhost with keys enforced, OpenAI's fake behind the
real SDK (its moderation flags text containing `flag-me`), LINE's fake, Azurite.

One round-trip approves through the API, one rejects through the portal's path (the admin invocation of
`review_job`); both check who may decide (the master key) and that a decision is made once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from jobs.blobs.outputs import job_blob_prefix
from jobs.names import OUTPUTS_CONTAINER
from line_webhook import texts
from testing.devhost import DevhostProcess
from testing.factories_line import CHANNEL_ACCESS_TOKEN, CHANNEL_SECRET, source, text_event, user_id
from testing.fakes.line_server import FakeLine
from testing.fakes.openai_server import FakeOpenAI
from testing.http import Reply, call
from testing.product_app import REPO_ROOT, product_settings
from tests.e2e.line.conftest import post_events, sent_to

pytestmark = pytest.mark.e2e

FUNCTION_KEY = "review-function-key"
MASTER_KEY = "review-master-key"
USER = {"x-functions-key": FUNCTION_KEY}
ADMIN = {"x-functions-key": MASTER_KEY}


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def line() -> Iterator[FakeLine]:
    with FakeLine(CHANNEL_ACCESS_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def app(azurite_connection_string: str, openai: FakeOpenAI, line: FakeLine) -> Iterator[DevhostProcess]:
    settings = product_settings(
        azurite_connection_string,
        GENERATION_PROVIDER="openai", OPENAI_API_KEY=openai.api_key, OPENAI_BASE_URL=openai.base_url,
        REVIEW_MODE="flagged", DEVHOST_FUNCTION_KEYS=FUNCTION_KEY, DEVHOST_MASTER_KEY=MASTER_KEY,
        LINE_CHANNEL_SECRET=CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN=CHANNEL_ACCESS_TOKEN,
        LINE_API_HOST=line.base_url,
    )
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as host:
        yield host


def _job(app: DevhostProcess, job_id: str) -> dict[str, Any]:
    reply = call("GET", f"{app.base_url}/api/generations/{job_id}", headers=USER, timeout=10)
    assert reply.status == 200, reply.text
    job: dict[str, Any] = reply.json()
    return job


def _held(app: DevhostProcess, job_id: str) -> dict[str, Any]:
    """The job once its outputs wait for a reviewer (fails after 60 s)."""
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        job = _job(app, job_id)
        if job.get("review") is not None:
            return job
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} was never held for review")


def _ended(app: DevhostProcess, job_id: str) -> dict[str, Any]:
    for _ in range(6):
        job = call("GET", f"{app.base_url}/api/generations/{job_id}?wait=10", headers=USER, timeout=20).json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return dict(job)
    raise AssertionError(f"job {job_id} did not end")


def _decide(app: DevhostProcess, job_id: str, body: Any, headers: dict[str, str] = ADMIN) -> Reply:
    return call("POST", f"{app.base_url}/api/generations/{job_id}/review", json_body=body, headers=headers,
                timeout=10)


def _listed(app: DevhostProcess, job_id: str) -> list[dict[str, Any]]:
    reply = call("GET", f"{app.base_url}/api/reviews", headers=ADMIN, timeout=10)
    assert reply.status == 200, reply.text
    return [item for item in reply.json()["items"] if item["job"]["id"] == job_id]


def test_an_api_answer_is_held_listed_and_approved_once(app: DevhostProcess) -> None:
    submitted = call("POST", f"{app.base_url}/api/generations", headers=USER, timeout=10,
                     json_body={"prompt": "say flag-me please", "kind": "text", "user": "rita"}).json()
    held = _held(app, submitted["id"])
    assert held["status"] == "running" and held["outputs"] == []
    assert held["review"]["state"] == "pending" and held["review"]["reason"] == "moderation flagged violence"
    [item] = _listed(app, held["id"])
    assert item["content"] == [{"index": 0, "text": "Fake answer to: say flag-me please"}]

    # A function key is the client's, not a reviewer's: the host refuses it.
    assert call("GET", f"{app.base_url}/api/reviews", headers=USER, timeout=10).status == 401
    assert _decide(app, held["id"], {"decision": "approve"}, headers=USER).status == 401
    bad = _decide(app, held["id"], {"decision": "maybe", "extra": 1})
    assert bad.status == 400 and {e["field"] for e in bad.json()["errors"]} == {"decision", "extra"}
    assert _decide(app, "no-such-job", {"decision": "approve"}).status == 404

    decided = _decide(app, held["id"], {"decision": "approve", "note": "fine"})
    assert decided.status == 202, decided.text
    assert _decide(app, held["id"], {"decision": "reject"}).status == 409, "a second decision"
    done = _ended(app, held["id"])
    assert done["status"] == "succeeded" and done["review"]["state"] == "approved"
    assert done["outputs"] == [{"index": 0, "text": "Fake answer to: say flag-me please"}]
    assert _decide(app, held["id"], {"decision": "approve"}).status == 409, "not waiting any more"


def _blobs(connection_string: str, job_id: str) -> list[str]:
    with ContainerClient.from_connection_string(connection_string, OUTPUTS_CONTAINER) as container:
        return [blob.name for blob in container.list_blobs(name_starts_with=job_blob_prefix(job_id))]


def test_a_line_picture_is_held_then_rejected_from_the_portal(
    app: DevhostProcess, line: FakeLine, azurite_connection_string: str
) -> None:
    chat = user_id()
    token = line.issue_reply_token(to=chat)
    assert post_events(app, [text_event("/image a flag-me harbour", src=source(user=chat),
                                        reply_token=token)]).status == 200
    [notice] = sent_to(line, chat, count=1)
    assert [m["text"] for m in notice["messages"]] == [texts.IN_REVIEW]
    listed = call("GET", f"{app.base_url}/api/generations?user=line:{chat}", headers=USER).json()["items"]
    job_id = listed[0]["id"]
    assert _held(app, job_id)["outputs"] == []
    [item] = _listed(app, job_id)
    assert item["content"][0]["content_url"].startswith("http")
    assert len(_blobs(azurite_connection_string, job_id)) == 2

    # What the portal's Code + Test does for a queue-triggered function: the input is the message.
    decision = json.dumps({"job_id": job_id, "decision": "reject", "note": "secret reviewer note"})
    for key, expected in ((FUNCTION_KEY, 401), (MASTER_KEY, 202)):
        invoked = call("POST", f"{app.base_url}/admin/functions/review_job", json_body={"input": decision},
                       headers={"x-functions-key": key}, timeout=10)
        assert invoked.status == expected, invoked.text
    failed = _ended(app, job_id)
    assert failed["status"] == "failed" and failed["outputs"] == []
    assert failed["error"]["code"] == "review_rejected"
    assert "secret reviewer note" in failed["error"]["message"]
    assert failed["review"]["state"] == "rejected" and "decided_at" in failed["review"]
    told = sent_to(line, chat, count=2)
    assert len(told) == 2 and [m["text"] for m in told[1]["messages"]] == [texts.WITHHELD]
    assert _blobs(azurite_connection_string, job_id) == []
    assert call("GET", f"{app.base_url}/api/generations/{job_id}/outputs/0", headers=USER).status == 404
