"""While job storage is down every route answers a 503 problem with Retry-After, never a bare 500."""

from __future__ import annotations

import uuid

import pytest

from testing.devhost import DevhostProcess
from testing.fixtures import StartApp
from testing.http import call
from testing.product_app import unreachable

pytestmark = pytest.mark.e2e


@pytest.fixture
def storage_down(start_app: StartApp, app_settings: dict[str, str]) -> DevhostProcess:
    """The app with Table, Blob and Queue Storage on a closed port (the task hub stays up)."""
    endpoints = ("TableEndpoint", "BlobEndpoint", "QueueEndpoint")
    storage = unreachable(app_settings["GENERATION_STORAGE"], *endpoints)
    return start_app(GENERATION_STORAGE=storage)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/generations/{id}"),
        ("GET", "/api/generations/{id}?wait=5"),
        ("GET", "/api/generations"),
        ("GET", "/api/generations?user=alice&status=running"),
        ("GET", "/api/generations/{id}/outputs/0"),
        ("POST", "/api/generations/{id}/cancel"),
        ("DELETE", "/api/generations/{id}"),
    ],
)
def test_read_and_change_routes_answer_503_with_retry_after(
    storage_down: DevhostProcess, method: str, path: str
) -> None:
    url = storage_down.base_url + path.format(id=uuid.uuid4())

    response = call(method, url)

    assert response.status == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["detail"] == "The job store is unavailable; try again shortly."


def test_health_answers_503_naming_each_dependency_down(storage_down: DevhostProcess) -> None:
    response = call("GET", f"{storage_down.base_url}/api/health")

    assert response.status == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.json() == {
        "status": "unavailable",
        "dependencies": {"table": "unavailable", "blob": "unavailable", "queue": "unavailable"},
    }
