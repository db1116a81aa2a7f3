"""History events in the JSON shape the Durable Functions Python SDK replays (`HistoryEvent(**event)`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

Event = dict[str, Any]

# The SDK parses every Timestamp with dateutil and compares them, so all of them carry a UTC offset.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

COMPLETIONS = {T.TASK_COMPLETED, T.TASK_FAILED}


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _event(event_type: T, moment: datetime, *, event_id: int = -1, **fields: Any) -> Event:
    return {"EventType": int(event_type), "EventId": event_id, "IsPlayed": False,
            "Timestamp": iso(moment), **fields}


def _message(event_type: T, moment: datetime, **fields: Any) -> Event:
    """An event that arrives from outside the episode; MessageId lets a redelivery be recognised."""
    return _event(event_type, moment, MessageId=uuid.uuid4().hex, **fields)


def orchestrator_started(moment: datetime) -> Event:
    return _event(T.ORCHESTRATOR_STARTED, moment)


def orchestrator_completed(moment: datetime) -> Event:
    return _event(T.ORCHESTRATOR_COMPLETED, moment)


def execution_started(moment: datetime, *, name: str, input_json: str | None) -> Event:
    # The SDK reads `Version` from this event unconditionally.
    return _event(T.EXECUTION_STARTED, moment, Name=name, Input=input_json, Version="")


def execution_completed(moment: datetime, *, status: str, result: str | None) -> Event:
    return _event(T.EXECUTION_COMPLETED, moment, OrchestrationStatus=status, Result=result)


def execution_terminated(moment: datetime, *, reason: str) -> Event:
    return _message(T.EXECUTION_TERMINATED, moment, Input=reason)


def task_scheduled(moment: datetime, *, task_id: int, name: str, input_json: str | None) -> Event:
    return _event(T.TASK_SCHEDULED, moment, event_id=task_id, Name=name, Input=input_json)


def task_completed(moment: datetime, *, task_id: int, result_json: str | None) -> Event:
    return _message(T.TASK_COMPLETED, moment, TaskScheduledId=task_id, Result=result_json)


def task_failed(moment: datetime, *, task_id: int, reason: str, details: str) -> Event:
    return _message(T.TASK_FAILED, moment, TaskScheduledId=task_id, Reason=reason, Details=details)


def timer_created(moment: datetime, *, task_id: int, fire_at: datetime) -> Event:
    return _event(T.TIMER_CREATED, moment, event_id=task_id, FireAt=iso(fire_at))


def timer_fired(moment: datetime, *, task_id: int, fire_at: str) -> Event:
    return _message(T.TIMER_FIRED, moment, TimerId=task_id, FireAt=fire_at)


def event_raised(moment: datetime, *, name: str, input_json: str | None) -> Event:
    return _message(T.EVENT_RAISED, moment, Name=name, Input=input_json)


def kind(event: Mapping[str, Any]) -> T:
    return T(int(event["EventType"]))


def completed_task(event: Mapping[str, Any]) -> int | None:
    """The task id a completion or timer firing is for (None for other events)."""
    value = event.get("TaskScheduledId", event.get("TimerId"))
    return None if value is None else int(value)


class Ledger:
    """What a history says has been scheduled, completed and consumed: the basis of de-duplication."""

    def __init__(self, events: Iterable[Mapping[str, Any]] = ()) -> None:
        self.activities: dict[int, Event] = {}
        self.timers: dict[int, Event] = {}
        self.finished: set[int] = set()
        self.message_ids: set[str] = set()
        for event in events:
            self.add(event)

    def add(self, event: Mapping[str, Any]) -> None:
        event_kind = kind(event)
        if event_kind is T.TASK_SCHEDULED:
            self.activities[int(event["EventId"])] = dict(event)
        elif event_kind is T.TIMER_CREATED:
            self.timers[int(event["EventId"])] = dict(event)
        elif event_kind in COMPLETIONS:
            self.finished.add(int(event["TaskScheduledId"]))
        elif event_kind is T.TIMER_FIRED:
            self.finished.add(int(event["TimerId"]))
        if event.get("MessageId"):
            self.message_ids.add(str(event["MessageId"]))

    def accepts(self, message: Mapping[str, Any]) -> bool:
        """Whether a new message belongs in history: known task, not yet completed, not seen before."""
        if str(message.get("MessageId")) in self.message_ids:
            return False
        event_kind = kind(message)
        if event_kind in COMPLETIONS:
            task_id = int(message["TaskScheduledId"])
            return task_id in self.activities and task_id not in self.finished
        if event_kind is T.TIMER_FIRED:
            task_id = int(message["TimerId"])
            return task_id in self.timers and task_id not in self.finished
        return True

    def pending_activities(self) -> list[Event]:
        return [e for task_id, e in sorted(self.activities.items()) if task_id not in self.finished]

    def pending_timers(self) -> list[Event]:
        return [e for task_id, e in sorted(self.timers.items()) if task_id not in self.finished]

    def scheduled_ids(self) -> set[int]:
        return set(self.activities) | set(self.timers)
