"""The status API end to end: the product app on devhost (offline provider, Azurite, Storage queue)."""

from __future__ import annotations

import asyncio
import io
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.data.tables.aio import TableServiceClient
from PIL import Image

from jobs.domain.models import Job
from jobs.tables.store import JobStore
from status.openapi import openapi_document
from testing.devhost import DevhostProcess
from testing.factories import make_job
from testing.http import Reply, call
from testing.product_app import REPO_ROOT, product_settings
from tests.e2e.test_openapi import schema_validator

pytestmark = pytest.mark.e2e

# Slow enough that a job is observably queued/running, fast enough to keep the suite short.
LATENCY_MS = "3000"
DOCUMENT = openapi_document(base_url="http://h")
TERMINAL = ("succeeded", "failed", "canceled")


def assert_matches(schema: str, instance: Any) -> None:
    errors = [e.message for e in schema_validator(DOCUMENT, schema).iter_errors(instance)]
    assert not errors, (schema, errors, instance)


def assert_problem(reply: Reply, status: int) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    problem: dict[str, Any] = reply.json()
    assert_matches("Problem", problem)
    assert problem["status"] == status
    return problem


@pytest.fixture(scope="module")
def app(azurite_connection_string: str) -> Iterator[DevhostProcess]:
    settings = product_settings(azurite_connection_string, OFFLINE_LATENCY_MS=LATENCY_MS)
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as host:
        yield host


def submit(app: DevhostProcess, **fields: Any) -> dict[str, Any]:
    reply = call("POST", f"{app.base_url}/api/generations", json_body={"prompt": "a quiet harbour", **fields})
    assert reply.status == 202, reply.body
    job: dict[str, Any] = reply.json()
    return job


def status_url(app: DevhostProcess, job_id: str) -> str:
    return f"{app.base_url}/api/generations/{job_id}"


def wait_terminal(app: DevhostProcess, job_id: str) -> Reply:
    for _ in range(4):
        reply = call("GET", f"{status_url(app, job_id)}?wait=30")
        if reply.json()["status"] in TERMINAL:
            return reply
    raise AssertionError(f"job {job_id} did not finish: {reply.body!r}")


def store_queued_job(connection_string: str, **fields: Any) -> Job:
    """A queued row that no queue message will pick up (as after a failed send), to cancel at leisure."""
    async def create() -> Job:
        async with TableServiceClient.from_connection_string(connection_string) as service:
            return await JobStore(service).create(make_job(**fields))
    return asyncio.run(create())


def test_status_wait_outputs_and_delete(app: DevhostProcess) -> None:
    job = submit(app, n=1)
    url = status_url(app, job["id"])

    first = call("GET", url)
    assert first.status == 200
    assert first.json()["status"] in ("queued", "running")
    assert int(first.headers["Retry-After"]) > 0
    assert_matches("Job", first.json())
    assert_problem(call("GET", f"{url}/outputs/0"), 409)

    done = wait_terminal(app, job["id"])
    body = done.json()
    assert body["status"] == "succeeded", body
    assert "Retry-After" not in done.headers
    assert_matches("Job", body)
    output = body["outputs"][0]
    assert output["url"] == f"{url}/outputs/0"

    redirect = call("GET", output["url"])
    assert redirect.status == 303
    assert redirect.headers["Cache-Control"] == "no-store"
    png = call("GET", redirect.headers["Location"])
    with Image.open(io.BytesIO(png.body)) as image:
        assert (image.format, image.size) == ("PNG", (1024, 1024))
    preview = call("GET", call("GET", output["preview_url"]).headers["Location"])
    assert preview.body[:3] == b"\xff\xd8\xff"
    assert_problem(call("GET", f"{url}/outputs/1"), 404)

    assert call("DELETE", url).status == 204
    assert_problem(call("GET", url), 404)
    assert call("GET", redirect.headers["Location"]).status == 404  # the blob is gone too
    assert_problem(call("DELETE", url), 404)


def test_text_output_is_served_as_text(app: DevhostProcess) -> None:
    job = submit(app, kind="text")
    done = wait_terminal(app, job["id"]).json()
    assert done["status"] == "succeeded", done
    assert_matches("Job", done)
    text = done["outputs"][0]["text"]
    reply = call("GET", f"{status_url(app, job['id'])}/outputs/0")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.body.decode("utf-8") == text


def test_forwarded_headers_shape_the_links(app: DevhostProcess) -> None:
    job = submit(app)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gen.example.com"}
    wait_terminal(app, job["id"])
    done = call("GET", status_url(app, job["id"]), headers=forwarded).json()
    assert done["status"] == "succeeded", done
    assert done["outputs"][0]["url"] == f"https://gen.example.com/api/generations/{job['id']}/outputs/0"
    doc = call("GET", f"{app.base_url}/api/openapi.json", headers=forwarded).json()
    assert doc["servers"] == [{"url": "https://gen.example.com"}]


