from datetime import UTC, datetime

from jobs.domain.conversations import (
    MESSAGE_OVERHEAD_TOKENS,
    Turn,
    estimate_tokens,
    history_messages,
    is_valid_conversation_id,
    line_conversation_id,
    trim_history,
    turn_tokens,
)

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _turn(number: int, *, size: int = 40) -> Turn:
    return Turn(job_id=f"job-{number}", question="q" * size, answer="a" * size, created_at=WHEN)


def test_estimate_counts_a_quarter_per_ascii_character_and_one_per_other_character() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("こんにちは") == 5
    assert estimate_tokens("hi こんにちは") == 1 + 5


def test_everything_is_kept_when_it_fits() -> None:
    turns = [_turn(1), _turn(2), _turn(3)]
    assert trim_history(turns, prompt="next?", max_tokens=10_000, max_turns=10) == turns


def test_the_turn_limit_drops_the_oldest_turns() -> None:
    turns = [_turn(n) for n in range(1, 6)]
    kept = trim_history(turns, prompt="next?", max_tokens=10_000, max_turns=2)
    assert [turn.job_id for turn in kept] == ["job-4", "job-5"]


def test_the_token_budget_drops_the_oldest_turns_and_never_splits_one() -> None:
    turns = [_turn(n) for n in range(1, 5)]
    prompt = "p" * 40  # 10 tokens
    per_turn = turn_tokens(turns[0])  # 10 + 10 + 2 * overhead
    # Room for the prompt and two whole turns plus half of a third.
    budget = 10 + MESSAGE_OVERHEAD_TOKENS + 2 * per_turn + per_turn // 2
    kept = trim_history(turns, prompt=prompt, max_tokens=budget, max_turns=10)
    assert [turn.job_id for turn in kept] == ["job-3", "job-4"]


def test_an_old_turn_is_not_kept_once_a_newer_one_did_not_fit() -> None:
    turns = [_turn(1, size=4), _turn(2, size=4000), _turn(3, size=4)]
    kept = trim_history(turns, prompt="x", max_tokens=100, max_turns=10)
    assert [turn.job_id for turn in kept] == ["job-3"]


def test_a_prompt_over_the_budget_leaves_no_history() -> None:
    assert trim_history([_turn(1)], prompt="z" * 4000, max_tokens=100, max_turns=10) == []


def test_history_alternates_user_and_assistant_oldest_first() -> None:
    messages = history_messages([_turn(1, size=1), _turn(2, size=2)])
    assert messages == [("user", "q"), ("assistant", "a"), ("user", "qq"), ("assistant", "aa")]


def test_conversation_ids_are_key_safe() -> None:
    assert is_valid_conversation_id("chat-1_a.b")
    assert is_valid_conversation_id("a" * 64)
    for bad in ("", "a" * 65, "a/b", "a#b", "-leading", "sp ace", "ü"):
        assert not is_valid_conversation_id(bad), bad


def test_a_line_chat_has_one_stable_id_that_does_not_show_the_chat() -> None:
    first = line_conversation_id("C1234567890")
    assert first == line_conversation_id("C1234567890")
    assert first != line_conversation_id("U1234567890")
    assert "C1234567890" not in first and is_valid_conversation_id(first)
