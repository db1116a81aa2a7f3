"""Cancel and delete on real storage, with the durable HTTP API faked over a socket."""

from __future__ import annotations

import asyncio
import io
import json

import azure.durable_functions as df
import azure.functions as func
import pytest
from PIL import Image

from jobs.blobs.outputs import OutputStore
from jobs.domain.errors import OutputNotFoundError
from jobs.domain.models import JobError, JobStatus
from jobs.removal import JobRemover
from jobs.tables.deletions import DeletionLedger
from jobs.tables.store import JobStore
from status.blueprint import answer
from status.control import cancel_job, delete_job
from testing.factories import make_job
from tests.integration.status.durable_api import FakeDurableApi

BASE = "http://localhost:7071"


async def cancel(store: JobStore, durable: FakeDurableApi, job_id: str) -> func.HttpResponse:
    return await answer(
        lambda: cancel_job(job_id, jobs=store, client=durable.client(), base_url=BASE), job_id=job_id)


async def delete(
    store: JobStore, outputs: OutputStore, durable: FakeDurableApi, job_id: str, *,
    ledger: DeletionLedger, settle: float = 5
) -> func.HttpResponse:
    work = lambda: delete_job(  # noqa: E731
        job_id, jobs=store, outputs=outputs, deletions=ledger, client=durable.client(),
        settle_seconds=settle)
    return await answer(work, job_id=job_id)


async def tombstones(ledger: DeletionLedger) -> list[str]:
    return [tombstone.job_id for tombstone in await ledger.list(limit=100)]


async def test_cancel_queued_job_is_immediate(job_store: JobStore, durable: FakeDurableApi) -> None:
    job = await job_store.create(make_job())
    response = await cancel(job_store, durable, job.id)
    assert response.status_code == 200
    assert json.loads(response.get_body())["status"] == "canceled"
    assert (await job_store.get(job.id)).status is JobStatus.CANCELED
    assert durable.events == []


async def test_cancel_running_job_signals_the_orchestration(
    job_store: JobStore, durable: FakeDurableApi
) -> None:
    job = await job_store.create(make_job())
    await job_store.mark_running(job.id)
    durable.instances[job.id] = True
    response = await cancel(job_store, durable, job.id)
    assert response.status_code == 202
    assert response.headers["Location"] == f"{BASE}/api/generations/{job.id}"
    assert response.headers["Retry-After"] == "1"
    assert durable.events == [(job.id, "cancel")]
    assert (await job_store.get(job.id)).cancel_requested


@pytest.mark.parametrize("live", [None, False])
async def test_cancel_running_job_without_a_live_instance_is_still_accepted(
    job_store: JobStore, durable: FakeDurableApi, live: bool | None
) -> None:
    job = await job_store.create(make_job())
    await job_store.mark_running(job.id)
    if live is not None:
        durable.instances[job.id] = live
    response = await cancel(job_store, durable, job.id)
    assert response.status_code == 202
    assert durable.events == []


async def test_cancel_terminal_job_is_409(job_store: JobStore, durable: FakeDurableApi) -> None:
    job = await job_store.create(make_job())
    await job_store.finish(job.id, status=JobStatus.FAILED, error=JobError("timeout", "Too slow."))
    response = await cancel(job_store, durable, job.id)
    assert response.status_code == 409
    assert "failed" in json.loads(response.get_body())["detail"]


async def test_cancel_unknown_job_is_404(job_store: JobStore, durable: FakeDurableApi) -> None:
    assert (await cancel(job_store, durable, "nope")).status_code == 404


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_delete_removes_row_blobs_and_history(
    job_store: JobStore, output_store: OutputStore, durable: FakeDurableApi,
    deletion_ledger: DeletionLedger,
) -> None:
    job = await job_store.create(make_job())
    output = await output_store.save_image(job.id, 0, tiny_png())
    await job_store.mark_running(job.id)
    await job_store.finish(job.id, status=JobStatus.SUCCEEDED, outputs=[output])
    durable.instances[job.id] = False
    response = await delete(job_store, output_store, durable, job.id, ledger=deletion_ledger)
    assert response.status_code == 204
    assert await job_store.find(job.id) is None
    for blob in (output.blob_name, output.preview_blob_name):
        assert blob is not None
        with pytest.raises(OutputNotFoundError):
            await output_store.read(blob)
    assert job.id in durable.purged
    assert job.id not in durable.instances
    assert await tombstones(deletion_ledger) == [], "nothing was left, so nothing is left to finish"
    again = await delete(job_store, output_store, durable, job.id, ledger=deletion_ledger)
    assert again.status_code == 404