def test_unknown_ids_and_bad_queries_are_problems(app: DevhostProcess) -> None:
    missing = status_url(app, "no-such-job")
    assert "no-such-job" in assert_problem(call("GET", missing), 404)["detail"]
    assert_problem(call("GET", f"{missing}/outputs/0"), 404)
    assert_problem(call("POST", f"{missing}/cancel"), 404)
    assert_problem(call("DELETE", missing), 404)
    job = submit(app)
    assert assert_problem(call("GET", f"{status_url(app, job['id'])}?wait=-1"), 400)["errors"]
    listing = f"{app.base_url}/api/generations"
    for query, field in (("limit=0", "limit"), ("status=done", "status"), ("cursor=not-a-cursor", "cursor")):
        assert assert_problem(call("GET", f"{listing}?{query}"), 400)["errors"][0]["field"] == field


def wait_running(url: str, *, timeout: float = 30) -> None:
    """Poll until the job has left `queued`; fails unless it is then running (not yet finished)."""
    deadline = time.monotonic() + timeout
    status = call("GET", url).json()["status"]
    while status == "queued":
        assert time.monotonic() < deadline, f"job still queued after {timeout:.0f} s"
        time.sleep(0.1)
        status = call("GET", url).json()["status"]
    assert status == "running", status


def test_cancel_queued_running_and_terminal(app: DevhostProcess, azurite_connection_string: str) -> None:
    queued = store_queued_job(azurite_connection_string)
    canceled = call("POST", f"{status_url(app, queued.id)}/cancel")
    assert canceled.status == 200
    assert canceled.json()["status"] == "canceled"
    assert_matches("Job", canceled.json())
    again = assert_problem(call("POST", f"{status_url(app, queued.id)}/cancel"), 409)
    assert "already canceled" in again["detail"]

    job = submit(app, n=2)
    url = status_url(app, job["id"])
    wait_running(url)
    reply = call("POST", f"{url}/cancel")
    assert reply.status == 202, reply.body
    assert reply.headers["Location"] == url
    assert int(reply.headers["Retry-After"]) > 0
    final = wait_terminal(app, job["id"]).json()
    assert final["status"] == "canceled"
    assert final["error"]["code"] == "canceled"
    assert_problem(call("POST", f"{url}/cancel"), 409)


def test_delete_running_job(app: DevhostProcess) -> None:
    job = submit(app)
    url = status_url(app, job["id"])
    wait_running(url)
    assert call("DELETE", url).status == 204
    assert_problem(call("GET", url), 404)
    assert_problem(call("GET", f"{url}/outputs/0"), 404)


def test_list_pages_and_filters(app: DevhostProcess) -> None:
    user = f"lister-{uuid.uuid4().hex[:8]}"
    ids = [submit(app, user=user)["id"] for _ in range(3)]
    listing = f"{app.base_url}/api/generations?user={user}"
    first = call("GET", f"{listing}&limit=2").json()
    assert_matches("JobList", first)
    assert [item["id"] for item in first["items"]] == ids[:0:-1]
    second = call("GET", f"{listing}&limit=2&cursor={urllib.parse.quote(first['next_cursor'])}").json()
    assert [item["id"] for item in second["items"]] == ids[:1]
    assert second["next_cursor"] is None
    for job_id in ids:
        wait_terminal(app, job_id)
    succeeded = call("GET", f"{listing}&status=succeeded").json()
    assert sorted(item["id"] for item in succeeded["items"]) == sorted(ids)
    assert call("GET", f"{listing}&status=queued").json() == {"items": [], "next_cursor": None}


def test_health_and_openapi(app: DevhostProcess) -> None:
    health = call("GET", f"{app.base_url}/api/health")
    assert health.status == 200
    assert health.json() == {"status": "ok", "dependencies": {"table": "ok", "blob": "ok", "queue": "ok"}}
    assert_matches("Health", health.json())
    doc = call("GET", f"{app.base_url}/api/openapi.json")
    assert doc.status == 200
    assert doc.json()["servers"] == [{"url": app.base_url}]
    assert doc.json()["paths"] == DOCUMENT["paths"]


def test_function_keys_guard_the_api_but_not_health(start_app: Any) -> None:
    keyed = start_app(DEVHOST_FUNCTION_KEYS="status-test-key")
    url = status_url(keyed, "no-such-job")
    assert call("GET", url).status == 401
    assert call("GET", url, headers={"x-functions-key": "wrong"}).status == 401
    assert_problem(call("GET", url, headers={"x-functions-key": "status-test-key"}), 404)
    assert_problem(call("GET", f"{url}?code=status-test-key"), 404)
    assert call("GET", f"{keyed.base_url}/api/health").status == 200
    assert call("GET", f"{keyed.base_url}/api/openapi.json").status == 200
