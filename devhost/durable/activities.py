"""Run one activity the way the Python worker does and turn the outcome into a completion event."""

from __future__ import annotations

import traceback
from collections.abc import Mapping

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost import functions
from devhost.durable import history
from devhost.durable.errors import PayloadTooLargeError
from devhost.durable.history import Event
from devhost.durable.store import MAX_PAYLOAD_CHARS
from devhost.functions import FunctionSpec

ACTIVITY_TRIGGER = "activityTrigger"


def missing_activity(name: str) -> str:
    return f"The function '{name}' doesn't exist, is disabled, or is not an activity function."


async def execute(
    specs: Mapping[str, FunctionSpec], *, task_id: int, name: str, input_json: str | None,
) -> Event:
    """Invoke activity `name` with its input and return TaskCompleted or TaskFailed for `task_id`."""
    spec = specs.get(name)
    if spec is None or spec.trigger_type != ACTIVITY_TRIGGER:
        return history.task_failed(history.utc_now(), task_id=task_id, reason=missing_activity(name),
                                   details="")
    try:
        # The extension always hands the worker the input as a JSON string ('null' when there is none).
        value = ActivityTriggerConverter.decode(
            meta.Datum(type="json", value="null" if input_json is None else input_json), trigger_metadata={})
        result = await functions.invoke(spec, {str(spec.trigger["name"]): value})
        encoded = str(ActivityTriggerConverter.encode(result, expected_type=None).value)
        if len(encoded) > MAX_PAYLOAD_CHARS:
            raise PayloadTooLargeError(f"the result of activity '{name}'", len(encoded), MAX_PAYLOAD_CHARS)
    except Exception as exc:
        return history.task_failed(history.utc_now(), task_id=task_id,
                                   reason=str(exc) or type(exc).__name__,
                                   details="".join(traceback.format_exception(exc)))
    return history.task_completed(history.utc_now(), task_id=task_id, result_json=encoded)
