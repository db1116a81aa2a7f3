"""The job trace and the job metrics, recorded into in-memory exporters installed for this module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from azure.core.settings import settings as azure_core_settings
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from jobs import telemetry
from jobs.config.settings import load_settings
from jobs.domain.errors import SettingsError
from jobs.domain.models import JobError, JobKind, JobStatus
from jobs.telemetry_setup import pin_sdk_tracing_switches
from testing.factories import make_job

_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    # The API lets a process install its providers once; later installs are ignored with a warning.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_SPANS))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _SPANS.clear()
    yield _SPANS


def _points(name: str) -> list[Any]:
    data = _METRICS.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_spans_of_one_job_share_the_trace_derived_from_its_id(spans: InMemorySpanExporter) -> None:
    with telemetry.job_span("one", "job-1"), telemetry.job_span("two", "job-1"):
        pass
    with telemetry.job_span("other", "job-2"):
        pass

    by_name = {span.name: span for span in spans.get_finished_spans()}
    one, two, other = by_name["one"], by_name["two"], by_name["other"]
    trace_id, root_id = telemetry.job_trace_ids("job-1")
    assert one.context.trace_id == two.context.trace_id == trace_id != other.context.trace_id
    assert one.parent is not None and one.parent.span_id == root_id
    assert two.parent is not None and two.parent.span_id == root_id  # not under "one": one trace root
    assert telemetry.job_traceparent("job-1") == f"00-{trace_id:032x}-{root_id:016x}-01"


def test_a_span_links_to_the_invocation_it_runs_in(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("host")
    with tracer.start_as_current_span("invocation") as invocation, telemetry.job_span("work", "job-3"):
        pass

    work = next(span for span in spans.get_finished_spans() if span.name == "work")
    assert [link.context.span_id for link in work.links] == [invocation.get_span_context().span_id]


def test_a_failure_is_marked_by_type_without_its_message(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), telemetry.job_span("boom", "job-4"):
        raise ValueError("the prompt was: something private")

    [span] = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError"
    assert not span.events


def test_the_user_is_hashed() -> None:
    assert telemetry.hashed_user("alice") == telemetry.hashed_user("alice") != telemetry.hashed_user("bob")
    assert "alice" not in telemetry.hashed_user("alice")
    assert telemetry.hashed_user(None) == ""


def test_finished_jobs_are_counted_by_status_and_error(spans: InMemorySpanExporter) -> None:
    job = make_job(kind=JobKind.TEXT)
    failed = replace(job, status=JobStatus.FAILED, error=JobError("rate_limited", "busy"))
    telemetry.record_finished(failed)

    [point] = [p for p in _points("jobs.finished") if p.attributes["error_code"] == "rate_limited"]
    assert dict(point.attributes) == {
        "status": "failed", "error_code": "rate_limited", "channel": "api", "kind": "text"
    }
    assert point.value == 1
    assert any(p.attributes == {"kind": "text", "status": "failed"} for p in _points("jobs.duration"))


def test_provider_calls_count_their_outcome_and_retry_after(spans: InMemorySpanExporter) -> None:
    class RateLimitedError(Exception):
        code = "rate_limited"
        retry_after = 7.0

    call = {"provider": "p-test", "model": "m", "size": "1x1"}
    with telemetry.provider_call("job-5", **call):
        pass
    with pytest.raises(RateLimitedError), telemetry.provider_call("job-5", **call):
        raise RateLimitedError

    ok, limited = spans.get_finished_spans()
    assert (ok.attributes or {})["outcome"] == "ok"
    assert (limited.attributes or {})["outcome"] == "rate_limited"
    assert (limited.attributes or {})["retry_after_s"] == 7.0
    outcomes = {p.attributes["outcome"]: p.value for p in _points("provider.calls")
                if p.attributes["provider"] == "p-test"}
    assert outcomes == {"ok": 1, "rate_limited": 1}


@pytest.mark.parametrize("value", ["file:", "otlp", "stdout"])
def test_an_unknown_exporter_setting_is_refused_by_name(value: str) -> None:
    with pytest.raises(SettingsError, match="TELEMETRY_EXPORTER"):
        load_settings({"GENERATION_STORAGE": "UseDevelopmentStorage=true", "TELEMETRY_EXPORTER": value})


def test_azure_monitor_signs_in_with_the_managed_identity_and_leaves_instrumentation_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.monitor.opentelemetry as distro
    from azure.identity import ManagedIdentityCredential

    from jobs import telemetry_setup

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(telemetry_setup, "_configured", [])

    telemetry_setup.configure("azure-monitor", client_id="00000000-0000-0000-0000-000000000001")
    telemetry_setup.configure("azure-monitor", client_id="00000000-0000-0000-0000-000000000001")

    [options] = calls  # once per process
    assert isinstance(options["credential"], ManagedIdentityCredential)
    assert options["instrumentation_options"]["azure_sdk"] == {"enabled": False}
    assert all(not choice["enabled"] for choice in options["instrumentation_options"].values())


@pytest.fixture
def sdk_tracing_unpinned() -> Iterator[None]:
    switches = (azure_core_settings.tracing_implementation, azure_core_settings.tracing_enabled)
    for switch in switches:
        switch.unset_value()
    yield
    for switch in switches:
        switch.unset_value()


@pytest.mark.usefixtures("sdk_tracing_unpinned")
@pytest.mark.parametrize(
    ("environment", "enabled"), [({}, False), ({"AZURE_SDK_TRACING_IMPLEMENTATION": "opentelemetry"}, True)]
)
def test_pinned_sdk_tracing_switches_keep_what_the_environment_said(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], enabled: bool
) -> None:
    for name in ("AZURE_SDK_TRACING_IMPLEMENTATION", "AZURE_TRACING_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    pin_sdk_tracing_switches()
    monkeypatch.setenv("AZURE_TRACING_ENABLED", str(not enabled))  # read no more once pinned
    assert azure_core_settings.tracing_enabled() is enabled
    assert (azure_core_settings.tracing_implementation() is not None) is enabled
