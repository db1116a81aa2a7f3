"""The job queue message: JSON `{"job_id": "..."}`, the same for Storage queues and Service Bus."""

from __future__ import annotations

import base64
import binascii
import json

from jobs.entities import is_valid_key

MAX_JOB_ID_CHARS = 128


def job_message_body(job_id: str) -> str:
    return json.dumps({"job_id": job_id}, separators=(",", ":"))


def storage_message_text(job_id: str) -> str:
    """Base64 of the JSON body, as the Functions host expects with `messageEncoding: base64`."""
    return base64.b64encode(job_message_body(job_id).encode()).decode("ascii")


def _job_id_from_json(text: str) -> str:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("job message is not a JSON object")
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or len(job_id) > MAX_JOB_ID_CHARS or not is_valid_key(job_id):
        raise ValueError("job message has no usable job_id")
    return job_id


def parse_job_message(body: str | bytes) -> str:
    """The job id in a queue message (JSON, or base64 of it as stored in the queue); ValueError else."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    text = text.strip()
    if not text.startswith("{"):
        # The raw queue text (seen when a message is read without the host's decoding).
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("job message is neither JSON nor base64 JSON") from exc
    try:
        return _job_id_from_json(text)
    except json.JSONDecodeError as exc:
        raise ValueError("job message is not valid JSON") from exc
