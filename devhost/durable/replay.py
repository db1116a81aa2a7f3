"""Replay one orchestrator episode through the real `azure-functions-durable` executor.

The SDK assigns task ids itself while it replays (in the order tasks are yielded, plus the hidden timer and
re-scheduled task of every `call_activity_with_retry` failure), so the engine reads the ids from the tasks the
SDK left open instead of guessing them from the action list: any open task whose id has no TaskScheduled or
TimerCreated event yet is new work.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.CallActivityAction import CallActivityAction
from azure.durable_functions.models.actions.CallActivityWithRetryAction import CallActivityWithRetryAction
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.Task import RetryAbleTask, TaskBase
from azure.durable_functions.orchestrator import Orchestrator

from devhost.durable.history import Event

# The SDK warns when an event arrives before its task exists; that is how raised events are buffered.
warnings.filterwarnings("ignore", message="Potential duplicate Task completion", category=UserWarning)
OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
# upperSchemaVersion 1 = ReplaySchema.V2: one action list, with task_all/task_any as compound actions.
REPLAY_SCHEMA = 1
# Action types the engine carries out: activity, activity with retry, continue-as-new, timer, event wait,
# and the when-all / when-any containers around them.
SUPPORTED_ACTIONS = {0: "CallActivity", 1: "CallActivityWithRetry", 4: "ContinueAsNew",
                     5: "CreateTimer", 6: "WaitForExternalEvent", 11: "WhenAny", 12: "WhenAll"}
UNSUPPORTED_ACTIONS = {2: "CallSubOrchestrator", 3: "CallSubOrchestratorWithRetry", 7: "CallEntity",
                       8: "CallHttp", 9: "SignalEntity"}


class UnsupportedActionError(Exception):
    """The orchestrator asked for something devhost does not emulate (sub-orchestrations, entities, HTTP)."""


@dataclass(frozen=True)
class ActivityWork:
    task_id: int
    name: str
    input_json: str | None


@dataclass(frozen=True)
class TimerWork:
    task_id: int
    fire_at: datetime


@dataclass
class Episode:
    """What one replay decided: finished or not, its output or error, custom status and new work."""

    done: bool = False
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    continue_as_new: bool = False
    new_input_json: str | None = None
    work: list[ActivityWork | TimerWork] = field(default_factory=list)


def user_function(func: Callable[..., Any]) -> Callable[..., Any]:
    """The generator function behind a `df.DFApp` orchestrator (the registered callable is its handle)."""
    inner = getattr(func, "orchestrator_function", None)
    if inner is None:
        raise TypeError(f"{getattr(func, '__name__', func)!r} is not a Durable Functions orchestrator handle")
    return inner  # type: ignore[no-any-return]


def run(
    func: Callable[..., Any],
    *,
    instance_id: str,
    input_value: Any,
    history: Sequence[Event],
    scheduled_ids: set[int],
    now: datetime,
) -> Episode:
    """Replay `history` (whose last OrchestratorStarted opens the new episode) and collect new work."""
    body = json.dumps({"history": list(history), "instanceId": instance_id, "isReplaying": False,
                       "parentInstanceId": None, "input": input_value, "upperSchemaVersion": REPLAY_SCHEMA})
    context = DurableOrchestrationContext.from_json(body)
    context._input_expected_type = getattr(func, "_df_input_type", None)
    try:
        state = json.loads(Orchestrator(user_function(func)).handle(context))
    except Exception as exc:
        return Episode(done=True, error=_error_message(exc), custom_status=context.custom_status)
    _check_actions(state.get("actions", []))
    episode = Episode(done=bool(state.get("isDone")), output=state.get("output"),
                      custom_status=context.custom_status, continue_as_new=context.will_continue_as_new)
    if episode.continue_as_new:
        new_input = next(
            (a.get("input") for a in _flatten(state.get("actions", [])) if a.get("actionType") == 4), None)
        # Stored like a start request body: the JSON text of the SDK-serialized input.
        episode.new_input_json = None if new_input is None else json.dumps(new_input)
        return episode
    episode.work = _new_work(context, scheduled_ids, now)
    return episode


def _error_message(exc: Exception) -> str:
    text = str(exc)
    if OUT_OF_PROC_MARKER in text:
        data = json.loads(text.split(OUT_OF_PROC_MARKER, 1)[1])
        return str(data.get("error") or text.split(OUT_OF_PROC_MARKER, 1)[0])
    return text or type(exc).__name__


def _flatten(actions: Sequence[Any]) -> Iterator[dict[str, Any]]:
    for action in actions:
        if isinstance(action, list):
            yield from _flatten(action)
            continue
        yield action
        yield from _flatten(action.get("compoundActions", []))


def _check_actions(actions: Sequence[Any]) -> None:
    for action in _flatten(actions):
        action_type = int(action.get("actionType", -1))
        if action_type not in SUPPORTED_ACTIONS:
            name = UNSUPPORTED_ACTIONS.get(action_type, f"action type {action_type}")
            raise UnsupportedActionError(f"{name} is not supported by devhost")


def _open_tasks(context: DurableOrchestrationContext) -> Iterator[TaskBase]:
    for entry in list(context.open_tasks.values()):
        yield from (entry if isinstance(entry, list) else [entry])


def _new_work(context: DurableOrchestrationContext, scheduled_ids: set[int],
              now: datetime) -> list[ActivityWork | TimerWork]:
    work: list[ActivityWork | TimerWork] = []
    for task in _open_tasks(context):
        # External-event tasks are keyed by name (a str); only integer ids are scheduled work.
        if not isinstance(task.id, int) or isinstance(task.id, bool) or task.id in scheduled_ids:
            continue
        item = _work_for(task, now)
        if item is not None:
            work.append(item)
    return sorted(work, key=lambda item: item.task_id)


def _work_for(task: TaskBase, now: datetime) -> ActivityWork | TimerWork | None:
    action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
    task_id = int(task.id)
    if isinstance(action, CallActivityAction | CallActivityWithRetryAction):
        return ActivityWork(task_id, action.function_name, action.input_)
    if isinstance(action, CreateTimerAction):
        if action.is_cancelled:
            return None
        fire_at = action.fire_at
        # A naive fire_at (datetime.utcnow()) means UTC, as in the Durable extension.
        return TimerWork(task_id, fire_at if fire_at.tzinfo else fire_at.replace(tzinfo=UTC))
    parent = task.parent
    if isinstance(action, NoOpAction) and isinstance(parent, RetryAbleTask):
        if parent.is_waiting_on_timer:
            return TimerWork(task_id, now + retry_delay(parent))
        retried = parent.actions
        if isinstance(retried, CallActivityWithRetryAction):
            return ActivityWork(task_id, retried.function_name, retried.input_)
    raise UnsupportedActionError(f"{type(action).__name__} tasks are not supported by devhost")


def retry_delay(task: RetryAbleTask) -> timedelta:
    """Delay before the next attempt, as the Durable extension computes it from the retry options."""
    options = task.retry_options.to_json()
    delay_ms = float(options["firstRetryIntervalInMilliseconds"])
    delay_ms *= float(options.get("backoffCoefficient", 1.0)) ** max(task.num_attempts - 1, 0)
    ceiling = float(options.get("maxRetryIntervalInMilliseconds", 0) or 0)
    if ceiling > 0:
        delay_ms = min(delay_ms, ceiling)
    return timedelta(milliseconds=delay_ms)
