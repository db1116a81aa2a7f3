"""The workbook and alert rules in infra/ against the metrics the app records (offline: text checks)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAIN = (REPO / "infra" / "main.bicep").read_text(encoding="utf-8")
ALERTS = (REPO / "infra" / "modules" / "alerts.bicep").read_text(encoding="utf-8")
WORKBOOK = (REPO / "infra" / "modules" / "workbook.bicep").read_text(encoding="utf-8")
TELEMETRY = (REPO / "jobs" / "telemetry.py").read_text(encoding="utf-8")


def _app_metrics() -> set[str]:
    return set(re.findall(r'_meter\.create_\w+\(\s*"([\w.]+)"', TELEMETRY))


def _queried_metrics(text: str) -> set[str]:
    names = set(re.findall(r'name == "([\w.]+)"', text))
    for group in re.findall(r"name in \(([^)]*)\)", text):
        names |= set(re.findall(r'"([\w.]+)"', group))
    return names


def test_the_scan_finds_the_app_metrics() -> None:
    assert {"jobs.accepted", "jobs.finished", "provider.calls", "queue.dead_letter_depth"} <= _app_metrics()
    assert len(re.findall(r"_meter\.create_", TELEMETRY)) == len(_app_metrics()) == 10


def test_the_workbook_shows_every_metric_the_app_records_and_nothing_else() -> None:
    assert _queried_metrics(WORKBOOK) == _app_metrics()


def test_alerts_query_only_metrics_the_app_records() -> None:
    assert _queried_metrics(ALERTS) == {"jobs.finished", "provider.calls", "queue.dead_letter_depth"}


def test_queries_filter_on_attributes_the_app_sets() -> None:
    used = set(re.findall(r"customDimensions\.(\w+)", ALERTS + WORKBOOK))
    for attribute in used:
        assert f'"{attribute}"' in TELEMETRY, attribute


def test_alert_resources_exist_only_with_an_email() -> None:
    assert re.search(r"^module alerts 'modules/alerts\.bicep' = if \(!empty\(alertEmail\)\) \{$", MAIN, re.M)
    assert re.search(r"^param alertEmail string = ''$", MAIN, re.M)
    assert "emailAddress: alertEmail" in ALERTS
    # Every resource of the alerts module sits in that conditional module; none elsewhere.
    for module in (MAIN, WORKBOOK):
        assert "Microsoft.Insights/actionGroups" not in module
        assert "scheduledQueryRules" not in module and "metricAlerts" not in module


def test_each_alert_has_its_condition_and_parameter() -> None:
    assert re.search(r"failureRatePercent: alertFailureRatePercent", MAIN)
    assert re.search(r"rateLimitedPercent: alertRateLimitedPercent", MAIN)
    assert re.search(r"functionErrorCount: alertFunctionErrorCount", MAIN)
    rules = dict(re.findall(r"name: '([\w-]+)'\n(?:.*\n){1,3}?\s+severity: \d\n\s+query: (\w+)", ALERTS))
    assert rules == {
        "dead-letter-depth": "deadLetterQuery",
        "job-failure-rate": "failureRateQuery",
        "function-errors": "functionErrorQuery",
        "provider-rate-limited-share": "rateLimitedQuery",
    }
    assert "threshold: failureRatePercent" in ALERTS and "threshold: rateLimitedPercent" in ALERTS
    assert "threshold: functionErrorCount" in ALERTS
    assert 'status == "failed"' in ALERTS and 'outcome == "rate_limited"' in ALERTS
    # Dead letters: the app's gauge on a Storage queue, the namespace's own metric on Service Bus.
    assert "enabled: jobsQueueKind == 'storage'" in ALERTS
    assert "= if (jobsQueueKind == 'servicebus')" in ALERTS and "metricName: 'DeadletteredMessages'" in ALERTS


def test_the_host_and_the_app_send_opentelemetry_to_application_insights() -> None:
    assert re.search(r"name: 'TELEMETRY_EXPORTER'\n\s+value: 'azure-monitor'", MAIN)
    assert re.search(r"name: 'PYTHON_ENABLE_OPENTELEMETRY'\n\s+value: 'true'", MAIN)
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^azure-monitor-opentelemetry==[\d.]+$", requirements, re.M)
