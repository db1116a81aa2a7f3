"""The LINE messages that tell a chat how its job ended, cut to LINE's limits."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta

from linebot.v3.messaging import ImageMessage, Message, TextMessage

from jobs.blobs.outputs import OutputStore
from jobs.domain.models import Job, JobKind, JobStatus, Output
from line_webhook import texts

# LINE's limits: characters of one text message (counted in UTF-16 units, as emoji count double
# there) and messages of one reply or push call.
MAX_TEXT_UNITS = 5000
MAX_MESSAGES_PER_CALL = 5
EMPTY_ANSWER = "The answer came back empty. Please try asking in another way."

ImageUrls = Mapping[int, tuple[str, str]]  # output index -> (original URL, preview URL)


def _fit(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    units = 0
    for position, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return position
    return len(text)


def split_text(text: str, *, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Pieces of at most `limit` units, cut at a paragraph, line or word break when one is near."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        end = _fit(rest, limit)
        if end < len(rest):
            window = rest[:end]
            for separator in ("\n\n", "\n", " "):
                at = window.rfind(separator)
                # A break in the first half would leave a short piece; cut mid-word instead.
                if at > end // 2:
                    end = at + len(separator)
                    break
        pieces.append(rest[:end].rstrip())
        rest = rest[end:].lstrip()
    return pieces


def in_batches(messages: Sequence[Message], *, size: int = MAX_MESSAGES_PER_CALL) -> list[list[Message]]:
    return [list(messages[start : start + size]) for start in range(0, len(messages), size)]


def _images(outputs: Sequence[Output]) -> list[Output]:
    done = [output for output in outputs if output.error is None and output.blob_name]
    return sorted(done, key=lambda output: output.index)


def build_messages(job: Job, image_urls: ImageUrls) -> list[Message]:
    """What the chat sees for a finished job: images, the answer, or a short note."""
    if job.status is JobStatus.CANCELED:
        return [TextMessage(text=texts.CANCELED)]
    if job.status is not JobStatus.SUCCEEDED:
        return [TextMessage(text=texts.failure(job.error))]
    if job.kind is JobKind.TEXT:
        answer = "\n\n".join(o.text for o in sorted(job.outputs, key=lambda o: o.index) if o.text)
        return [TextMessage(text=piece) for piece in split_text(answer) or [EMPTY_ANSWER]]
    messages: list[Message] = [
        ImageMessage(original_content_url=original, preview_image_url=preview)
        for original, preview in (image_urls[output.index] for output in _images(job.outputs))
    ]
    if not messages:
        return [TextMessage(text=texts.failure(job.error))]
    failed = job.total - len(messages)
    if failed > 0:
        messages.append(TextMessage(text=texts.partial_failure(failed, job.total)))
    return messages


async def image_urls(job: Job, outputs: OutputStore, *, ttl: timedelta) -> dict[int, tuple[str, str]]:
    """Read-only URLs of each finished image and its preview (the JPEG of at most 1 MB)."""
    images = _images(job.outputs) if job.status is JobStatus.SUCCEEDED else []
    names = [(image.blob_name or "", image.preview_blob_name or image.blob_name or "") for image in images]
    urls = await asyncio.gather(*(outputs.url_for(name, ttl=ttl) for pair in names for name in pair))
    return {image.index: (urls[2 * i], urls[2 * i + 1]) for i, image in enumerate(images)}