async def test_delete_running_job_cancels_it_and_purges_once_it_stopped(
    job_store: JobStore, output_store: OutputStore, durable: FakeDurableApi,
    deletion_ledger: DeletionLedger,
) -> None:
    job = await job_store.create(make_job())
    await job_store.mark_running(job.id)
    durable.instances[job.id] = True

    def orchestrator_stops(instance_id: str) -> None:
        # What the orchestrator does on the cancel event: finalize the row, then complete.
        async def finalize() -> None:
            await job_store.finish(instance_id, status=JobStatus.CANCELED, error=JobError("canceled", "C."))
            durable.instances[instance_id] = False
        durable.background.append(asyncio.create_task(finalize()))

    durable.on_event = orchestrator_stops
    response = await delete(job_store, output_store, durable, job.id, ledger=deletion_ledger)
    assert response.status_code == 204
    assert durable.events == [(job.id, "cancel")]
    assert await job_store.find(job.id) is None
    assert job.id in durable.purged
    assert job.id not in durable.instances  # purged only because it had completed
    assert await tombstones(deletion_ledger) == []


async def test_delete_running_job_that_does_not_stop_in_time_still_deletes(
    job_store: JobStore, output_store: OutputStore, durable: FakeDurableApi,
    deletion_ledger: DeletionLedger,
) -> None:
    job = await job_store.create(make_job())
    await job_store.mark_running(job.id)
    durable.instances[job.id] = True
    response = await delete(job_store, output_store, durable, job.id, ledger=deletion_ledger, settle=0.3)
    assert response.status_code == 204
    assert await job_store.find(job.id) is None
    assert durable.instances[job.id] is True  # a running instance is not purged
    assert await tombstones(deletion_ledger) == [job.id], "maintenance is left to finish it"

    # Later the orchestration ends, an output it was making is stored after all, and maintenance runs.
    durable.instances[job.id] = False
    late = await output_store.save_image(job.id, 1, tiny_png())
    removal = await JobRemover(job_store, output_store, deletion_ledger, durable.client()).finish(job.id)
    assert removal.complete and removal.blobs == 2 and removal.histories == 1
    assert late.blob_name is not None
    with pytest.raises(OutputNotFoundError):
        await output_store.read(late.blob_name)
    assert job.id not in durable.instances
    assert await tombstones(deletion_ledger) == []


async def test_delete_of_a_queued_job_whose_orchestration_starts_late_is_finished_later(
    job_store: JobStore, output_store: OutputStore, durable: FakeDurableApi,
    deletion_ledger: DeletionLedger,
) -> None:
    job = await job_store.create(make_job(n=2))
    response = await delete(job_store, output_store, durable, job.id, ledger=deletion_ledger)
    assert response.status_code == 204
    assert durable.events == [], "a queued job is canceled on its row; no orchestration to signal"
    assert await tombstones(deletion_ledger) == []
    # A starter that read the row just before the delete starts the orchestration anyway: it finds
    # no row, records the tombstone again (as mark_job_running does) and completes.
    durable.instances[job.id] = False
    await deletion_ledger.record(job.id)
    remover = JobRemover(job_store, output_store, deletion_ledger, durable.client())
    assert (await remover.finish(job.id)).histories == 1
    assert job.id not in durable.instances
    assert await tombstones(deletion_ledger) == []


async def test_unexpected_failure_is_a_500_problem_without_internals(
    job_store: JobStore, output_store: OutputStore
) -> None:
    job = await job_store.create(make_job())
    await job_store.mark_running(job.id)
    # A durable endpoint nobody listens on: the signal cannot be sent at all.
    binding = {"taskHubName": "h", "creationUrls": {}, "managementUrls": {},
               "rpcBaseUrl": "http://127.0.0.1:9/durabletask/"}
    client = df.DurableOrchestrationClient(json.dumps(binding))
    response = await answer(
        lambda: cancel_job(job.id, jobs=job_store, client=client, base_url=BASE), job_id=job.id)
    assert response.status_code == 500
    detail = json.loads(response.get_body())["detail"]
    assert "127.0.0.1" not in detail
    assert "durabletask" not in detail
