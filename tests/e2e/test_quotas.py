"""Per-user quotas at accept on devhost: exact under a burst, 429 problems, slots given back."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from testing.devhost import wait_for
from testing.fixtures import StartApp
from testing.http import Reply, call

pytestmark = pytest.mark.e2e


def _submit(base: str, user: str, n: int = 1) -> Reply:
    return call("POST", f"{base}/api/generations", json_body={"prompt": "a kite", "n": n, "user": user})


def _status(base: str, job_id: str) -> str:
    return str(call("GET", f"{base}/api/generations/{job_id}").json()["status"])


def _assert_quota_problem(response: Reply, quota: str) -> int:
    assert response.status == 429, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert quota in response.json()["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after > 0
    return retry_after


def test_twenty_parallel_submits_at_a_limit_of_five_accept_exactly_five(start_app: StartApp) -> None:
    # Jobs that take far longer than the burst, so no slot frees on its own meanwhile.
    app = start_app(QUOTA_JOBS_IN_FLIGHT="5", OFFLINE_LATENCY_MS="20000")
    user = f"burst-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: _submit(app.base_url, user), range(20)))

    accepted = [answer.json()["id"] for answer in answers if answer.status == 202]
    refused = [answer for answer in answers if answer.status != 202]
    assert len(accepted) == 5, [answer.status for answer in answers]
    for answer in refused:
        _assert_quota_problem(answer, "QUOTA_JOBS_IN_FLIGHT")
    listed = call("GET", f"{app.base_url}/api/generations?user={user}").json()
    assert sorted(item["id"] for item in listed["items"]) == sorted(accepted)
    assert _submit(app.base_url, f"other-{user}").status == 202


def test_a_canceled_job_gives_its_slot_back(start_app: StartApp) -> None:
    app = start_app(QUOTA_JOBS_IN_FLIGHT="1", OFFLINE_LATENCY_MS="20000")
    user = f"cancel-{uuid.uuid4().hex[:8]}"
    first = _submit(app.base_url, user)
    assert first.status == 202, first.text
    _assert_quota_problem(_submit(app.base_url, user), "QUOTA_JOBS_IN_FLIGHT")
    job_id = first.json()["id"]
    wait_for(lambda: _status(app.base_url, job_id) == "running", timeout=30)
    cancel = call("POST", f"{app.base_url}/api/generations/{job_id}/cancel")
    assert cancel.status == 202, cancel.text
    wait_for(lambda: _status(app.base_url, job_id) == "canceled", timeout=30)
    assert _submit(app.base_url, user).status == 202
    _assert_quota_problem(_submit(app.base_url, user), "QUOTA_JOBS_IN_FLIGHT")


def test_daily_images_are_counted_at_accept_and_a_delete_does_not_give_them_back(
    start_app: StartApp,
) -> None:
    app = start_app(QUOTA_IMAGES_PER_DAY="3")
    user = f"daily-{uuid.uuid4().hex[:8]}"
    first = _submit(app.base_url, user, n=2)
    assert first.status == 202, first.text
    retry_after = _assert_quota_problem(_submit(app.base_url, user, n=2), "QUOTA_IMAGES_PER_DAY")
    assert retry_after <= 86_400
    job_id = first.json()["id"]
    wait_for(lambda: _status(app.base_url, job_id) == "succeeded", timeout=30)
    assert call("DELETE", f"{app.base_url}/api/generations/{job_id}").status == 204
    assert _submit(app.base_url, user, n=1).status == 202
    _assert_quota_problem(_submit(app.base_url, user, n=1), "QUOTA_IMAGES_PER_DAY")


def test_a_repeated_idempotency_key_gets_its_job_even_at_the_limit(start_app: StartApp) -> None:
    app = start_app(QUOTA_JOBS_IN_FLIGHT="1", OFFLINE_LATENCY_MS="20000")
    body = {"prompt": "a kite", "user": f"idem-{uuid.uuid4().hex[:8]}"}
    headers = {"Idempotency-Key": "k1"}
    first = call("POST", f"{app.base_url}/api/generations", json_body=body, headers=headers)
    again = call("POST", f"{app.base_url}/api/generations", json_body=body, headers=headers)
    assert first.status == 202, first.text
    assert again.status in (200, 202), again.text
    assert again.json()["id"] == first.json()["id"]
    other = call("POST", f"{app.base_url}/api/generations", json_body=body)
    _assert_quota_problem(other, "QUOTA_JOBS_IN_FLIGHT")


def test_a_request_refused_after_its_reservation_gives_the_reservation_back(start_app: StartApp) -> None:
    app = start_app(QUOTA_IMAGES_PER_DAY="3")
    user = f"undo-{uuid.uuid4().hex[:8]}"
    headers = {"Idempotency-Key": "k2"}
    first = call("POST", f"{app.base_url}/api/generations", headers=headers,
                 json_body={"prompt": "a kite", "n": 2, "user": user})
    assert first.status == 202, first.text
    # Same key, other body: reserved, then refused by the idempotency record, so given back.
    conflict = call("POST", f"{app.base_url}/api/generations", headers=headers,
                    json_body={"prompt": "a boat", "n": 1, "user": user})
    assert conflict.status == 422, conflict.text
    assert _submit(app.base_url, user, n=1).status == 202
    _assert_quota_problem(_submit(app.base_url, user, n=1), "QUOTA_IMAGES_PER_DAY")
