"""OutputStore: images in Blob Storage under deterministic names, with JPEG previews and read-only SAS
URLs (signed with the account key, or with a cached user-delegation key), and the Pillow work for them
(CPU-bound: callers run it in a thread)."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, ContentSettings, UserDelegationKey, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from PIL import Image

from jobs.domain.errors import OutputNotFoundError
from jobs.domain.models import Output
from jobs.names import OUTPUTS_CONTAINER

logger = logging.getLogger(__name__)

PNG = "image/png"
JPEG = "image/jpeg"


def image_blob_name(job_id: str, index: int) -> str:
    return f"{job_id}/{index}.png"


def preview_blob_name(job_id: str, index: int) -> str:
    return f"{job_id}/{index}.preview.jpg"


def job_blob_prefix(job_id: str) -> str:
    return f"{job_id}/"


# The service refuses a user-delegation key that lives longer than 7 days.
MAX_KEY_LIFETIME = timedelta(days=7) - timedelta(minutes=5)
# How much shorter than asked a URL may be before a new key is fetched (keys are reused meanwhile):
# at most an hour, and at most a tenth of the URL's lifetime.
KEY_REUSE_SLACK = timedelta(hours=1)
# Tolerated clock skew between this host and Storage.
CLOCK_SKEW = timedelta(minutes=5)


class SasSigner(Protocol):
    async def sign(self, container: str, blob_name: str, *, ttl: timedelta) -> str:
        """A read-only SAS query string (without "?") for one blob."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AccountKeySigner:
    """For connection strings: the account key signs locally, no request needed."""

    def __init__(self, account_name: str, account_key: str) -> None:
        self._account_name = account_name
        self._account_key = account_key

    async def sign(self, container: str, blob_name: str, *, ttl: timedelta) -> str:
        now = _utcnow()
        return generate_blob_sas(
            self._account_name,
            container,
            blob_name,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            start=now - CLOCK_SKEW,
            expiry=now + ttl,
        )


def delegation_key_usable(key_expiry: datetime, *, now: datetime, ttl: timedelta) -> bool:
    """Whether a key expiring at `key_expiry` can sign a URL valid for (almost) `ttl` from `now`."""
    return key_expiry >= now + ttl - min(KEY_REUSE_SLACK, ttl / 10)


def parse_key_time(value: str | None) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class DelegationKeySigner:
    """For managed identity: a user-delegation key (one request), cached until it is too short-lived."""

    def __init__(self, service: BlobServiceClient) -> None:
        self._service = service
        self._key: UserDelegationKey | None = None
        self._lock = asyncio.Lock()

    async def _key_for(self, ttl: timedelta) -> UserDelegationKey:
        async with self._lock:
            now = _utcnow()
            key = self._key
            if key is None or not delegation_key_usable(parse_key_time(key.signed_expiry), now=now, ttl=ttl):
                key = await self._service.get_user_delegation_key(
                    key_start_time=now - CLOCK_SKEW, key_expiry_time=now + MAX_KEY_LIFETIME
                )
                self._key = key
            return key

    async def sign(self, container: str, blob_name: str, *, ttl: timedelta) -> str:
        if ttl > MAX_KEY_LIFETIME + KEY_REUSE_SLACK:
            raise ValueError("a user-delegation SAS cannot outlive its 7-day key")
        key = await self._key_for(ttl)
        now = _utcnow()
        expiry = min(now + ttl, parse_key_time(key.signed_expiry))
        return generate_blob_sas(
            self._service.account_name or "",
            container,
            blob_name,
            user_delegation_key=key,
            permission=BlobSasPermissions(read=True),
            start=now - CLOCK_SKEW,
            expiry=expiry,
        )


def signer_for(service: BlobServiceClient) -> SasSigner:
    """Account-key SAS when the client holds the key (connection string), user delegation otherwise."""
    # A client built from a connection string holds a shared-key policy exposing the key.
    account_key = getattr(service.credential, "account_key", None)
    if isinstance(account_key, str) and account_key:
        return AccountKeySigner(service.account_name or "", account_key)
    return DelegationKeySigner(service)


