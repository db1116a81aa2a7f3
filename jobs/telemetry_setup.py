"""Where spans and metrics go, chosen once per process by `TELEMETRY_EXPORTER`.

- `none` (the default): nothing is installed; the OpenTelemetry API stays a no-op.
- `azure-monitor` (what infra sets): the Azure Monitor OpenTelemetry distro sends spans, metrics and
  logs to Application Insights (`APPLICATIONINSIGHTS_CONNECTION_STRING`), signing in with the app's
  managed identity because the resource refuses keys. Its automatic instrumentations stay off: the
  job spans say what matters, and a dependency per Table call would cost more than it tells.
- `console`: spans and metrics as JSON on standard error (what `make run` uses).
- `file:<path>`: one JSON object per line appended to `<path>` (`"type": "span"` or `"metric"`),
  for looking at a local run afterwards and for the end-to-end tests.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
from collections.abc import Sequence
from typing import IO

from azure.core.settings import settings as azure_core_settings
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

logger = logging.getLogger(__name__)

SERVICE_NAME = "generation-app"
METRIC_INTERVAL_MS = 5_000
_lock = threading.Lock()
_configured: list[str] = []  # the exporter installed in this process, if any


class _JsonLines:
    """JSON objects, one a line, on a text stream (a file or standard error)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, records: list[dict[str, object]]) -> None:
        with self._lock:
            for record in records:
                self._stream.write(json.dumps(record, default=str) + "\n")
            self._stream.flush()


class JsonSpanExporter(SpanExporter):
    def __init__(self, sink: _JsonLines) -> None:
        self._sink = sink

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._sink.write([{"type": "span", **json.loads(span.to_json())} for span in spans])
        return SpanExportResult.SUCCESS


class JsonMetricExporter(MetricExporter):
    def __init__(self, sink: _JsonLines) -> None:
        super().__init__()
        self._sink = sink

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **_: object
    ) -> MetricExportResult:
        self._sink.write([{"type": "metric", **json.loads(metrics_data.to_json())}])
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **_: object) -> None:
        return None


def _stream(exporter: str) -> IO[str]:
    if exporter == "console":
        return sys.stderr
    # Open for the life of the process; the providers' shutdown at exit flushes the last batch.
    return open(exporter.removeprefix("file:"), "a", encoding="utf-8")


# The distro's instrumentations (by library name), all off.
_INSTRUMENTATIONS_OFF = {
    name: {"enabled": False}
    for name in (
        "azure_sdk", "django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3", "httpx"
    )
}


def _azure_monitor(client_id: str | None) -> None:
    # Imported here: the distro takes about 0.4 s to import and only the Azure deployment uses it.
    from azure.identity import ManagedIdentityCredential  # noqa: PLC0415 (lazy, see above)
    from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415 (lazy, see above)

    configure_azure_monitor(
        credential=ManagedIdentityCredential(client_id=client_id),
        instrumentation_options=_INSTRUMENTATIONS_OFF,
    )


def configure(exporter: str, *, client_id: str | None = None) -> None:
    """Install the tracer and meter providers for `exporter` (once per process; later calls no-ops);
    `client_id` is the managed identity that signs in to Application Insights."""
    with _lock:
        if _configured or exporter == "none":
            return
        if exporter == "azure-monitor":
            _azure_monitor(client_id)
            _configured.append(exporter)
            logger.info("telemetry: spans and metrics go to Application Insights")
            return
        sink = _JsonLines(_stream(exporter))
        resource = Resource.create({"service.name": SERVICE_NAME})
        tracer_provider = TracerProvider(resource=resource)
        processor = BatchSpanProcessor(JsonSpanExporter(sink), schedule_delay_millis=500)
        tracer_provider.add_span_processor(processor)
        reader = PeriodicExportingMetricReader(
            JsonMetricExporter(sink), export_interval_millis=METRIC_INTERVAL_MS
        )
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        atexit.register(tracer_provider.shutdown)
        atexit.register(meter_provider.shutdown)
        _configured.append(exporter)
        logger.info("telemetry: spans and metrics go to %s", exporter)


def pin_sdk_tracing_switches() -> None:
    """Fix azure-core's two tracing switches at the values they have now.

    Left unset, azure-core resolves both from the environment on every SDK call, twice (the client
    method's tracing decorator and the pipeline's tracing policy): a few percent of an accept's CPU
    for values that do not change while the process runs. Call after `configure`, which may set them.
    """
    implementation = azure_core_settings.tracing_implementation()
    azure_core_settings.tracing_implementation.set_value(implementation)
    azure_core_settings.tracing_enabled.set_value(azure_core_settings.tracing_enabled())
