"""The shared limiter's decisions with an injected clock: pacing, fairness, idempotent grants,
leaving the line, and AIMD learning."""

from __future__ import annotations

import pytest

from jobs.domain.limiter_rules import (
    CONFIGURED_SHARE,
    ENTRY_GRACE_SECONDS,
    GRANT_LEAD_SECONDS,
    INITIAL_PER_MINUTE,
    Granted,
    LimiterState,
    Waiting,
    acquire,
    leave,
    per_minute,
    succeeded,
    throttled,
)

NOW = 1_000_000.0
SLOT = 60 / (60 * CONFIGURED_SHARE)  # a configured 60 a minute, less the spacing margin
HORIZON = 2.5 * SLOT
# An idle limiter grants "now", and spaces the next slot from when that call will really start.
LATER = NOW + GRANT_LEAD_SECONDS


def _ask(state: LimiterState, entry: str, *, user: str = "u", cost: int = 1, now: float = NOW,
         configured: float | None = 60) -> tuple[LimiterState, Granted | Waiting]:
    return acquire(
        state, entry_id=entry, user=user, cost=cost, now=now, configured=configured, horizon=HORIZON
    )


def test_slots_are_one_interval_apart_and_granted_only_within_the_horizon() -> None:
    state, first = _ask(LimiterState(), "a")
    state, second = _ask(state, "b")
    state, third = _ask(state, "c")
    state, fourth = _ask(state, "d")
    assert first == Granted((NOW,))
    assert second == Granted((pytest.approx(LATER + SLOT),))
    assert third == Granted((pytest.approx(LATER + 2 * SLOT),))
    assert isinstance(fourth, Waiting)
    assert fourth.position == 1
    turn = LATER + 3 * SLOT
    assert (fourth.estimate, fourth.wake_at) == pytest.approx((turn, turn - HORIZON / 2))


def test_a_configured_limit_is_paced_a_little_under_itself() -> None:
    assert per_minute(LimiterState(), 600) == pytest.approx(588)
    assert pytest.approx(0.98) == CONFIGURED_SHARE


def test_a_job_of_four_images_gets_four_consecutive_slots() -> None:
    _, answer = _ask(LimiterState(), "job", cost=4)
    assert answer == Granted((NOW, *(pytest.approx(LATER + i * SLOT) for i in range(1, 4))))


def test_asking_again_returns_the_same_grant_and_spends_nothing() -> None:
    state, first = _ask(LimiterState(), "a")
    again, repeated = _ask(state, "a", now=NOW + 0.5)
    assert repeated == first
    assert again.tat == state.tat


def test_a_single_request_of_another_user_overtakes_a_waiting_burst() -> None:
    state = LimiterState()
    for i in range(40):
        state, _ = _ask(state, f"burst-{i}", user="heavy")
    state, single = _ask(state, "single", user="light", now=NOW + 0.1)
    assert isinstance(single, Waiting)
    # Behind what is already granted (the horizon) and at most one of the burst's waiting requests.
    assert single.position <= 2
    assert single.estimate - (NOW + 0.1) <= HORIZON + 2 * SLOT


def test_users_take_turns_and_each_users_requests_keep_their_order() -> None:
    state = LimiterState(tat=NOW + 100)  # everything waits, so only the order is decided
    for i in range(3):
        state, _ = _ask(state, f"a{i}", user="alice")
    for i in range(3):
        state, _ = _ask(state, f"b{i}", user="bob")
    positions = {}
    for entry in ("a0", "a1", "a2", "b0", "b1", "b2"):
        state, answer = _ask(state, entry, user=entry[0])
        assert isinstance(answer, Waiting)
        positions[entry] = answer.position
    assert sorted(positions, key=positions.__getitem__) == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_leaving_moves_the_line_up_and_gives_back_a_last_grant() -> None:
    state, _ = _ask(LimiterState(), "a")
    state, _ = _ask(state, "b")
    before = state.tat
    left = leave(state, {"b"}, interval=SLOT)
    assert left is not None and left.tat == pytest.approx(before - SLOT)
    assert leave(left, {"b"}, interval=SLOT) is None
    waiting_state = LimiterState(tat=NOW + 100)
    waiting_state, _ = _ask(waiting_state, "x")
    waiting_state, _ = _ask(waiting_state, "y")
    after = leave(waiting_state, {"x"}, interval=SLOT)
    assert after is not None
    _, answer = _ask(after, "y")
    assert isinstance(answer, Waiting) and answer.position == 1


