"""Per-user quotas at accept on devhost: exact under a burst, 429 problems, slots given back."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from testing.devhost import wait_for
from testing.fixtures import StartApp

pytestmark = pytest.mark.e2e


def _submit(base: str, user: str, n: int = 1) -> requests.Response:
    return requests.post(f"{base}/api/generations", json={"prompt": "a kite", "n": n, "user": user},
                         timeout=30)


def _status(base: str, job_id: str) -> str:
    return str(requests.get(f"{base}/api/generations/{job_id}", timeout=10).json()["status"])


def _assert_quota_problem(response: requests.Response, quota: str) -> int:
    assert response.status_code == 429, response.text
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

    accepted = [answer.json()["id"] for answer in answers if answer.status_code == 202]
    refused = [answer for answer in answers if answer.status_code != 202]
    assert len(accepted) == 5, [answer.status_code for answer in answers]
    for answer in refused:
        _assert_quota_problem(answer, "QUOTA_JOBS_IN_FLIGHT")
    listed = requests.get(f"{app.base_url}/api/generations", params={"user": user}, timeout=10).json()
    assert sorted(item["id"] for item in listed["items"]) == sorted(accepted)
    assert _submit(app.base_url, f"other-{user}").status_code == 202


def test_a_canceled_job_gives_its_slot_back(start_app: StartApp) -> None:
    app = start_app(QUOTA_JOBS_IN_FLIGHT="1", OFFLINE_LATENCY_MS="20000")
    user = f"cancel-{uuid.uuid4().hex[:8]}"
    first = _submit(app.base_url, user)
    assert first.status_code == 202, first.text
    _assert_quota_problem(_submit(app.base_url, user), "QUOTA_JOBS_IN_FLIGHT")
    job_id = first.json()["id"]
    wait_for(lambda: _status(app.base_url, job_id) == "running", timeout=30)
    cancel = requests.post(f"{app.base_url}/api/generations/{job_id}/cancel", timeout=10)
    assert cancel.status_code == 202, cancel.text
    wait_for(lambda: _status(app.base_url, job_id) == "canceled", timeout=30)
    assert _submit(app.base_url, user).status_code == 202
    _assert_quota_problem(_submit(app.base_url, user), "QUOTA_JOBS_IN_FLIGHT")


def test_daily_images_are_counted_at_accept_and_a_delete_does_not_give_them_back(
    start_app: StartApp,
) -> None:
    app = start_app(QUOTA_IMAGES_PER_DAY="3")
    user = f"daily-{uuid.uuid4().hex[:8]}"
    first = _submit(app.base_url, user, n=2)
    assert first.status_code == 202, first.text
    retry_after = _assert_quota_problem(_submit(app.base_url, user, n=2), "QUOTA_IMAGES_PER_DAY")
    assert retry_after <= 86_400
    job_id = first.json()["id"]
    wait_for(lambda: _status(app.base_url, job_id) == "succeeded", timeout=30)
    assert requests.delete(f"{app.base_url}/api/generations/{job_id}", timeout=30).status_code == 204
    assert _submit(app.base_url, user, n=1).status_code == 202
    _assert_quota_problem(_submit(app.base_url, user, n=1), "QUOTA_IMAGES_PER_DAY")


def test_a_repeated_idempotency_key_gets_its_job_even_at_the_limit(start_app: StartApp) -> None:
    app = start_app(QUOTA_JOBS_IN_FLIGHT="1", OFFLINE_LATENCY_MS="20000")
    body = {"prompt": "a kite", "user": f"idem-{uuid.uuid4().hex[:8]}"}
    headers = {"Idempotency-Key": "k1"}
    first = requests.post(f"{app.base_url}/api/generations", json=body, headers=headers, timeout=30)
    again = requests.post(f"{app.base_url}/api/generations", json=body, headers=headers, timeout=30)
    assert first.status_code == 202, first.text
    assert again.status_code in (200, 202), again.text
    assert again.json()["id"] == first.json()["id"]
    other = requests.post(f"{app.base_url}/api/generations", json=body, timeout=30)
    _assert_quota_problem(other, "QUOTA_JOBS_IN_FLIGHT")


def test_a_request_refused_after_its_reservation_gives_the_reservation_back(start_app: StartApp) -> None:
    app = start_app(QUOTA_IMAGES_PER_DAY="3")
    user = f"undo-{uuid.uuid4().hex[:8]}"
    headers = {"Idempotency-Key": "k2"}
    first = requests.post(f"{app.base_url}/api/generations", headers=headers, timeout=30,
                          json={"prompt": "a kite", "n": 2, "user": user})
    assert first.status_code == 202, first.text
    # Same key, other body: reserved, then refused by the idempotency record, so given back.
    conflict = requests.post(f"{app.base_url}/api/generations", headers=headers, timeout=30,
                             json={"prompt": "a boat", "n": 1, "user": user})
    assert conflict.status_code == 422, conflict.text
    assert _submit(app.base_url, user, n=1).status_code == 202
    _assert_quota_problem(_submit(app.base_url, user, n=1), "QUOTA_IMAGES_PER_DAY")
