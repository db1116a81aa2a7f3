"""The short wait before a paced call: only what is left of the lead, never more than the bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from generation import activities
from generation.activities import until_slot


async def test_a_call_on_or_past_its_slot_does_not_wait() -> None:
    assert await until_slot(None) == 0.0
    assert await until_slot((datetime.now(UTC) - timedelta(seconds=2)).isoformat()) == 0.0


async def test_an_early_call_waits_for_its_slot_but_never_past_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(activities, "MAX_SLOT_WAIT_SECONDS", 0.02)
    assert await until_slot((datetime.now(UTC) + timedelta(hours=1)).isoformat()) == 0.02
