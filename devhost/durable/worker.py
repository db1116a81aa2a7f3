"""Dispatch: orchestrator episodes (one at a time per instance), activities, timers and recovery.

Persist first, then act: an episode commits its history (and consumes its inbox rows) before it updates the
Instances row and before any activity or timer it scheduled starts. A crash at any point therefore either
replays the episode (deterministic) or re-runs an activity whose completion was never stored.

Activity results and timer firings wait in memory for the episode that stores them with its history (one
write instead of two); raised events and terminations, which an API caller was told were accepted, are
stored in the inbox first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from devhost.durable import activities, history
from devhost.durable.episode import EpisodeRunner
from devhost.durable.history import Event
from devhost.durable.live import LiveInstance
from devhost.durable.replay import ActivityWork, TimerWork
from devhost.durable.store import InstanceRecord, TaskHubStore
from devhost.functions import FunctionSpec

logger = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = 1.0


class TaskHubWorker:
    """Runs the instances of one task hub inside the devhost process."""

    def __init__(self, store: TaskHubStore, specs: Mapping[str, FunctionSpec], *,
                 max_activities: int, max_orchestrators: int) -> None:
        self._store = store
        self._specs = specs
        self._live: dict[str, LiveInstance] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._activity_slots = asyncio.Semaphore(max_activities)
        self._replays = ThreadPoolExecutor(max_orchestrators, thread_name_prefix="orchestrator")
        self._episodes = EpisodeRunner(store, specs, self._replays)
        self._max_orchestrators = max_orchestrators
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        for record in await self._store.list_instances(("Pending", "Running")):
            await self._resume(record)
        for n in range(self._max_orchestrators):
            self._spawn(self._dispatch_loop(), name=f"durable-dispatch-{n}")

    async def stop(self) -> None:
        for live in self._live.values():
            live.cancel_timers()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._replays.shutdown(wait=False, cancel_futures=True)

    def live(self, instance_id: str) -> LiveInstance | None:
        return self._live.get(instance_id)

    def track(self, record: InstanceRecord) -> None:
        """Take over a freshly created (or replacing) instance: a new execution has nothing to load."""
        self.forget(record.instance_id)
        self._live[record.instance_id] = LiveInstance(record=record, loaded=True)
        self._mark_ready(record.instance_id)

    def forget(self, instance_id: str) -> None:
        old = self._live.pop(instance_id, None)
        if old is not None:
            old.cancel_timers()

    async def ensure_live(self, record: InstanceRecord) -> LiveInstance:
        """The live instance for a non-terminal record (loading it if another start path missed it)."""
        live = self._live.get(record.instance_id)
        if live is None or live.record.execution_id != record.execution_id:
            await self._resume(record)
            live = self._live[record.instance_id]
        return live

    async def deliver(self, instance_id: str, execution_id: str, event: Event) -> bool:
        """Store a message for the instance and wake it; False if that execution no longer runs.

        Messages that arrive while an earlier write for the same instance is in flight are stored
        together in the next one, so a burst of activity completions costs a few writes, not one each.
        """
        live = self._current(instance_id, execution_id)
        if live is None:
            logger.debug("dropping %s for finished instance %s", history.kind(event).name, instance_id)
            return False
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        live.outbox.append((event, execution_id, stored))
        if not live.flushing:
            live.flushing = True
            self._spawn(self._flush(live), name=f"durable-inbox-{instance_id}")
        return await stored

    async def _flush(self, live: LiveInstance) -> None:
        try:
            while live.outbox:
                batch, live.outbox = live.outbox, []
                execution_id = live.record.execution_id
                keep = [(e, done) for e, target, done in batch
                        if target == execution_id and not live.record.terminal]
                for _, target, done in batch:
                    if target != execution_id or live.record.terminal:
                        done.set_result(False)
                if keep:
                    await self._store_batch(live, execution_id, keep)
        finally:
            live.flushing = False

    async def _store_batch(self, live: LiveInstance, execution_id: str,
                           batch: list[tuple[Event, asyncio.Future[bool]]]) -> None:
        events = [event for event, _ in batch]
        try:
            row_key = await self._store.add_messages(live.record.instance_id, execution_id, events)
        except Exception as exc:
            for _, done in batch:
                done.set_exception(exc)
            return
        # The execution may have moved on (continue-as-new) while the row was written.
        if live.record.execution_id == execution_id:
            live.inbox.append((row_key, events))
            if live.arrivals is not None:
                live.arrivals.append((row_key, events))
            self._mark_ready(live.record.instance_id)
        for _, done in batch:
            done.set_result(live.record.execution_id == execution_id)

    def _current(self, instance_id: str, execution_id: str) -> LiveInstance | None:
        live = self._live.get(instance_id)
        if live is None or live.record.execution_id != execution_id or live.record.terminal:
            return None
        return live

    async def _resume(self, record: InstanceRecord) -> None:
        """Recovery: reload an unfinished instance, restart its pending work, replay if it has news."""
        live = LiveInstance(record=record)
        self._live[record.instance_id] = live
        await self._load(live)
        self._spawn(self._store.delete_partition(record.instance_id, keep_execution=record.execution_id),
                    name=f"durable-cleanup-{record.instance_id}")
        self._mark_ready(record.instance_id)

    async def _load(self, live: LiveInstance) -> None:
        live.arrivals = []
        try:
            events, rows, inbox = await self._store.load_execution(*live.key)
            known = {row_key for row_key, _ in inbox}
            inbox += [entry for entry in live.arrivals if entry[0] not in known]
        finally:
            live.arrivals = None
        live.reset(events, rows, inbox)
        if live.record.terminal:
            return
        delivered = {history.completed_task(event) for event in live.messages()}
        for event in live.ledger.pending_activities():
            if int(event["EventId"]) not in delivered:
                self._run_activity(live, ActivityWork(int(event["EventId"]), str(event["Name"]),
                                                      event.get("Input")))
        for event in live.ledger.pending_timers():
            if int(event["EventId"]) not in delivered:
                self._arm_timer(live, TimerWork(int(event["EventId"]), history.parse_time(event["FireAt"])))

    def _mark_ready(self, instance_id: str) -> None:
        if instance_id not in self._queued:
            self._queued.add(instance_id)
            self._ready.put_nowait(instance_id)

    async def _dispatch_loop(self) -> None:
        while True:
            instance_id = await self._ready.get()
            self._queued.discard(instance_id)
            live = self._live.get(instance_id)
            if live is None or live.busy:
                continue  # a busy instance re-queues itself when its episode ends
            live.busy = True
            try:
                await self._step(live)
            except Exception:
                logger.exception("orchestration %s: episode failed; reloading from storage", instance_id)
                live.loaded = False
                asyncio.get_running_loop().call_later(RETRY_AFTER_FAILURE, self._mark_ready, instance_id)
            finally:
                live.busy = False
            if live.has_news and self._live.get(instance_id) is live and not live.record.terminal:
                self._mark_ready(instance_id)

    async def _step(self, live: LiveInstance) -> None:
        if not live.loaded:
            await self._load(live)
        result = await self._episodes.run(live)
        if result.continue_as_new:
            await self._continue_as_new(live, result.new_input_json)
            return
        if live.record.terminal:
            live.cancel_timers()
        else:
            for item in result.work:
                if isinstance(item, ActivityWork):
                    self._run_activity(live, item)
                else:
                    self._arm_timer(live, item)
        # The history is stored, so the work may start before the Instances row catches up.
        await self._episodes.save(live)
        if live.record.terminal and self._live.get(live.record.instance_id) is live:
            del self._live[live.record.instance_id]

    async def _continue_as_new(self, live: LiveInstance, input_json: str | None) -> None:
        old_execution = live.record.execution_id
        live.record = self._episodes.next_execution(live.record, input_json)
        await self._store.save_instance(live.record)
        logger.info("orchestration %s continued as new (execution %s)", live.record.instance_id,
                    live.record.execution_id)
        live.cancel_timers()
        live.reset([], 0, [])
        live.pending.clear()
        live.running.clear()
        self._spawn(self._store.delete_partition(live.record.instance_id,
                                                 keep_execution=live.record.execution_id),
                    name=f"durable-cleanup-{old_execution}")
        self._mark_ready(live.record.instance_id)

    def _run_activity(self, live: LiveInstance, work: ActivityWork) -> None:
        if work.task_id in live.running:
            return
        live.running.add(work.task_id)
        instance_id, execution_id = live.key
        self._spawn(self._activity(instance_id, execution_id, work),
                    name=f"durable-activity-{instance_id}-{work.task_id}")

    async def _activity(self, instance_id: str, execution_id: str, work: ActivityWork) -> None:
        try:
            async with self._activity_slots:
                if self._current(instance_id, execution_id) is None:
                    return  # terminated (or replaced) while waiting for a slot
                event = await activities.execute(self._specs, task_id=work.task_id, name=work.name,
                                                 input_json=work.input_json)
            self._offer(instance_id, execution_id, event)
        finally:
            live = self._live.get(instance_id)
            if live is not None and live.record.execution_id == execution_id:
                live.running.discard(work.task_id)

    def _arm_timer(self, live: LiveInstance, work: TimerWork) -> None:
        if work.task_id in live.timers:
            return
        delay = max((work.fire_at - history.utc_now()).total_seconds(), 0.0)
        live.timers[work.task_id] = asyncio.get_running_loop().call_later(
            delay, self._fire, *live.key, work.task_id, work.fire_at)

    def _fire(self, instance_id: str, execution_id: str, task_id: int, fire_at: datetime) -> None:
        live = self._current(instance_id, execution_id)
        if live is not None:
            live.timers.pop(task_id, None)  # a reload may arm it again if the firing is never stored
        self._offer(instance_id, execution_id,
                    history.timer_fired(history.utc_now(), task_id=task_id, fire_at=history.iso(fire_at)))

    def _offer(self, instance_id: str, execution_id: str, event: Event) -> None:
        """Hand an activity result or timer firing to its instance's next episode (memory only: that
        episode stores it with the history; if the process dies first, the work is done again)."""
        live = self._current(instance_id, execution_id)
        if live is None:
            logger.debug("dropping %s for finished instance %s", history.kind(event).name, instance_id)
            return
        live.pending.append(event)
        self._mark_ready(instance_id)

    def _spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("durable task %s failed", task.get_name(), exc_info=task.exception())
