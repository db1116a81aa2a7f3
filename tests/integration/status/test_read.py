"""Status URL and list handlers on real Table storage (Azurite)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from jobs.domain.models import JobError, JobStatus
from jobs.tables.store import JobStore
from status.blueprint import answer, get_job, list_jobs
from testing.factories import make_job

BASE = "https://api.example.com"


def body(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


async def get(store: JobStore, job_id: str, **params: str) -> func.HttpResponse:
    return await answer(lambda: get_job(job_id, params, jobs=store, base_url=BASE), job_id=job_id)


async def test_queued_job_has_retry_after(job_store: JobStore) -> None:
    job = await job_store.create(make_job())
    response = await get(job_store, job.id)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Retry-After"] == "2"
    assert body(response)["status"] == "queued"
    assert body(response)["id"] == job.id


async def test_running_job_has_a_shorter_retry_after(job_store: JobStore) -> None:
    job = await job_store.create(make_job())
    await job_store.mark_running(job.id)
    response = await get(job_store, job.id)
    assert body(response)["status"] == "running"
    assert response.headers["Retry-After"] == "1"


async def test_terminal_job_has_no_retry_after(job_store: JobStore) -> None:
    job = await job_store.create(make_job())
    await job_store.finish(job.id, status=JobStatus.FAILED, error=JobError("timeout", "Too slow."))
    response = await get(job_store, job.id)
    assert "Retry-After" not in response.headers
    assert body(response)["error"] == {"code": "timeout", "message": "Too slow."}


async def test_unknown_job_is_a_404_problem(job_store: JobStore) -> None:
    response = await get(job_store, "no-such-job")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "no-such-job" in body(response)["detail"]


async def test_wait_returns_as_soon_as_the_job_is_terminal(job_store: JobStore) -> None:
    job = await job_store.create(make_job())

    async def finish_soon() -> None:
        await asyncio.sleep(0.3)
        await job_store.finish(job.id, status=JobStatus.CANCELED, error=JobError("canceled", "Canceled."))

    finisher = asyncio.create_task(finish_soon())
    response = await get(job_store, job.id, wait="30")
    await finisher
    assert body(response)["status"] == "canceled"
    assert "Retry-After" not in response.headers


async def test_wait_gives_up_and_answers_the_current_state(job_store: JobStore) -> None:
    job = await job_store.create(make_job())
    response = await get(job_store, job.id, wait="1")
    assert response.status_code == 200
    assert body(response)["status"] == "queued"
    assert response.headers["Retry-After"] == "2"


@pytest.mark.parametrize("wait", ["-1", "soon", "1.5"])
async def test_bad_wait_is_a_400_problem(job_store: JobStore, wait: str) -> None:
    job = await job_store.create(make_job())
    response = await get(job_store, job.id, wait=wait)
    assert response.status_code == 400
    assert body(response)["errors"][0]["field"] == "wait"


async def list_page(store: JobStore, **params: str) -> func.HttpResponse:
    return await answer(lambda: list_jobs(params, jobs=store, base_url=BASE))


async def test_list_pages_newest_first_with_a_cursor(job_store: JobStore) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    ids = []
    for minute in range(5):
        job = make_job(user="pager", created_at=start + timedelta(minutes=minute))
        ids.append((await job_store.create(job)).id)
    first = body(await list_page(job_store, user="pager", limit="2"))
    assert [item["id"] for item in first["items"]] == [ids[4], ids[3]]
    second = body(await list_page(job_store, user="pager", limit="2", cursor=first["next_cursor"]))
    assert [item["id"] for item in second["items"]] == [ids[2], ids[1]]
    last = body(await list_page(job_store, user="pager", limit="2", cursor=second["next_cursor"]))
    assert [item["id"] for item in last["items"]] == [ids[0]]
    assert last["next_cursor"] is None


async def test_list_filters_by_status_and_user(job_store: JobStore) -> None:
    done = await job_store.create(make_job(user="filter"))
    await job_store.create(make_job(user="filter"))
    await job_store.create(make_job(user="someone-else"))
    await job_store.finish(done.id, status=JobStatus.FAILED, error=JobError("internal", "Broke."))
    page = body(await list_page(job_store, user="filter", status="failed"))
    assert [item["id"] for item in page["items"]] == [done.id]
    assert page["items"][0]["status"] == "failed"
    everyone = body(await list_page(job_store, user="filter"))
    assert len(everyone["items"]) == 2


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "%%%", "a" * 500])
async def test_malformed_cursor_is_a_400_problem(job_store: JobStore, cursor: str) -> None:
    response = await list_page(job_store, cursor=cursor)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert body(response)["errors"] == [{"field": "cursor", "message": "is malformed or was altered"}]


async def test_bad_list_parameters_are_named(job_store: JobStore) -> None:
    response = await list_page(job_store, limit="0", status="done")
    assert response.status_code == 400
    assert {error["field"] for error in body(response)["errors"]} == {"limit", "status"}
