"""Output links on real Table and Blob storage: 303 to a SAS URL that really serves the bytes."""

from __future__ import annotations

import io
import json

import aiohttp
import azure.functions as func
from PIL import Image

from jobs.blobs.outputs import OutputStore
from jobs.domain.models import JobError, JobKind, JobStatus, Output
from jobs.tables.store import JobStore
from status.blueprint import answer
from status.outputs_api import get_output
from testing.factories import make_job

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def fetch(
    job_store: JobStore, output_store: OutputStore, job_id: str, index: str, **params: str
) -> func.HttpResponse:
    return await answer(
        lambda: get_output(job_id, index, params, jobs=job_store, outputs=output_store), job_id=job_id)


async def download(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.read()


async def test_image_output_redirects_to_a_fetchable_png_and_preview(
    job_store: JobStore, output_store: OutputStore
) -> None:
    job = await job_store.create(make_job())
    output = await output_store.save_image(job.id, 0, small_png())
    await job_store.mark_running(job.id)
    await job_store.finish(job.id, status=JobStatus.SUCCEEDED, outputs=[output])

    response = await fetch(job_store, output_store, job.id, "0")
    assert response.status_code == 303
    assert response.headers["Cache-Control"] == "no-store"
    status, content_type, data = await download(response.headers["Location"])
    assert (status, content_type) == (200, "image/png")
    assert data.startswith(PNG_SIGNATURE)

    preview = await fetch(job_store, output_store, job.id, "0", variant="preview")
    assert preview.status_code == 303
    status, content_type, data = await download(preview.headers["Location"])
    assert (status, content_type) == (200, "image/jpeg")
    assert data.startswith(JPEG_SIGNATURE)


async def test_output_not_recorded_yet_is_409_while_running(
    job_store: JobStore, output_store: OutputStore
) -> None:
    job = await job_store.create(make_job(n=2))
    await job_store.mark_running(job.id)
    response = await fetch(job_store, output_store, job.id, "1")
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "1"


async def test_out_of_range_bad_and_never_produced_outputs_are_404(
    job_store: JobStore, output_store: OutputStore
) -> None:
    job = await job_store.create(make_job(n=2))
    for index in ("2", "-1", "first"):
        assert (await fetch(job_store, output_store, job.id, index)).status_code == 404
    await job_store.finish(job.id, status=JobStatus.CANCELED, error=JobError("canceled", "Canceled."))
    assert (await fetch(job_store, output_store, job.id, "0")).status_code == 404
    assert (await fetch(job_store, output_store, "missing-job", "0")).status_code == 404


async def test_failed_output_is_404_with_its_reason(job_store: JobStore, output_store: OutputStore) -> None:
    job = await job_store.create(make_job())
    failed = Output(index=0, error=JobError("content_rejected", "The prompt was rejected."))
    await job_store.finish(job.id, status=JobStatus.FAILED, outputs=[failed],
                           error=JobError("content_rejected", "The prompt was rejected."))
    response = await fetch(job_store, output_store, job.id, "0")
    assert response.status_code == 404
    assert "The prompt was rejected." in json.loads(response.get_body())["detail"]


async def test_text_output_is_answered_as_text(job_store: JobStore, output_store: OutputStore) -> None:
    job = await job_store.create(make_job(kind=JobKind.TEXT))
    answer_text = "Fünf kleine Füchse.\n" * 10
    text = Output(index=0, content_type="text/plain", text=answer_text)
    await job_store.mark_running(job.id)
    await job_store.finish(job.id, status=JobStatus.SUCCEEDED, outputs=[text])
    response = await fetch(job_store, output_store, job.id, "0")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_body().decode("utf-8") == answer_text


async def test_unknown_variant_is_400(job_store: JobStore, output_store: OutputStore) -> None:
    job = await job_store.create(make_job())
    response = await fetch(job_store, output_store, job.id, "0", variant="thumb")
    assert response.status_code == 400
