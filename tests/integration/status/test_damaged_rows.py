"""A job row holding data no current version writes never makes a status or list read fail."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from jobs.blobs.outputs import OutputStore
from jobs.contracts import CANCEL_EVENT
from jobs.domain.models import JobStatus
from jobs.tables.deletions import DeletionLedger
from jobs.tables.entities import JOB_ROW_KEY
from jobs.tables.salvage import DAMAGED
from jobs.tables.store import JobStore
from status.blueprint import answer, get_job, list_jobs
from status.control import cancel_job, delete_job
from testing.factories import make_job
from tests.integration.status.durable_api import FakeDurableApi

BASE = "https://api.example.com"


def body(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body().decode("utf-8"))


async def _damage(service: TableServiceClient, store: JobStore, job_id: str, **fields: Any) -> None:
    """Overwrite fields of the row straight in Azurite, bypassing the store's checks."""
    table = service.get_table_client(store._tables[0])
    entity = {"PartitionKey": job_id, "RowKey": JOB_ROW_KEY, **fields}
    await table.update_entity(entity, mode=UpdateMode.MERGE)


async def _get(store: JobStore, job_id: str, **params: str) -> func.HttpResponse:
    return await answer(lambda: get_job(job_id, params, jobs=store, base_url=BASE), job_id=job_id)


async def _list(store: JobStore, **params: str) -> func.HttpResponse:
    return await answer(lambda: list_jobs(params, jobs=store, base_url=BASE))


async def test_a_lone_surrogate_in_a_stored_prompt_is_shown_as_a_replacement_character(
    job_store: JobStore, table_service: TableServiceClient
) -> None:
    job = await job_store.create(make_job(prompt="a fox", user="damaged-prompt"))
    await _damage(table_service, job_store, job.id, Prompt="a\ud800b")

    status = await _get(job_store, job.id)
    listing = await _list(job_store, user="damaged-prompt")

    assert status.status_code == 200
    assert body(status)["prompt"] == "a\ufffdb"
    assert listing.status_code == 200
    assert [item["prompt"] for item in body(listing)["items"]] == ["a\ufffdb"]


@pytest.mark.parametrize(
    "damage",
    [{"Status": "exploded"}, {"OutputsChunks": 1, "Outputs0": "{not json"}, {"Kind": "video", "N": "many"}],
    ids=["unknown-status", "broken-outputs", "wrong-types"],
)
async def test_an_unparseable_row_is_skipped_in_the_list_with_a_log_line_naming_its_key(
    job_store: JobStore, table_service: TableServiceClient, caplog: pytest.LogCaptureFixture,
    damage: dict[str, Any],
) -> None:
    user = "damaged-list"
    older = await job_store.create(make_job(user=user))
    bad = await job_store.create(make_job(user=user))
    newer = await job_store.create(make_job(user=user))
    await _damage(table_service, job_store, bad.id, **damage)

    with caplog.at_level(logging.WARNING, logger="jobs.tables.store"):
        listing = await _list(job_store, user=user)

    assert listing.status_code == 200
    assert [item["id"] for item in body(listing)["items"]] == [newer.id, older.id]
    assert any(bad.id in record.getMessage() and "skipped" in record.getMessage()
               for record in caplog.records)


async def test_an_unreadable_status_is_shown_as_failed_with_what_else_reads(
    job_store: JobStore, table_service: TableServiceClient
) -> None:
    job = await job_store.create(make_job(prompt="a lighthouse", user="damaged-status"))
    await _damage(table_service, job_store, job.id, Status="exploded")

    response = await _get(job_store, job.id, wait="5")

    assert response.status_code == 200
    shown = body(response)
    assert (shown["id"], shown["status"], shown["prompt"]) == (job.id, "failed", "a lighthouse")
    assert shown["error"] == DAMAGED.to_dict()
    assert "Retry-After" not in response.headers


async def test_damaged_outputs_leave_the_rest_of_the_status_readable(
    job_store: JobStore, table_service: TableServiceClient
) -> None:
    job = await job_store.create(make_job(prompt="two foxes"))
    await job_store.mark_running(job.id)
    await _damage(table_service, job_store, job.id, OutputsChunks=2, Outputs0="[", Outputs1="oops")

    response = await _get(job_store, job.id)

    assert response.status_code == 200
    shown = body(response)
    assert (shown["status"], shown["prompt"], shown["outputs"], shown["error"]) == (
        JobStatus.RUNNING.value, "two foxes", [], None)


async def test_a_damaged_row_can_be_deleted_and_its_orchestration_is_told_to_stop(
    job_store: JobStore, table_service: TableServiceClient, output_store: OutputStore,
    deletion_ledger: DeletionLedger, durable: FakeDurableApi,
) -> None:
    job = await job_store.create(make_job(prompt="a kite", user="damaged-delete"))
    await job_store.mark_running(job.id)
    await _damage(table_service, job_store, job.id, Prompt=17, OutputsChunks=1, Outputs0="[")
    durable.instances[job.id] = True
    durable.on_event = lambda instance_id: durable.instances.__setitem__(instance_id, False)

    response = await answer(lambda: delete_job(
        job.id, jobs=job_store, outputs=output_store, deletions=deletion_ledger, client=durable.client(),
        settle_seconds=5), job_id=job.id)

    assert response.status_code == 204
    assert (job.id, CANCEL_EVENT) in durable.events
    assert await job_store.find(job.id) is None
    assert body(await _list(job_store, user="damaged-delete"))["items"] == []
    assert [tombstone.job_id for tombstone in await deletion_ledger.list(limit=100)] == []


async def test_cancel_of_a_damaged_row_is_a_409_that_points_to_delete(
    job_store: JobStore, table_service: TableServiceClient, durable: FakeDurableApi,
) -> None:
    job = await job_store.create(make_job(prompt="a kite"))
    await _damage(table_service, job_store, job.id, Status="exploded")

    response = await answer(
        lambda: cancel_job(job.id, jobs=job_store, client=durable.client(), base_url=BASE), job_id=job.id)

    assert response.status_code == 409
    assert "DELETE removes it" in body(response)["detail"]
    assert durable.events == []
