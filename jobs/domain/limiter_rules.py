"""The shared provider limiter's decisions: fair queueing, firm slot grants, AIMD learning.

Pure: the state and the clock come in, the new state and an answer go out; `jobs.limiter` keeps the
state in one Table entity changed by ETag compare-and-swap, so every instance of the app sees it.

- Every provider call (or job's worth of calls) asks for `cost` units (images, or text requests).
- Waiting requests are ordered by start-time fair queueing: a request's tag is the later of the
  virtual time and the finish tag of the same user's previous waiting request, so users take turns
  (weighted by cost) and each user's requests keep their arrival order.
- Slots are granted firmly only to the head of that order, and only up to `horizon` seconds ahead:
  a newcomer is never more than the horizon (plus its own turn) behind a burst already waiting.
- A grant is kept until shortly after its last slot, so asking again (an activity run twice after a
  crash) returns the same slots and never spends new ones.
- A configured limit is paced at a share of itself (the margin) that each 429 lowers by 3 % and time
  slowly restores: calls start a little later than their slots (timers, dispatch), and a provider that
  enforces its per-minute limit per second answers a call that comes early with 429.
- Without a configured limit the rate is learned: halved on every 429 (and everyone pauses for the
  provider's retry-after), raised a little on every success, never above a limit the provider named.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Learning: where the rate starts, its floor, and how fast it moves.
INITIAL_PER_MINUTE = 60.0
MIN_PER_MINUTE = 1.0
DECREASE_FACTOR = 0.5
INCREASE_SHARE = 0.05
DEFAULT_PAUSE_SECONDS = 5.0
# The configured limit's margin: lowered on each 429, restored by 1 % every 10 s, within these bounds.
MARGIN_STEP = 0.03
MIN_MARGIN = 0.7
MARGIN_RECOVERY_PER_SECOND = 0.0005
# 429s of calls already under way when the margin was lowered say nothing new: one step per this long.
MARGIN_HOLD_SECONDS = 5.0
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
    margin: float = 1.0  # share of a configured limit in force at `margin_at`
    margin_at: float = 0.0


@dataclass(frozen=True)
class Granted:
    times: tuple[float, ...]


@dataclass(frozen=True)
class Waiting:
    position: int
    estimate: float
    wake_at: float = 0.0  # when to ask again: once the turn is inside the grant horizon


Answer = Granted | Waiting


def margin(state: LimiterState, now: float) -> float:
    """The share of a configured limit in force at `now` (restored over time since the last 429)."""
    return min(1.0, state.margin + max(0.0, now - state.margin_at) * MARGIN_RECOVERY_PER_SECOND)


def per_minute(state: LimiterState, configured: float | None, *, now: float = 0.0) -> float:
    """The rate in force: the configured one less its margin, else the learned one (capped by the
    provider's named limit)."""
    if configured is not None:
        return configured * margin(state, now)
    learned = state.learned or INITIAL_PER_MINUTE
    return min(learned, state.ceiling) if state.ceiling else learned


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
        times = tuple(start + i * interval for i in range(entry.cost))
        grants[entry.id] = Grant(times, keep_until=times[-1] + GRANT_KEEP_SECONDS)
        start += entry.cost * interval
        vtime = entry.tag
        granted += 1
    if not granted:
        return state
    queue = tuple(order[granted:])
    return replace(state, queue=queue, grants=grants, tat=start, vtime=vtime)


def _estimate(state: LimiterState, entry_id: str, *, now: float, interval: float) -> Waiting:
    start = max(now, state.tat, state.paused_until)
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
    interval = 60.0 / per_minute(state, configured, now=now)
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


def throttled(
    state: LimiterState, *, now: float, retry_after: float | None, limit_hint: float | None
) -> LimiterState:
    """A 429: everyone pauses for the provider's retry-after; the learned rate halves and a configured
    limit's margin steps down, once per `MARGIN_HOLD_SECONDS` (the calls already under way when they
    were lowered say nothing new)."""
    pause = now + (retry_after if retry_after is not None else DEFAULT_PAUSE_SECONDS)
    paused = replace(state, paused_until=max(state.paused_until, pause), ceiling=limit_hint or state.ceiling)
    if state.margin_at and now - state.margin_at < MARGIN_HOLD_SECONDS:
        return paused
    current = state.learned or INITIAL_PER_MINUTE
    return replace(
        paused,
        learned=max(MIN_PER_MINUTE, current * DECREASE_FACTOR),
        margin=max(MIN_MARGIN, margin(state, now) - MARGIN_STEP),
        margin_at=now,
    )


def succeeded(state: LimiterState, *, limit_hint: float | None) -> LimiterState:
    """A call went through: probe upwards, never past the limit the provider named."""
    ceiling = limit_hint or state.ceiling
    current = state.learned or INITIAL_PER_MINUTE
    raised = current + max(1.0, current * INCREASE_SHARE)
    return replace(state, learned=min(raised, ceiling) if ceiling else raised, ceiling=ceiling)
