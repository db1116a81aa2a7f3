"""The shared provider limiter's decisions: fair queueing, firm slot grants, AIMD learning.

Pure: the state and the clock come in, the new state and an answer go out; `jobs.tables.limiter` keeps the
state in one Table entity changed by ETag compare-and-swap, so every instance of the app sees it.

- `LimiterConfig` (from the settings) names a limiter's record, its configured rate or none (learned).
- Every provider call (or job's worth of calls) asks for `cost` units (images, or text requests).
- Waiting requests are ordered by start-time fair queueing: a request's tag is the later of the
  virtual time and the finish tag of the same user's previous waiting request, so users take turns
  (weighted by cost) and each user's requests keep their arrival order.
- Slots are granted firmly only to the head of that order, and only up to `horizon` seconds ahead:
  a newcomer is never more than the horizon (plus its own turn) behind a burst already waiting.
- A grant is kept until shortly after its last slot, so asking again (an activity run twice after a
  crash) returns the same slots and never spends new ones.
- A configured limit is authoritative: it is paced at a fixed 98 % of itself (the spacing margin:
  a provider that enforces its per-minute limit per second refuses a call that arrives a few
  milliseconds early), and a 429 only pauses everyone for the provider's retry-after.
- Without a configured limit the rate is learned: halved on every 429 (and everyone pauses for the
  provider's retry-after), raised a little on every success, never above a limit the provider named,
  and lowered before any 429 when a success's headers show the provider's budget draining.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# A text call's share of PROVIDER_TOKENS_PER_MINUTE (prompt and answer), for pacing by requests.
TOKENS_PER_TEXT_CALL = 1000
MIN_HORIZON_SECONDS = 0.5
# Learning: where the rate starts, its floor, and how fast it moves.
INITIAL_PER_MINUTE = 60.0
MIN_PER_MINUTE = 1.0
DECREASE_FACTOR = 0.5
INCREASE_SHARE = 0.05
DRAIN_FACTOR = 0.8
DEFAULT_PAUSE_SECONDS = 5.0
# A configured limit's share in force: slots 2 % wider than the limit absorb the few milliseconds by
# which calls aligned on their slots still vary on their way to the provider.
CONFIGURED_SHARE = 0.98
# 429s (or draining budgets) of calls already under way when the rate was lowered say nothing new:
# one decrease per this long.
SLOWDOWN_HOLD_SECONDS = 5.0
# A call starts about this long after the ask that granted its slot (the answer, the orchestrator's
# episode, the activity's dispatch): a slot granted for "now" is missed by that much, and a call that
# starts late makes the next one, on time, come early for a provider that allows one a second. So the
# slot behind one that close is spaced from when that call will start, not from the slot.
GRANT_LEAD_SECONDS = 0.25
# A waiting request whose owner has not asked again this long after its estimate was abandoned
# (its orchestration ended without leaving); a grant is kept this long after its last slot.
ENTRY_GRACE_SECONDS = 120.0
GRANT_KEEP_SECONDS = 60.0


@dataclass(frozen=True)
class Entry:
    id: str
    user: str
    cost: int
    tag: float
    seq: int
    expires: float


@dataclass(frozen=True)
class Grant:
    times: tuple[float, ...]
    keep_until: float


@dataclass(frozen=True)
class LimiterState:
    tat: float = 0.0  # the next free slot (epoch seconds)
    vtime: float = 0.0  # virtual time: the tag of the request granted last
    seq: int = 0
    queue: tuple[Entry, ...] = ()
    grants: dict[str, Grant] = field(default_factory=dict)
    learned: float | None = None  # per minute, when learning
    ceiling: float | None = None  # per minute, as the provider's headers named it
    paused_until: float = 0.0
    slowed_at: float = 0.0  # when the learned rate was last lowered


@dataclass(frozen=True)
class Granted:
    times: tuple[float, ...]


@dataclass(frozen=True)
class Waiting:
    position: int
    estimate: float
    wake_at: float = 0.0  # when to ask again: once the turn is inside the grant horizon


Answer = Granted | Waiting


def per_minute(state: LimiterState, configured: float | None) -> float:
    """The rate in force: the configured one less its spacing margin, else the learned one (capped
    by the provider's named limit, less the same margin)."""
    if configured is not None:
        return configured * CONFIGURED_SHARE
    learned = state.learned or INITIAL_PER_MINUTE
    return min(learned, state.ceiling * CONFIGURED_SHARE) if state.ceiling else learned


def fair_order(queue: tuple[Entry, ...]) -> list[Entry]:
    return sorted(queue, key=lambda entry: (entry.tag, entry.seq))


def _prune(state: LimiterState, now: float) -> LimiterState:
    queue = tuple(entry for entry in state.queue if entry.expires >= now)
    grants = {key: grant for key, grant in state.grants.items() if grant.keep_until >= now}
    return replace(state, queue=queue, grants=grants)


def _enqueue(state: LimiterState, *, entry_id: str, user: str, cost: int, now: float) -> LimiterState:
    if any(entry.id == entry_id for entry in state.queue):
        return state
    previous = [entry.tag + entry.cost for entry in state.queue if entry.user == user]
    tag = max([state.vtime, *previous])
    entry = Entry(entry_id, user, cost, tag, state.seq, now + ENTRY_GRACE_SECONDS)
    return replace(state, queue=(*state.queue, entry), seq=state.seq + 1)


def _grant_heads(state: LimiterState, *, now: float, interval: float, horizon: float) -> LimiterState:
    """Firm slots for the head of the fair order while they start within the horizon."""
    order = fair_order(state.queue)
    start = max(now, state.tat, state.paused_until)
    grants = dict(state.grants)
    vtime = state.vtime
    granted = 0
    for entry in order:
        if start > now + horizon:
            break
        times = [start]
        for _ in range(entry.cost):
            # A slot closer than the grant lead is started late by about that much: the slot behind
            # it keeps a whole interval from when that call will really start.
            times.append(max(times[-1], now + GRANT_LEAD_SECONDS) + interval)
        grants[entry.id] = Grant(tuple(times[:-1]), keep_until=times[-2] + GRANT_KEEP_SECONDS)
        start = times[-1]
        vtime = entry.tag
        granted += 1
    if not granted:
        return state
    queue = tuple(order[granted:])
    return replace(state, queue=queue, grants=grants, tat=start, vtime=vtime)


def _estimate(state: LimiterState, entry_id: str, *, now: float, interval: float) -> Waiting:
    start = max(now + GRANT_LEAD_SECONDS, state.tat, state.paused_until)
    for position, entry in enumerate(fair_order(state.queue), start=1):
        if entry.id == entry_id:
            return Waiting(position, start)
        start += entry.cost * interval
    raise KeyError(entry_id)


def acquire(
    state: LimiterState,
    *,
    entry_id: str,
    user: str,
    cost: int,
    now: float,
    configured: float | None,
    horizon: float,
) -> tuple[LimiterState, Answer]:
    """Ask for `cost` slots for `entry_id`: firm slot times, or the place in line and an estimate."""
    state = _prune(state, now)
    if entry_id in state.grants:
        return state, Granted(state.grants[entry_id].times)
    interval = 60.0 / per_minute(state, configured)
    state = _enqueue(state, entry_id=entry_id, user=user, cost=cost, now=now)
    state = _grant_heads(state, now=now, interval=interval, horizon=horizon)
    if entry_id in state.grants:
        return state, Granted(state.grants[entry_id].times)
    waiting = _estimate(state, entry_id, now=now, interval=interval)
    waiting = replace(waiting, wake_at=max(now, waiting.estimate - horizon / 2))
    # The owner comes back around its estimate; until well after it, the entry is not abandoned.
    queue = tuple(
        replace(entry, expires=waiting.estimate + ENTRY_GRACE_SECONDS) if entry.id == entry_id else entry
        for entry in state.queue
    )
    return replace(state, queue=queue), waiting


def leave(state: LimiterState, entry_ids: set[str], *, interval: float) -> LimiterState | None:
    """Forget the entries (a job canceled or out of time); None when none was there.

    A grant at the end of the schedule gives its slots back; one in the middle cannot without
    moving other grants, and is only forgotten.
    """
    if not any(entry.id in entry_ids for entry in state.queue) and not entry_ids & set(state.grants):
        return None
    tat = state.tat
    for key in sorted(entry_ids & set(state.grants), key=lambda k: -state.grants[k].times[-1]):
        times = state.grants[key].times
        if abs(times[-1] + interval - tat) < 1e-6:
            tat = times[0]
    queue = tuple(entry for entry in state.queue if entry.id not in entry_ids)
    grants = {key: grant for key, grant in state.grants.items() if key not in entry_ids}
    return replace(state, queue=queue, grants=grants, tat=tat)


def _slowed(state: LimiterState, *, now: float, current: float, factor: float) -> LimiterState:
    """The learned rate `current` times `factor`, once per `SLOWDOWN_HOLD_SECONDS` (the calls already
    under way when it was lowered say nothing new)."""
    if state.slowed_at and now - state.slowed_at < SLOWDOWN_HOLD_SECONDS:
        return state
    return replace(state, learned=max(MIN_PER_MINUTE, current * factor), slowed_at=now)


def throttled(
    state: LimiterState, *, now: float, retry_after: float | None, limit_hint: float | None
) -> LimiterState:
    """A 429: everyone pauses for the provider's retry-after, and the learned rate halves (a
    configured limit is not lowered: it is the operator's word, and the pause is the provider's)."""
    pause = now + (retry_after if retry_after is not None else DEFAULT_PAUSE_SECONDS)
    paused = replace(state, paused_until=max(state.paused_until, pause), ceiling=limit_hint or state.ceiling)
    return _slowed(paused, now=now, current=per_minute(state, None), factor=DECREASE_FACTOR)


def succeeded(
    state: LimiterState, *, now: float, limit_hint: float | None, draining: bool = False,
    pause: float | None = None,
) -> LimiterState:
    """A call went through. Its headers may name the provider's limit (a ceiling from then on), show
    the budget draining (the rate drops by a fifth, before any 429) or used up (everyone pauses for
    `pause`, until the next call's worth is back); otherwise the rate probes upwards."""
    ceiling = limit_hint or state.ceiling
    state = replace(state, ceiling=ceiling)
    if pause is not None:
        state = replace(state, paused_until=max(state.paused_until, now + pause))
    if draining:
        return _slowed(state, now=now, current=per_minute(state, None), factor=DRAIN_FACTOR)
    learned = state.learned or INITIAL_PER_MINUTE
    raised = learned + max(1.0, learned * INCREASE_SHARE)
    return replace(state, learned=min(raised, ceiling) if ceiling else raised)


@dataclass(frozen=True)
class LimiterConfig:
    """One limiter: which record, its configured rate (None: learn it) and its grant horizon."""

    key: str  # e.g. "openai-image-<digest>"
    configured: float | None
    learn: bool

    def horizon(self, state: LimiterState) -> float:
        """Firm grants reach this far ahead: one slot, and at least half a second (the owner asks
        again half a horizon before its turn; that ask and its timer must land before the slot).
        Every slot granted ahead is one a newcomer of another user waits behind."""
        return max(MIN_HORIZON_SECONDS, 60.0 / per_minute(state, self.configured))