def test_an_abandoned_waiting_request_is_dropped_after_its_grace() -> None:
    state = LimiterState(tat=NOW + 10)
    state, _ = _ask(state, "gone")
    later = NOW + 10 + ENTRY_GRACE_SECONDS + 1
    state, answer = _ask(state, "next", now=later)
    assert answer == Granted((later,))


def test_a_429_pauses_everyone_and_halves_a_learned_rate_which_then_probes_up() -> None:
    state = throttled(LimiterState(), now=NOW, retry_after=5, limit_hint=None)
    assert per_minute(state, None) == INITIAL_PER_MINUTE / 2
    _, answer = _ask(state, "a", configured=None)
    assert isinstance(answer, Waiting) and answer.estimate == NOW + 5
    raised = succeeded(state, now=NOW + 6, limit_hint=None)
    assert per_minute(raised, None) > per_minute(state, None)
    capped = succeeded(LimiterState(learned=100), now=NOW, limit_hint=100)
    assert per_minute(capped, None) == pytest.approx(100 * CONFIGURED_SHARE)


def test_a_429_under_a_configured_limit_pauses_everyone_but_never_lowers_the_pace() -> None:
    state = LimiterState()
    for step in range(20):
        state = throttled(state, now=NOW + 10 * step, retry_after=0.04, limit_hint=None)
    assert per_minute(state, 600) == pytest.approx(600 * CONFIGURED_SHARE)
    assert state.paused_until == pytest.approx(NOW + 190.04)
    _, answer = _ask(state, "a", now=NOW + 190)
    assert answer == Granted((pytest.approx(NOW + 190.04),))


def test_a_limit_named_by_the_provider_caps_the_learned_rate() -> None:
    state = throttled(LimiterState(learned=500), now=NOW, retry_after=1, limit_hint=120)
    assert per_minute(state, None) == pytest.approx(120 * CONFIGURED_SHARE)
    after = succeeded(state, now=NOW, limit_hint=None)
    assert per_minute(after, None) == pytest.approx(120 * CONFIGURED_SHARE)


def test_a_success_naming_the_limit_caps_the_learned_rate_before_any_429() -> None:
    state = succeeded(LimiterState(learned=300), now=NOW, limit_hint=30)
    assert per_minute(state, None) == pytest.approx(30 * CONFIGURED_SHARE)
    state, first = _ask(state, "a", now=NOW, configured=None)
    _, second = _ask(state, "b", now=NOW, configured=None)
    assert first == Granted((NOW,))
    assert second == Granted((pytest.approx(LATER + 60 / (30 * CONFIGURED_SHARE)),))


def test_a_draining_budget_lowers_the_learned_rate_once_per_hold_and_stops_the_probing() -> None:
    state = succeeded(LimiterState(), now=NOW, limit_hint=60, draining=True)
    assert per_minute(state, None) == pytest.approx(60 * CONFIGURED_SHARE * 0.8)
    again = succeeded(state, now=NOW + 1, limit_hint=60, draining=True)
    assert again.learned == state.learned
    later = succeeded(again, now=NOW + 6, limit_hint=60, draining=True)
    assert later.learned == pytest.approx(state.learned * 0.8)
    recovered = succeeded(later, now=NOW + 7, limit_hint=60)
    assert recovered.learned is not None and later.learned is not None
    assert recovered.learned > later.learned


def test_a_used_up_budget_pauses_everyone_until_a_call_is_back() -> None:
    state = succeeded(LimiterState(), now=NOW, limit_hint=60, pause=1.5)
    assert state.paused_until == NOW + 1.5
    _, answer = _ask(state, "a", now=NOW, configured=None)
    assert answer == Granted((NOW + 1.5,))


def test_a_run_of_429s_halves_a_learned_rate_once() -> None:
    state = LimiterState()
    for second in range(4):
        state = throttled(state, now=NOW + second, retry_after=1, limit_hint=None)
    assert per_minute(state, None) == INITIAL_PER_MINUTE / 2
    assert state.paused_until == NOW + 4
