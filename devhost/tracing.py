"""The trace context of each invocation, as the Functions host hands it to the Python worker.

The host gives every invocation a span of its own: in the caller's trace when an HTTP request carries a
W3C `traceparent`, else in a new trace. The function sees it as `context.trace_context`, and with
`PYTHON_ENABLE_OPENTELEMETRY=true` the worker also makes it the current OpenTelemetry context while the
function runs, so spans the app starts are children of (or link to) the invocation.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE = "0" * 32


@dataclass(frozen=True)
class TraceContext:
    """The parts of `func.Context.trace_context` apps read."""

    trace_parent: str
    trace_state: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


def invocation_trace_context(incoming: str | None = None) -> TraceContext:
    """A new span id for the invocation, in the trace of `incoming` (a `traceparent`) when it is valid."""
    match = _TRACEPARENT.match((incoming or "").strip().lower())
    if match is None or match.group(1) == _INVALID_TRACE:
        return TraceContext(f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01")
    return TraceContext(f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}")


@contextmanager
def activated(trace: TraceContext) -> Iterator[None]:
    """Make the invocation's span the current OpenTelemetry context, when the worker would."""
    if os.environ.get("PYTHON_ENABLE_OPENTELEMETRY", "").strip().lower() != "true":
        yield
        return
    from opentelemetry import context  # noqa: PLC0415 (only when the setting asks for it)
    from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
        TraceContextTextMapPropagator,
    )

    token = context.attach(TraceContextTextMapPropagator().extract({"traceparent": trace.trace_parent}))
    try:
        yield
    finally:
        context.detach(token)
