"""Input that cannot be stored faithfully is refused before anything is written, with a clear problem."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from jobs.names import JOBS_TABLE
from testing.devhost import DevhostProcess
from testing.fixtures import StartApp
from testing.http import Reply, call

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app(start_app: StartApp) -> DevhostProcess:
    return start_app()


def _post(app: DevhostProcess, body: bytes, **headers: str | bytes) -> Reply:
    return call("POST", f"{app.base_url}/api/generations", body=body,
                headers={**JSON, **headers})  # type: ignore[dict-item]


def _nothing_stored(settings: dict[str, str], marker: str) -> None:
    storage = settings["GENERATION_STORAGE"]
    queue = QueueClient.from_connection_string(storage, settings["JOBS_QUEUE_NAME"])
    assert queue.get_queue_properties().approximate_message_count == 0
    table = TableClient.from_connection_string(storage, JOBS_TABLE)
    assert [row for row in table.list_entities() if marker in str(row.get("Prompt", ""))] == []


@pytest.mark.parametrize("field", ["prompt", "user"])
def test_a_lone_surrogate_is_a_422_naming_the_field_and_nothing_is_stored(
    app: DevhostProcess, app_settings: dict[str, str], field: str
) -> None:
    marker = f"fox {uuid.uuid4().hex}"
    # json.dumps escapes it as "\ud800": legal JSON whose text has no UTF-8 form.
    body = json.dumps({"prompt": marker, field: f"{marker}\ud800"}).encode()

    response = _post(app, body)

    assert response.status == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert [error["field"] for error in response.json()["errors"]] == [field]
    _nothing_stored(app_settings, marker)


def test_an_unknown_field_named_with_a_lone_surrogate_is_named_back_readably(app: DevhostProcess) -> None:
    response = _post(app, b'{"prompt": "a fox", "x\\udc00": 1}')

    assert response.status == 422, response.text
    assert response.json()["errors"] == [{"field": "x\ufffd", "message": "is not a known field"}]


@pytest.mark.parametrize(
    "body",
    [b"[" * 30_000 + b"]" * 30_000, b'{"prompt": "a fox", "n": ' + b"9" * 5_000 + b"}"],
    ids=["deep-nesting", "huge-integer"],
)
def test_json_past_the_parser_limits_is_a_400_problem(app: DevhostProcess, body: bytes) -> None:
    response = _post(app, body)

    assert response.status == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_a_non_ascii_idempotency_key_is_a_400_naming_the_header(
    app: DevhostProcess, app_settings: dict[str, str]
) -> None:
    marker = f"fox {uuid.uuid4().hex}"
    # Raw bytes outside ASCII, as a hostile client sends them (http.client would refuse such a str).
    response = _post(app, json.dumps({"prompt": marker}).encode(), **{"Idempotency-Key": b"key-\xff\xfe"})

    assert response.status == 400, response.text
    assert response.json()["errors"] == [{"field": "Idempotency-Key", "message": "malformed"}]
    _nothing_stored(app_settings, marker)


@pytest.mark.parametrize("job_id", ["%ED%A0%80", "a%2Fb", "%00", "x" * 600])
def test_ids_that_cannot_be_keys_are_404_on_every_route(app: DevhostProcess, job_id: str) -> None:
    base = f"{app.base_url}/api/generations/{job_id}"
    answers = [call("GET", base), call("GET", f"{base}/outputs/0"), call("POST", f"{base}/cancel"),
               call("DELETE", base)]
    assert [answer.status for answer in answers] == [404] * 4, [a.text for a in answers]
    assert all(a.headers["Content-Type"].startswith("application/problem+json") for a in answers)
