"""Index a v2-programming-model function app and invoke its functions as the Python worker does."""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import importlib
import inspect
import logging
import sys
import time
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost import tracing

logger = logging.getLogger("devhost.invocations")

DURABLE_CLIENT = "durableClient"


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (direction, auth level, methods); turn them into plain values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the app: its name, trigger binding, other bindings and callable."""

    name: str
    trigger: Mapping[str, Any]
    bindings: tuple[Mapping[str, Any], ...]
    func: Callable[..., Any]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    # Cached: every invocation asks, and the answers never change (inspect.signature is not cheap).
    @functools.cached_property
    def durable_client_params(self) -> tuple[str, ...]:
        return tuple(b["name"] for b in self.bindings if b.get("type") == DURABLE_CLIENT)

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    @functools.cached_property
    def _parameters(self) -> frozenset[str]:
        return frozenset(inspect.signature(self.func).parameters)

    def accepts(self, name: str) -> bool:
        return name in self._parameters

    def annotation(self, name: str) -> Any:
        """The declared type of parameter `name` (None when absent or unresolvable)."""
        try:
            hints = typing.get_type_hints(self.func)
        except Exception:
            # Unresolvable string annotations: fall back to whatever the signature holds.
            parameter = inspect.signature(self.func).parameters.get(name)
            if parameter is None or parameter.annotation is inspect.Parameter.empty:
                return None
            return parameter.annotation
        return hints.get(name)


def load_app(module_name: str, *, app_dir: str | Path | None = None) -> list[FunctionSpec]:
    """Import `module_name` (from `app_dir`, default the current directory) and index its functions."""
    directory = str(Path(app_dir or ".").resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module = importlib.import_module(module_name)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if not apps:
        raise RuntimeError(f"{module_name} declares no FunctionApp (azure.functions.FunctionApp or df.DFApp)")
    specs: list[FunctionSpec] = []
    for app in apps:
        for function in app.get_functions():
            bindings = tuple(_plain(b) for b in function.get_bindings_dict()["bindings"])
            trigger = next(b for b in bindings if str(b["type"]).lower().endswith("trigger"))
            specs.append(FunctionSpec(
                name=str(function.get_function_name()),
                trigger=trigger,
                bindings=bindings,
                func=function.get_user_function(),
            ))
    names = [spec.name for spec in specs]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise RuntimeError(f"function names must be unique; repeated: {sorted(duplicates)}")
    return specs


@dataclass
class InvocationContext:
    """What the worker hands a `context: func.Context` parameter (the parts apps read)."""

    invocation_id: str
    function_name: str
    function_directory: str = "."
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


async def invoke(
    spec: FunctionSpec,
    arguments: Mapping[str, Any],
    *,
    client_payload: str | None = None,
    invocation_id: str | None = None,
    traceparent: str | None = None,
) -> Any:
    """Call the function with its trigger argument(s) already converted; log one line per invocation.

    Durable client parameters receive `client_payload` (the JSON the durable extension would pass);
    a `context` parameter receives an InvocationContext. Sync functions run in a worker thread.
    `traceparent` is the caller's W3C trace context (HTTP), continued as the host does (devhost.tracing).
    """
    invocation_id = invocation_id or str(uuid.uuid4())
    kwargs = dict(arguments)
    for name in spec.durable_client_params:
        if client_payload is None:
            raise RuntimeError(f"{spec.name} has a durable client binding but no durable engine is running")
        kwargs[name] = client_payload
    trace = tracing.invocation_trace_context(traceparent)
    if spec.accepts("context") and "context" not in kwargs:
        kwargs["context"] = InvocationContext(
            invocation_id=invocation_id, function_name=spec.name, trace_context=trace)
    started = time.perf_counter()
    try:
        with tracing.activated(trace):
            if spec.is_async:
                result = await spec.func(**kwargs)
            else:
                # A copy of the context, so the worker thread sees the invocation's trace too.
                call = functools.partial(contextvars.copy_context().run, spec.func, **kwargs)
                result = await asyncio.get_running_loop().run_in_executor(None, call)
    except Exception:
        logger.exception(
            "Executed '%s' (Failed, Id=%s, Duration=%.0fms)",
            spec.name, invocation_id, (time.perf_counter() - started) * 1000)
        raise
    logger.info(
        "Executed '%s' (Succeeded, Id=%s, Duration=%.0fms)",
        spec.name, invocation_id, (time.perf_counter() - started) * 1000)
    return result


def message_argument(spec: FunctionSpec, message: func.QueueMessage | func.ServiceBusMessage) -> Any:
    """What a queue or Service Bus trigger's parameter declares: str, bytes, else the message itself."""
    annotation = spec.annotation(str(spec.trigger["name"]))
    if annotation is str:
        return message.get_body().decode("utf-8")
    if annotation is bytes:
        return message.get_body()
    return message
