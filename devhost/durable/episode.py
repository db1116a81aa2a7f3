"""One orchestrator episode: take the inbox, replay, commit the new history, update the Instances row."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Executor
from datetime import datetime
from functools import partial

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

from devhost.durable import history, replay
from devhost.durable.history import Event
from devhost.durable.live import LiveInstance, context_input, to_json
from devhost.durable.replay import ActivityWork, Episode, TimerWork
from devhost.durable.store import MAX_PAYLOAD_CHARS, InstanceRecord, TaskHubStore
from devhost.functions import FunctionSpec

logger = logging.getLogger(__name__)
invocations = logging.getLogger("devhost.invocations")
ORCHESTRATION_TRIGGER = "orchestrationTrigger"


def missing_orchestrator(name: str) -> str:
    return f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."


class EpisodeRunner:
    def __init__(self, store: TaskHubStore, specs: Mapping[str, FunctionSpec], replays: Executor) -> None:
        self._store = store
        self._specs = specs
        self._replays = replays

    async def run(self, live: LiveInstance) -> Episode:
        """Run one episode for `live` and commit its history; the Instances row is left to `save`."""
        record = live.record
        consumed = {row_key for row_key, _ in live.inbox}
        taken = len(live.pending)
        accepted = self._accept(live, live.messages())
        if record.terminal or (live.history and not accepted):
            if consumed:  # late completions for a finished instance, or duplicates
                await self._store.commit(*live.key, first_row=live.history_rows, events=[],
                                         consumed=sorted(consumed))
            live.append([], 0, consumed, taken)
            return Episode(done=record.terminal)
        now = history.utc_now()
        new_events = [history.orchestrator_started(now)]
        if not live.history:
            new_events.append(history.execution_started(now, name=record.name, input_json=record.input_json))
        new_events += accepted
        terminated = next((e for e in accepted if history.kind(e) is T.EXECUTION_TERMINATED), None)
        episode = Episode(done=True) if terminated else await self._replay(live, new_events, now)
        if episode.continue_as_new:
            return episode  # the old execution's rows are dropped with it
        # The record changes only once the history that justifies it is stored.
        draft = dataclasses.replace(record, updated=now)
        new_events += self._closing_events(draft, episode, terminated, now)
        rows = await self._store.commit(*live.key, first_row=live.history_rows, events=new_events,
                                        consumed=sorted(consumed))
        live.append(new_events, rows, consumed, taken)
        # lastUpdatedTime alone does not justify a write; status, output or custom status do.
        live.dirty = live.dirty or _visible(draft) != _visible(record)
        live.record = draft
        return episode

    async def save(self, live: LiveInstance) -> None:
        """Write the Instances row if the history moved it on."""
        if live.dirty:
            await self._store.save_instance(live.record)
            live.dirty = False

    @staticmethod
    def _accept(live: LiveInstance, messages: list[Event]) -> list[Event]:
        """New events in arrival order, minus redeliveries and completions of unknown or finished tasks."""
        ledger = history.Ledger(live.history)
        accepted = []
        for event in messages:
            if ledger.accepts(event):
                ledger.add(event)
                accepted.append(event)
        return accepted

    async def _replay(self, live: LiveInstance, new_events: list[Event], now: datetime) -> Episode:
        record = live.record
        spec = self._specs.get(record.name)
        if spec is None or spec.trigger_type != ORCHESTRATION_TRIGGER:
            return Episode(done=True, error=missing_orchestrator(record.name))
        played = [{**event, "IsPlayed": True} for event in live.history]
        started = time.perf_counter()
        try:
            episode = await asyncio.get_running_loop().run_in_executor(self._replays, partial(
                replay.run, spec.func, instance_id=record.instance_id,
                input_value=context_input(record.input_json), history=played + new_events,
                scheduled_ids=live.ledger.scheduled_ids(), now=now))
        except replay.UnsupportedActionError as exc:
            episode = Episode(done=True, error=str(exc), custom_status=live_custom_status(record))
        invocations.info("Executed '%s' (%s, Id=%s, Duration=%.0fms)", record.name,
                         "Failed" if episode.error else "Succeeded", record.instance_id,
                         (time.perf_counter() - started) * 1000)
        return episode

    @staticmethod
    def _closing_events(record: InstanceRecord, episode: Episode, terminated: Event | None,
                        now: datetime) -> list[Event]:
        """Bookkeeping after the replay; also moves the record to its new status."""
        events: list[Event] = []
        for item in episode.work:
            if isinstance(item, ActivityWork):
                events.append(history.task_scheduled(now, task_id=item.task_id, name=item.name,
                                                     input_json=item.input_json))
            elif isinstance(item, TimerWork):
                events.append(history.timer_created(now, task_id=item.task_id, fire_at=item.fire_at))
        if terminated is None:
            record.custom_status_json = to_json(episode.custom_status)
            events += _outcome(record, episode, now)
        else:
            record.status, record.output_json = "Terminated", json.dumps(terminated.get("Input"))
            logger.info("orchestration %s terminated: %s", record.instance_id, terminated.get("Input"))
        completed = history.orchestrator_completed(now)
        completed["CustomStatus"] = record.custom_status_json
        return [*events, completed]

    @staticmethod
    def next_execution(record: InstanceRecord, input_json: str | None) -> InstanceRecord:
        return dataclasses.replace(record, execution_id=uuid.uuid4().hex, status="Running",
                                   input_json=input_json, output_json=None, updated=history.utc_now())


def _outcome(record: InstanceRecord, episode: Episode, now: datetime) -> list[Event]:
    """Set the record's status from the replay; the ExecutionCompleted event when it finished."""
    output_json = to_json(episode.output)
    if episode.error is None and output_json is not None and len(output_json) > MAX_PAYLOAD_CHARS:
        episode.error = f"its output is {len(output_json)} characters of JSON; devhost stores at most " \
                        f"{MAX_PAYLOAD_CHARS}"
    if episode.error is not None:
        message = f"Orchestrator function '{record.name}' failed: {episode.error}"
        record.status, record.output_json = "Failed", json.dumps(message)
        logger.warning("orchestration %s failed: %s", record.instance_id, episode.error)
    elif episode.done:
        record.status, record.output_json = "Completed", output_json
        logger.info("orchestration %s completed", record.instance_id)
    else:
        record.status = "Running"
        return []
    return [history.execution_completed(now, status=record.status, result=record.output_json)]


def _visible(record: InstanceRecord) -> tuple[str, str | None, str | None]:
    return record.status, record.output_json, record.custom_status_json


def live_custom_status(record: InstanceRecord) -> object:
    return None if record.custom_status_json is None else json.loads(record.custom_status_json)
