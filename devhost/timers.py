"""Timer triggers: six-field NCRONTAB (or TimeSpan) schedules in UTC, run_on_startup and past_due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import azure.functions as func
from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.functions import FunctionSpec
from devhost.invoker import Invoker
from devhost.settings import parse_timespan, resolve_references

logger = logging.getLogger(__name__)

# An occurrence that fires later than this is reported as past due.
PAST_DUE_AFTER = timedelta(seconds=1)
NCRONTAB_FIELDS = 6


class Schedule:
    """`next_after(moment)`: the first occurrence strictly after `moment`."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self._interval: timedelta | None = None
        if ":" in self.expression and " " not in self.expression:
            self._interval = timedelta(seconds=parse_timespan(self.expression))
            if self._interval <= timedelta(0):
                raise ValueError(f"timer interval must be positive: {expression!r}")
            return
        if len(self.expression.split()) != NCRONTAB_FIELDS:
            raise ValueError(f"NCRONTAB schedules have six fields (second first): {expression!r}")
        if not croniter.is_valid(self.expression, second_at_beginning=True):
            raise ValueError(f"invalid NCRONTAB schedule {expression!r}")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + self._interval
        result: datetime = croniter(self.expression, moment, second_at_beginning=True).get_next(datetime)
        return result


def timer_request(*, past_due: bool, last: datetime | None, following: datetime) -> func.TimerRequest:
    """What the worker hands a timer function (schedule status as the host reports it)."""
    now = datetime.now(UTC)
    status = {"Last": (last or now).isoformat(), "Next": following.isoformat(),
              "LastUpdated": now.isoformat()}
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})


class TimerJob:
    """Fires one timer function on its schedule; an occurrence waits for the previous run to finish."""

    def __init__(self, spec: FunctionSpec, *, invoker: Invoker) -> None:
        """Raises SettingMissingError/ValueError when the schedule cannot be resolved or parsed."""
        self.spec = spec
        self.schedule = Schedule(resolve_references(str(spec.trigger["schedule"])))
        self.run_on_startup = bool(spec.trigger.get("runOnStartup", False))
        self._invoke = invoker
        self._stopping = asyncio.Event()
        self._last: datetime | None = None

    def describe(self) -> str:
        startup = ", run on startup" if self.run_on_startup else ""
        return f"timerTrigger (schedule '{self.schedule.expression}' UTC{startup})"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        if self.run_on_startup:
            await self._fire(past_due=False)
        due = self.schedule.next_after(datetime.now(UTC))
        while not self._stopping.is_set():
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)
                if self._stopping.is_set():
                    break
            now = datetime.now(UTC)
            await self._fire(past_due=now - due > PAST_DUE_AFTER)
            # As the host does: the next occurrence counts from the end of this run, so occurrences
            # missed while it ran are skipped (max() guards against a wake-up a little early).
            due = self.schedule.next_after(max(due, datetime.now(UTC)))

    def request(self, *, past_due: bool) -> func.TimerRequest:
        return timer_request(past_due=past_due, last=self._last,
                             following=self.schedule.next_after(datetime.now(UTC)))

    async def _fire(self, *, past_due: bool) -> None:
        request = self.request(past_due=past_due)
        self._last = datetime.now(UTC)
        task = self._invoke.spawn(self._call(request), name=f"{self.spec.name}:timer")
        # Shield: stopping the job must not cancel an invocation; shutdown drains it instead.
        with contextlib.suppress(Exception):
            await asyncio.shield(task)

    async def _call(self, request: func.TimerRequest) -> None:
        with contextlib.suppress(Exception):  # `invoke` logs the failure; the schedule goes on
            await self._invoke(self.spec, {str(self.spec.trigger["name"]): request})
