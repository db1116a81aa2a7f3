"""The in-memory side of one running instance: its history, unconsumed inbox, timers and activities."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

from devhost.durable import history
from devhost.durable.history import Event, Ledger
from devhost.durable.store import InstanceRecord


@dataclass
class LiveInstance:
    """Cache of one execution. Storage stays the truth: a failed write drops the cache (`loaded = False`)."""

    record: InstanceRecord
    loaded: bool = False
    history: list[Event] = field(default_factory=list)
    history_rows: int = 0
    # Stored inbox rows (row key, messages) not yet consumed by an episode.
    inbox: list[tuple[str, list[Event]]] = field(default_factory=list)
    # Activity results and timer firings not yet consumed: kept in memory only, since the episode that
    # consumes them stores them in the history; lost with the process, the work is simply done again.
    pending: list[Event] = field(default_factory=list)
    # Messages waiting to be stored; those that arrive during one write share the next row.
    outbox: list[tuple[Event, str, asyncio.Future[bool]]] = field(default_factory=list)
    flushing: bool = False
    # While a reload reads storage: inbox rows stored meanwhile, which its result may not include.
    arrivals: list[tuple[str, list[Event]]] | None = None
    ledger: Ledger = field(default_factory=Ledger)
    timers: dict[int, asyncio.TimerHandle] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    busy: bool = False
    # The Instances row lags the history (last save failed, or a crash fell between the two writes).
    dirty: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.record.instance_id, self.record.execution_id

    def messages(self) -> list[Event]:
        return [event for _, batch in self.inbox for event in batch] + self.pending

    @property
    def has_news(self) -> bool:
        return bool(self.inbox or self.pending)

    def reset(self, events: list[Event], rows: int, inbox: list[tuple[str, list[Event]]]) -> None:
        self.history, self.history_rows, self.inbox, self.ledger = events, rows, inbox, Ledger(events)
        self.loaded = True
        self.sync_record()

    def append(self, events: list[Event], rows: int, consumed: set[str], taken: int) -> None:
        """Record a committed episode: its events, the inbox rows and the first `taken` pending
        messages it consumed (more may have arrived meanwhile)."""
        self.history.extend(events)
        self.history_rows += rows
        for event in events:
            self.ledger.add(event)
        self.inbox = [(row_key, batch) for row_key, batch in self.inbox if row_key not in consumed]
        del self.pending[:taken]

    def cancel_timers(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()

    def sync_record(self) -> None:
        """Bring the record in line with what the history says (after a crash between the two writes)."""
        record = self.record
        before = (record.status, record.output_json, record.custom_status_json)
        for event in self.history:
            event_kind = history.kind(event)
            if event_kind is T.ORCHESTRATOR_COMPLETED and "CustomStatus" in event:
                record.custom_status_json = event["CustomStatus"]
            elif event_kind is T.EXECUTION_COMPLETED:
                record.status, record.output_json = str(event["OrchestrationStatus"]), event.get("Result")
            elif event_kind is T.EXECUTION_TERMINATED:
                record.status, record.output_json = "Terminated", json.dumps(event.get("Input"))
        if self.history and not record.terminal:
            record.status = "Running"
        self.dirty = self.dirty or before != (record.status, record.output_json, record.custom_status_json)


def context_input(input_json: str | None) -> Any:
    """The `input` the context JSON carries: the parsed start body, which the SDK decodes once more."""
    if input_json is None:
        return None
    value = json.loads(input_json)
    if value is None or isinstance(value, str | dict):
        return value
    return json.dumps(value)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)