class OutputStore:
    """Blobs `{job_id}/{index}.png` and `{job_id}/{index}.preview.jpg` in one container."""

    def __init__(
        self,
        service: BlobServiceClient,
        *,
        container: str = OUTPUTS_CONTAINER,
        signer: SasSigner | None = None,
    ) -> None:
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)
        self._signer = signer or signer_for(service)
        self._container_exists = False  # created or found by this store: checked once

    async def _ready(self) -> None:
        if self._container_exists:
            return
        try:
            await self._container.create_container()
            logger.info("created blob container %s", self._container.container_name)
        except ResourceExistsError:
            pass
        self._container_exists = True

    async def save_image(self, job_id: str, index: int, png: bytes) -> Output:
        """Store the image and its JPEG preview; overwrites, so a retried activity is harmless.

        A PNG is uploaded while its preview is being made; an image that turns out unreadable
        leaves no blob behind.
        """
        await self._ready()
        name, preview = image_blob_name(job_id, index), preview_blob_name(job_id, index)
        early = asyncio.create_task(self._upload(name, png, PNG)) if png.startswith(PNG_SIGNATURE) else None
        try:
            prepared = await asyncio.to_thread(prepare_image, png)
        except BaseException:
            if early is not None:
                await asyncio.gather(early, return_exceptions=True)
                await self._delete_quietly(name)
            raise
        image_upload = early if early is not None else self._upload(name, prepared.png, PNG)
        await asyncio.gather(image_upload, self._upload(preview, prepared.preview, JPEG))
        logger.info(
            "job %s: saved output %d (%dx%d, preview %d bytes)",
            job_id, index, prepared.width, prepared.height, len(prepared.preview),
        )
        return Output(
            index=index,
            content_type=PNG,
            blob_name=name,
            preview_blob_name=preview,
            width=prepared.width,
            height=prepared.height,
        )

    async def _delete_quietly(self, blob_name: str) -> None:
        try:
            await self._container.delete_blob(blob_name)
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            logger.warning("could not remove %s: %s", blob_name, exc)

    async def _upload(self, blob_name: str, data: bytes, content_type: str) -> None:
        await self._container.upload_blob(
            blob_name, data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
        )

    async def url_for(self, blob_name: str, *, ttl: timedelta) -> str:
        """A read-only URL for one blob, valid for `ttl` (http or https as the account endpoint is)."""
        sas = await self._signer.sign(self._container.container_name, blob_name, ttl=ttl)
        return f"{self._container.get_blob_client(blob_name).url}?{sas}"

    async def read(self, blob_name: str) -> bytes:
        try:
            downloader = await self._container.download_blob(blob_name)
            return await downloader.readall()
        except ResourceNotFoundError as exc:
            raise OutputNotFoundError(blob_name) from exc

    async def delete_job(self, job_id: str) -> int:
        """Delete every blob of a job; returns how many were deleted."""
        try:
            blobs = self._container.list_blobs(name_starts_with=job_blob_prefix(job_id))
            names = [blob.name async for blob in blobs]
        except ResourceNotFoundError:
            return 0  # no container yet: nothing was ever saved
        results = await asyncio.gather(
            *(self._container.delete_blob(name, delete_snapshots="include") for name in names),
            return_exceptions=True,
        )
        for result in results:
            # A concurrent delete of the same job is fine; anything else is a real failure.
            if isinstance(result, BaseException) and not isinstance(result, ResourceNotFoundError):
                raise result
        deleted = sum(1 for result in results if not isinstance(result, BaseException))
        logger.info("job %s: deleted %d blobs", job_id, deleted)
        return deleted


# LINE's previewImageUrl must be a JPEG of at most 1 MB; 1024 px on the long side is plenty.
MAX_PREVIEW_BYTES = 1_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PREVIEW_SIDE = 1024
_QUALITIES = (85, 75, 65, 50, 35)


@dataclass(frozen=True)
class PreparedImage:
    png: bytes
    preview: bytes
    width: int
    height: int


def prepare_image(data: bytes) -> PreparedImage:
    """The image as PNG (re-encoded only if it is not one already), its size and a JPEG preview."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        png = data if image.format == "PNG" else _encode(image, "PNG")
        return PreparedImage(png=png, preview=jpeg_preview(image), width=image.width, height=image.height)


def jpeg_preview(image: Image.Image, *, max_bytes: int = MAX_PREVIEW_BYTES) -> bytes:
    """An RGB JPEG of at most `max_bytes`: lower quality first, then smaller, until it fits."""
    rgb = _flatten(image)
    if max(rgb.size) > MAX_PREVIEW_SIDE:
        scale = MAX_PREVIEW_SIDE / max(rgb.size)
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                         Image.Resampling.LANCZOS)
    while True:
        for quality in _QUALITIES:
            encoded = _encode(rgb, "JPEG", quality=quality, optimize=True)
            if len(encoded) <= max_bytes:
                return encoded
        if max(rgb.size) <= 16:
            return encoded
        rgb = rgb.resize((max(1, rgb.width * 3 // 4), max(1, rgb.height * 3 // 4)))


def _flatten(image: Image.Image) -> Image.Image:
    """The image as RGB: itself when it already is (callers never change it in place)."""
    if image.mode == "RGB":
        return image
    # JPEG has no alpha: paint transparent pixels white rather than letting them turn black.
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
