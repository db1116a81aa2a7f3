"""The trace context devhost gives each invocation, as the Functions host does."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from devhost.tracing import activated, invocation_trace_context

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_an_invocation_continues_the_callers_trace_with_a_span_of_its_own() -> None:
    mine = invocation_trace_context(CALLER).trace_parent

    version, trace_id, span_id, flags = mine.split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span_id != "00f067aa0ba902b7" and len(span_id) == 16


@pytest.mark.parametrize("incoming", [None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"])
def test_without_a_usable_caller_an_invocation_starts_a_trace(incoming: str | None) -> None:
    first, second = (invocation_trace_context(incoming).trace_parent for _ in range(2))
    assert first.split("-")[1] != second.split("-")[1]
    assert first.split("-")[1] != "0" * 32


def test_the_invocation_is_the_current_span_only_when_the_worker_setting_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = invocation_trace_context(CALLER)
    monkeypatch.delenv("PYTHON_ENABLE_OPENTELEMETRY", raising=False)
    with activated(context):
        assert not trace.get_current_span().get_span_context().is_valid

    monkeypatch.setenv("PYTHON_ENABLE_OPENTELEMETRY", "true")
    with activated(context):
        current = trace.get_current_span().get_span_context()
        assert f"{current.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert f"00-{current.trace_id:032x}-{current.span_id:016x}-01" == context.trace_parent
    assert not trace.get_current_span().get_span_context().is_valid
