"""`?wait=`: the long-poll a status read asks for, clamped and strict."""

from __future__ import annotations

import pytest

from jobs.http import InvalidQueryError, parse_wait


@pytest.mark.parametrize(("raw", "expected"), [
    (None, 0), ("0", 0), ("5", 5), ("30", 30), ("31", 30), ("300", 30), ("007", 7),
    ("9" * 40, 30), ("0" * 20 + "12", 12),
])
def test_wait_is_clamped_to_thirty_seconds(raw: str | None, expected: int) -> None:
    params = {} if raw is None else {"wait": raw}
    assert parse_wait(params) == expected


@pytest.mark.parametrize("raw", ["", "-1", "1.5", "abc", " 3", "+3", "1e3", "\uff13"])
def test_wait_must_be_a_whole_non_negative_number(raw: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        parse_wait({"wait": raw})
    assert caught.value.errors == [
        {"field": "wait", "message": "must be a whole number of seconds, 0 or more"}]
