"""What the status handlers raise becomes a problem answer; internals never leak."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

from jobs.domain.errors import InvalidCursorError, JobNotFoundError
from jobs.http import InvalidQueryError
from status.blueprint import answer


async def _raise(exc: Exception) -> func.HttpResponse:
    raise exc


async def test_unexpected_error_is_a_500_problem_and_logged_with_the_job_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="status.blueprint"):
        response = await answer(lambda: _raise(RuntimeError("password=hunter2 at 10.0.0.1")), job_id="job-9")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    text = response.get_body().decode()
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert json.loads(text)["title"] == "Internal Server Error"
    assert "job-9" in caplog.text


async def test_known_errors_map_to_4xx() -> None:
    assert (await answer(lambda: _raise(JobNotFoundError("j1")))).status_code == 404
    cursor = await answer(lambda: _raise(InvalidCursorError("bad")))
    assert cursor.status_code == 400
    assert json.loads(cursor.get_body())["errors"][0]["field"] == "cursor"
    query = await answer(lambda: _raise(InvalidQueryError([{"field": "limit", "message": "too big"}])))
    assert query.status_code == 400
    assert json.loads(query.get_body())["errors"] == [{"field": "limit", "message": "too big"}]


async def test_success_passes_through() -> None:
    async def ok() -> func.HttpResponse:
        return func.HttpResponse(status_code=204)

    assert (await answer(ok)).status_code == 204
