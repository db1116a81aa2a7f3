"""The main job end to end on devhost: accept, queue, Durable fan-out, Blob and Table, status URL."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient
from PIL import Image

from jobs.names import JOBS_TABLE
from testing.devhost import wait_for
from testing.fakes.openai_server import FakeOpenAI
from testing.fixtures import BOTH_QUEUE_KINDS, StartApp
from testing.http import Reply, call
from testing.product_app import unreachable

pytestmark = pytest.mark.e2e


def _submit(base: str, body: object, **headers: str) -> Reply:
    return call("POST", f"{base}/api/generations", json_body=body, headers=headers, timeout=10)


def _wait_terminal(status_url: str, *, rounds: int = 6) -> dict[str, object]:
    for _ in range(rounds):
        job = call("GET", f"{status_url}?wait=10", timeout=20).json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return dict(job)
    raise AssertionError(f"job at {status_url} did not finish: {job}")


def _fetch(url: str) -> Reply:
    response = call("GET", url, timeout=10)
    assert response.status == 303, response.text
    return call("GET", response.headers["Location"], timeout=10)


@BOTH_QUEUE_KINDS
def test_offline_image_job_goes_from_queued_to_succeeded(start_app: StartApp) -> None:
    app = start_app(OFFLINE_LATENCY_MS="300")
    response = _submit(app.base_url, {"prompt": "a lighthouse at dawn", "n": 2})

    assert response.status == 202, response.text
    job = response.json()
    status_url = f"{app.base_url}/api/generations/{job['id']}"
    assert response.headers["Location"] == status_url
    assert response.headers["Operation-Location"] == status_url
    assert int(response.headers["Retry-After"]) > 0
    assert job["status"] == "queued"
    assert job["progress"] == {"completed": 0, "total": 2}

    done = _wait_terminal(status_url)
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"completed": 2, "total": 2}
    assert done["error"] is None
    outputs = done["outputs"]
    assert isinstance(outputs, list)
    assert [output["index"] for output in outputs] == [0, 1]
    final = call("GET", status_url, timeout=10)
    assert "Retry-After" not in final.headers

    png = _fetch(outputs[0]["url"])
    image = Image.open(io.BytesIO(png.body))
    assert (image.format, image.size) == ("PNG", (1024, 1024))
    preview = _fetch(outputs[0]["preview_url"])
    assert preview.body[:3] == b"\xff\xd8\xff"
    assert len(preview.body) <= 1_000_000


def test_text_job_through_openai_with_a_rate_limit_on_the_way(start_app: StartApp) -> None:
    with FakeOpenAI() as openai:
        openai.fail_next(429, headers={"retry-after": "1"})
        app = start_app(
            GENERATION_PROVIDER="openai",
            OPENAI_API_KEY=openai.api_key,
            OPENAI_BASE_URL=openai.base_url,
            OPENAI_TEXT_MODEL="gpt-4o-mini",
        )
        response = _submit(app.base_url, {"prompt": "Why is the sky blue?", "kind": "text"})
        assert response.status == 202, response.text
        done = _wait_terminal(response.headers["Location"])
        calls = openai.requests_to("/chat/completions")

    assert done["status"] == "succeeded", done
    assert len(calls) == 2, "one rate-limited attempt, one retry"
    outputs = done["outputs"]
    assert isinstance(outputs, list)
    assert "sky" in outputs[0]["text"].lower()


def test_image_job_through_azure_openai_rides_out_a_server_error(start_app: StartApp) -> None:
    with FakeOpenAI() as fake:
        fake.fail_next(500)
        app = start_app(
            GENERATION_PROVIDER="azure_openai",
            AZURE_OPENAI_ENDPOINT=fake.azure_endpoint,
            AZURE_OPENAI_API_KEY=fake.azure_api_key,
            OPENAI_API_VERSION="2025-04-01-preview",
            AZURE_OPENAI_IMAGE_DEPLOYMENT="gpt-image-1",
            AZURE_OPENAI_TEXT_DEPLOYMENT="gpt-4o-mini",
        )
        response = _submit(app.base_url, {"prompt": "a harbour at night", "size": "1536x1024"})
        done = _wait_terminal(response.headers["Location"])
        calls = fake.requests_to("/openai/deployments/gpt-image-1/images/generations")

    assert done["status"] == "succeeded", done
    assert len(calls) == 2, "one 500, one retry"
    assert all(call.headers.get("api-key") == fake.azure_api_key for call in calls)
    assert all(call.query.get("api-version") == "2025-04-01-preview" for call in calls)
    outputs = done["outputs"]
    assert isinstance(outputs, list)
    image = Image.open(io.BytesIO(_fetch(outputs[0]["url"]).body))
    assert image.size == (1536, 1024)


@BOTH_QUEUE_KINDS
def test_rejected_prompt_fails_with_a_clear_error(start_app: StartApp) -> None:
    with FakeOpenAI() as openai:
        app = start_app(
            GENERATION_PROVIDER="openai", OPENAI_API_KEY=openai.api_key, OPENAI_BASE_URL=openai.base_url
        )
        response = _submit(app.base_url, {"prompt": "something forbidden", "n": 2})
        done = _wait_terminal(response.headers["Location"])
        image_calls = openai.requests_to("/images/generations")

    assert done["status"] == "failed"
    error = done["error"]
    assert isinstance(error, dict)
    assert error["code"] == "content_rejected"
    assert "sk-" not in json.dumps(done)
    assert len(image_calls) == 2, "rejections are permanent: no retries"


def test_azure_core_poller_follows_operation_location(start_app: StartApp) -> None:
    from azure.core import PipelineClient
    from azure.core.polling import LROPoller
    from azure.core.polling.base_polling import LROBasePolling
    from azure.core.rest import HttpRequest

    app = start_app(OFFLINE_LATENCY_MS="500")
    client: PipelineClient[object, object] = PipelineClient(app.base_url)
    request = HttpRequest("POST", f"{app.base_url}/api/generations", json={"prompt": "a quiet harbour"})
    initial = client._pipeline.run(request)  # the poller starts from a pipeline response

    poller = LROPoller(
        client,
        initial,
        lambda pipeline_response: json.loads(pipeline_response.http_response.text()),
        LROBasePolling(timeout=1),
    )
    result = poller.result(timeout=60)

    assert poller.status().lower() == "succeeded"
    assert result["status"] == "succeeded"
    assert result["id"] == json.loads(initial.http_response.text())["id"]


@BOTH_QUEUE_KINDS
def test_idempotency_key_gives_one_job(start_app: StartApp) -> None:
    app = start_app()
    key = f"order-{uuid.uuid4()}"
    first = _submit(app.base_url, {"prompt": "a red fox", "n": 1}, **{"Idempotency-Key": key})
    again = _submit(app.base_url, {"n": 1, "prompt": "a red fox"}, **{"Idempotency-Key": key})
    other = _submit(app.base_url, {"prompt": "a blue fox"}, **{"Idempotency-Key": key})

    assert first.status == 202
    assert again.status in (200, 202)
    assert again.json()["id"] == first.json()["id"]
    assert other.status == 422
    assert other.headers["Content-Type"].startswith("application/problem+json")


BAD_REQUESTS = [
    (b"this is not json", 400),
    (b'{"prompt": "MARK"', 400),
    (json.dumps({"prompt": "MARK", "n": "2"}).encode(), 422),
    (json.dumps({"prompt": "MARK", "n": True}).encode(), 422),
    (json.dumps({"prompt": "MARK", "n": 9}).encode(), 422),
    (json.dumps({"prompt": "MARK", "size": "10x10"}).encode(), 422),
    (json.dumps({"prompt": "MARK", "colour": "red"}).encode(), 422),
    (json.dumps({"prompt": ""}).encode(), 422),
    (json.dumps({"prompt": "MARK" + "x" * 4000}).encode(), 422),
    (json.dumps({"prompt": "MARK" + "x" * 70_000}).encode(), 413),
]


def test_bad_input_gets_a_problem_and_leaves_nothing_behind(
    start_app: StartApp, app_settings: dict[str, str]
) -> None:
    app = start_app()
    marker = f"bad-{uuid.uuid4().hex[:8]}"
    for body, status in BAD_REQUESTS:
        response = call(
            "POST",
            f"{app.base_url}/api/generations",
            body=body.replace(b"MARK", marker.encode()),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status == status, (body[:60], response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == status and problem["detail"]
        if status == 422:
            assert problem["errors"], problem

    unknown = call("GET", f"{app.base_url}/api/generations/{uuid.uuid4()}", timeout=10)
    assert unknown.status == 404

    storage = app_settings["GENERATION_STORAGE"]
    queue = QueueClient.from_connection_string(storage, app_settings["JOBS_QUEUE_NAME"])
    assert queue.get_queue_properties().approximate_message_count == 0
    table = TableClient.from_connection_string(storage, JOBS_TABLE)
    rows = [row for row in table.list_entities() if marker in str(row.get("Prompt", ""))]
    assert rows == []


@pytest.mark.parametrize(
    ("endpoint", "detail"),
    [
        ("QueueEndpoint", "The job queue is unavailable; try again shortly."),
        ("TableEndpoint", "The job store is unavailable; try again shortly."),
    ],
    ids=["queue-down", "table-down"],
)
def test_storage_down_answers_503_with_retry_after_never_a_bare_500(
    start_app: StartApp, app_settings: dict[str, str], endpoint: str, detail: str
) -> None:
    app = start_app(GENERATION_STORAGE=unreachable(app_settings["GENERATION_STORAGE"], endpoint))

    response = _submit(app.base_url, {"prompt": "a red fox"})

    assert response.status == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["detail"] == detail


@BOTH_QUEUE_KINDS
def test_a_job_survives_a_host_killed_mid_generation(start_app: StartApp) -> None:
    app = start_app(OFFLINE_LATENCY_MS="3000")
    response = _submit(app.base_url, {"prompt": "a lighthouse in a storm", "n": 2})
    status_url = response.headers["Location"]
    wait_for(lambda: call("GET", status_url, timeout=5).json()["status"] == "running", timeout=20)

    app.kill()  # SIGKILL: no clean shutdown, activities in flight are lost
    app.start()
    app.wait_ready()

    done = _wait_terminal(status_url)
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"completed": 2, "total": 2}
    # Finished once: by the write of its last output, so there was nothing left to finalize. The row is
    # terminal a moment before the orchestration has taken that activity's result and completed.
    completed = "orchestration " + done["id"] + " completed"
    wait_for(lambda: completed in app.output(), timeout=20)
    log = app.output()
    assert log.count("; job succeeded") == 1
    assert log.count(completed) == 1
    assert "Executed 'finalize_job'" not in log
