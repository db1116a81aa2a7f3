"""The limiter every instance shares: one Table entity per provider and kind, changed only by ETag
compare-and-swap (`jobs/cas.py`), holding the state `limiter_rules` decides on.

Each call is one point read and one conditional write (two storage transactions), plus one of each
per lost race. The entity's JSON is spread over `State0`, `State1`, ... properties (64 KiB each).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.data.tables.aio import TableServiceClient

from jobs import limiter_rules as rules
from jobs.cas import Change, compare_and_swap
from jobs.entities import split_utf16
from jobs.models import JobKind
from jobs.names import PACING_TABLE
from jobs.settings import Settings
from jobs.tables import ensure_tables

LIMITER_PARTITION = "limiter"
STATE_PREFIX = "State"
STATE_CHUNKS = "StateChunks"
Clock = Callable[[], float]
T = TypeVar("T")
# A text call's share of PROVIDER_TOKENS_PER_MINUTE (prompt and answer), for pacing by requests.
TOKENS_PER_TEXT_CALL = 1000
LEARNING_PROVIDERS = ("openai", "azure_openai")


def state_to_entity(state: rules.LimiterState) -> dict[str, Any]:
    document = {
        "tat": state.tat, "vtime": state.vtime, "seq": state.seq,
        "queue": [[e.id, e.user, e.cost, e.tag, e.seq, round(e.expires, 3)] for e in state.queue],
        "grants": {key: [list(g.times), round(g.keep_until, 3)] for key, g in state.grants.items()},
        "learned": state.learned, "ceiling": state.ceiling, "paused_until": state.paused_until,
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
    )


@dataclass(frozen=True)
class LimiterConfig:
    """One limiter: which record, its configured rate (None: learn it) and its grant horizon."""

    key: str  # e.g. "openai-image"
    configured: float | None
    learn: bool

    def horizon(self, state: rules.LimiterState) -> float:
        """Firm grants reach this far ahead: two slots, and at least half a second for timer jitter."""
        return max(0.5, 2 * 60.0 / rules.per_minute(state, self.configured))


def limiter_config(settings: Settings, kind: JobKind) -> LimiterConfig | None:
    """The limiter for `kind` on the configured provider; None when calls are not paced (the offline
    provider without limits)."""
    rates: list[float] = []
    if settings.provider_requests_per_minute is not None:
        rates.append(settings.provider_requests_per_minute)
    if kind is JobKind.IMAGE and settings.provider_images_per_minute is not None:
        rates.append(settings.provider_images_per_minute)
    if kind is JobKind.TEXT and settings.provider_tokens_per_minute is not None:
        rates.append(settings.provider_tokens_per_minute / TOKENS_PER_TEXT_CALL)
    configured = min(rates) if rates else None
    learn = configured is None and settings.provider in LEARNING_PROVIDERS
    if configured is None and not learn:
        return None
    return LimiterConfig(key=_limiter_key(settings, kind), configured=configured, learn=learn)


def _limiter_key(settings: Settings, kind: JobKind) -> str:
    """Limits belong to an account's model (OpenAI) or a deployment (Azure OpenAI): one record each."""
    if settings.provider == "azure_openai":
        target = settings.azure_openai_image_deployment if kind is JobKind.IMAGE else (
            settings.azure_openai_text_deployment)
        where = f"{settings.azure_openai_endpoint}|{target}"
    elif settings.provider == "openai":
        model = settings.openai_image_model if kind is JobKind.IMAGE else settings.openai_text_model
        where = f"{settings.openai_base_url or 'api.openai.com'}|{model}"
    else:
        where = settings.provider
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return f"{settings.provider}-{kind.value}-{digest}"


def pacing_enabled(settings: Settings) -> bool:
    return any(limiter_config(settings, kind) is not None for kind in JobKind)


class SlotLimiter:
    """Acquire slots, leave the line, and tell the limiter how the provider answered."""

    def __init__(
        self, service: TableServiceClient, *, table: str = PACING_TABLE, clock: Clock = time.time
    ) -> None:
        self._service = service
        self._name = table
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

    async def throttled(self, config: LimiterConfig, *, retry_after: float | None) -> None:
        """A 429 reached a caller: everyone waits, and a learning limiter slows down."""
        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any], None]:
            state = rules.throttled(state_from_entity(entity), now=self._clock(), retry_after=retry_after,
                                    limit_hint=None)
            return state_to_entity(state), None

        await self._swap(config, change)

    async def succeeded(self, config: LimiterConfig) -> None:
        """A call went through: a learning limiter probes upwards (a configured one costs nothing)."""
        if not config.learn:
            return

        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any], None]:
            return state_to_entity(rules.succeeded(state_from_entity(entity), limit_hint=None)), None

        await self._swap(config, change)

    async def read(self, config: LimiterConfig) -> rules.LimiterState:
        return await self._swap(config, lambda entity: (None, state_from_entity(entity)))

    async def _swap(self, config: LimiterConfig, change: Change[T]) -> T:
        await ensure_tables(self._service, [self._name])
        return await compare_and_swap(self._table, (LIMITER_PARTITION, config.key), change)
