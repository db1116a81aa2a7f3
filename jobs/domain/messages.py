"""The job queue message: JSON `{"job_id": "...", "outputs": n}`, the same for Storage queues and Service Bus.

`outputs` (how many outputs the job asks for) is a hint that lets the orchestration start every
output together with marking the job running; the job row stays the truth. A message without it
(or with an unusable one) still starts the job, only one step slower.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from jobs.domain.models import MAX_OUTPUTS
from jobs.tables.entities import is_valid_key

MAX_JOB_ID_CHARS = 128


@dataclass(frozen=True)
class JobMessage:
    job_id: str
    outputs: int | None = None


def usable_output_count(value: object) -> int | None:
    """`value` as an output count when it is one a job can have, else None (the hint is ignored)."""
    return value if type(value) is int and 1 <= value <= MAX_OUTPUTS else None


def job_message_body(job_id: str, outputs: int | None = None) -> str:
    data: dict[str, object] = {"job_id": job_id}
    if outputs is not None:
        data["outputs"] = outputs
    return json.dumps(data, separators=(",", ":"))


def storage_message_text(job_id: str, outputs: int | None = None) -> str:
    """Base64 of the JSON body, as the Functions host expects with `messageEncoding: base64`."""
    return base64.b64encode(job_message_body(job_id, outputs).encode()).decode("ascii")


def _message_from_json(text: str) -> JobMessage:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("job message is not a JSON object")
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or len(job_id) > MAX_JOB_ID_CHARS or not is_valid_key(job_id):
        raise ValueError("job message has no usable job_id")
    return JobMessage(job_id, usable_output_count(data.get("outputs")))


def read_job_message(body: str | bytes) -> JobMessage:
    """The message (JSON, or base64 of it as stored in the queue); ValueError when it names no job."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    text = text.strip()
    if not text.startswith("{"):
        # The raw queue text (seen when a message is read without the host's decoding).
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("job message is neither JSON nor base64 JSON") from exc
    try:
        return _message_from_json(text)
    except json.JSONDecodeError as exc:
        raise ValueError("job message is not valid JSON") from exc


def parse_job_message(body: str | bytes) -> str:
    """The job id in a queue message; ValueError else."""
    return read_job_message(body).job_id
