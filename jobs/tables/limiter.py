"""The limiter every instance shares: one Table entity per provider and kind, changed only by ETag
compare-and-swap (`jobs/tables/cas.py`), holding the state `limiter_rules` decides on.

Each call is one point read and one conditional write (two storage transactions), plus one of each
per lost race. The entity's JSON is spread over `State0`, `State1`, ... properties (64 KiB each).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from azure.data.tables.aio import TableServiceClient

from jobs.domain import limiter_rules as rules
from jobs.domain.limiter_rules import LimiterConfig
from jobs.names import PACING_TABLE
from jobs.tables.cas import Change, compare_and_swap
from jobs.tables.entities import ensure_tables, split_utf16

LIMITER_PARTITION = "limiter"
STATE_PREFIX = "State"
STATE_CHUNKS = "StateChunks"
Clock = Callable[[], float]
T = TypeVar("T")


def state_to_entity(state: rules.LimiterState) -> dict[str, Any]:
    document = {
        "tat": state.tat, "vtime": state.vtime, "seq": state.seq,
        "queue": [[e.id, e.user, e.cost, e.tag, e.seq, round(e.expires, 3)] for e in state.queue],
        "grants": {key: [list(g.times), round(g.keep_until, 3)] for key, g in state.grants.items()},
        "learned": state.learned, "ceiling": state.ceiling, "paused_until": state.paused_until,
        "slowed_at": state.slowed_at,
    }
    chunks = split_utf16(json.dumps(document, separators=(",", ":")))
    properties: dict[str, Any] = {f"{STATE_PREFIX}{i}": chunk for i, chunk in enumerate(chunks)}
    properties[STATE_CHUNKS] = len(chunks)
    return properties


def state_from_entity(entity: Mapping[str, Any] | None) -> rules.LimiterState:
    if entity is None or not entity.get(STATE_CHUNKS):
        return rules.LimiterState()
    text = "".join(str(entity[f"{STATE_PREFIX}{i}"]) for i in range(int(entity[STATE_CHUNKS])))
    data = json.loads(text)
    return rules.LimiterState(
        tat=float(data["tat"]), vtime=float(data["vtime"]), seq=int(data["seq"]),
        queue=tuple(rules.Entry(str(i), str(u), int(c), float(t), int(s), float(x))
                    for i, u, c, t, s, x in data["queue"]),
        grants={key: rules.Grant(tuple(float(t) for t in times), float(keep))
                for key, (times, keep) in data["grants"].items()},
        learned=data.get("learned"), ceiling=data.get("ceiling"),
        paused_until=float(data.get("paused_until", 0.0)),
        slowed_at=float(data.get("slowed_at", 0.0)),
    )


class SlotLimiter:
    """Acquire slots, leave the line, and tell the limiter how the provider answered."""

    def __init__(
        self, service: TableServiceClient, *, table: str = PACING_TABLE, clock: Clock = time.time
    ) -> None:
        self._service = service
        self._name = table
        self._known: set[str] = set()  # tables this store created or found
        self._table = service.get_table_client(table)
        self._clock = clock

    async def acquire(self, config: LimiterConfig, *, entry_id: str, user: str, cost: int) -> rules.Answer:
        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any], rules.Answer]:
            state = state_from_entity(entity)
            state, answer = rules.acquire(
                state, entry_id=entry_id, user=user, cost=cost, now=self._clock(),
                configured=config.configured, horizon=config.horizon(state),
            )
            return state_to_entity(state), answer

        return await self._swap(config, change)

    async def leave(self, config: LimiterConfig, entry_ids: set[str]) -> None:
        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
            state = state_from_entity(entity)
            interval = 60.0 / rules.per_minute(state, config.configured)
            left = rules.leave(state, entry_ids, interval=interval)
            return (None if left is None else state_to_entity(left)), None

        await self._swap(config, change)

    async def throttled(
        self, config: LimiterConfig, *, retry_after: float | None, limit_hint: float | None = None
    ) -> None:
        """A 429 reached a caller: everyone waits, and a learning limiter slows down (never above the
        per-minute limit the provider named, when it named one)."""
        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any], None]:
            state = rules.throttled(state_from_entity(entity), now=self._clock(), retry_after=retry_after,
                                    limit_hint=limit_hint)
            return state_to_entity(state), None

        await self._swap(config, change)

    async def succeeded(
        self, config: LimiterConfig, *, limit_hint: float | None = None, draining: bool = False,
        pause: float | None = None,
    ) -> None:
        """A call went through: a learning limiter takes in what its headers said (`rules.succeeded`);
        a configured one costs nothing."""
        if not config.learn:
            return

        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any], None]:
            state = rules.succeeded(state_from_entity(entity), now=self._clock(), limit_hint=limit_hint,
                                    draining=draining, pause=pause)
            return state_to_entity(state), None

        await self._swap(config, change)

    async def read(self, config: LimiterConfig) -> rules.LimiterState:
        return await self._swap(config, lambda entity: (None, state_from_entity(entity)))

    async def _swap(self, config: LimiterConfig, change: Change[T]) -> T:
        await ensure_tables(self._service, [self._name], known=self._known)
        return await compare_and_swap(self._table, (LIMITER_PARTITION, config.key), change)
