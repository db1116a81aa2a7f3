"""Offline checks that the code, the bindings, host.json, infra/ and the local settings agree.

Nobody can deploy from here to find a missing app setting, so this reads what the app reads (the
environment reads in the app packages, `%SETTING%` references and connection names in the bindings)
and what infra/ declares, and compares them both ways.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from devhost.functions import FunctionSpec, load_app
from generation.maintenance import STALE_AFTER
from jobs import contracts, names
from jobs.config.settings import load_settings
from jobs.domain.models import Channel
from jobs.queues.storage import poison_queue_name

REPO = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("jobs", "generation", "status", "line_webhook", "web")
INFRA = REPO / "infra"
MAIN_BICEP = INFRA / "main.bicep"
DEPLOY_DOC = REPO / "docs" / "deploy.md"

# Setting names the Functions host (not the app) reads, allowed in infra and local settings.
HOST_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    # The Python worker: activate each invocation's trace context and let the worker send its own logs.
    "PYTHON_ENABLE_OPENTELEMETRY",
}
HOST_SETTING_PREFIXES = ("AzureWebJobsStorage__",)
# Local-only settings: the Core Tools / devhost equivalents of what Flex Consumption configures itself.
LOCAL_ONLY_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags", "AzureWebJobsStorage"}
LOCAL_ONLY_PREFIXES = ("DEVHOST_",)
# Variables App Service sets for the app itself (WEBSITE_AUTH_ENABLED: Easy Auth is on): read, never declared.
PLATFORM_SETTINGS = {"WEBSITE_AUTH_ENABLED"}
# Identity-based connection settings the host reads under a binding's connection name.
CONNECTION_SUFFIXES = {
    "credential", "clientId", "blobServiceUri", "queueServiceUri", "tableServiceUri",
    "fullyQualifiedNamespace",
}
# The service a trigger of each type reaches through its connection.
TRIGGER_SERVICE_SETTING = {
    "queueTrigger": "queueServiceUri",
    "blobTrigger": "blobServiceUri",
    "serviceBusTrigger": "fullyQualifiedNamespace",
}
SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
PERCENT_REFERENCE = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")
ENV_MAPPING_NAMES = {"env", "environ", "source"}


# ---------------------------------------------------------------------------------------- code
@dataclass
class EnvironmentReads:
    """Setting names read in the app's code, and connection prefixes read through a loader."""

    names: dict[str, set[str]] = field(default_factory=dict)  # setting -> modules reading it
    prefixes: set[str] = field(default_factory=set)
    modules_reading: set[str] = field(default_factory=set)

    def add(self, name: str, module: str) -> None:
        self.names.setdefault(name, set()).add(module)
        self.modules_reading.add(module)


def _constants(tree: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _is_environment(node: ast.AST) -> bool:
    """An expression that is (or picks between) os.environ and a mapping passed in for it."""
    for part in ast.walk(node):
        if isinstance(part, ast.Attribute) and part.attr == "environ":
            return True
        if isinstance(part, ast.Name) and part.id in ENV_MAPPING_NAMES:
            return True
    return False


def _text(node: ast.AST, constants: Mapping[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _scan_call(call: ast.Call, constants: Mapping[str, str], module: str, reads: EnvironmentReads) -> None:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("get", "getenv") and call.args:
        if func.attr == "getenv" or _is_environment(func.value):
            name = _text(call.args[0], constants)
            if name:
                reads.add(name, module)
        return
    # Helpers called as helper(env, "SETTING", default...) and loaders called with prefix="...".
    if not any(isinstance(arg, ast.Name) and arg.id in ENV_MAPPING_NAMES for arg in call.args):
        return
    for arg in call.args:
        name = _text(arg, constants)
        if name and SETTING_NAME.match(name):
            reads.add(name, module)
    for keyword in call.keywords:
        prefix = _text(keyword.value, constants) if keyword.arg == "prefix" else None
        if prefix:
            reads.prefixes.add(prefix)
            reads.modules_reading.add(module)


def _app_modules() -> Iterator[Path]:
    for package in APP_PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


@cache
def code_reads() -> EnvironmentReads:
    reads = EnvironmentReads()
    for path in _app_modules():
        module = str(path.relative_to(REPO))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                _scan_call(node, constants, module, reads)
            elif isinstance(node, ast.Subscript) and _is_environment(node.value):
                name = _text(node.slice, constants)
                if name and SETTING_NAME.match(name):
                    reads.add(name, module)
    return reads


@cache
def functions() -> tuple[FunctionSpec, ...]:
    """The app's functions, indexed from a private copy of function_app.py.

    An app object can be indexed only once per process, and other tests index `function_app`.
    """
    name = "function_app_for_consistency_checks"
    spec = importlib.util.spec_from_file_location(name, REPO / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return tuple(load_app(name, app_dir=REPO))


def binding_settings() -> set[str]:
    """Settings named with %NAME% in any binding or in host.json."""
    found: set[str] = set()
    for spec in functions():
        for binding in spec.bindings:
            for value in binding.values():
                if isinstance(value, str):
                    found.update(PERCENT_REFERENCE.findall(value))
    found.update(PERCENT_REFERENCE.findall((REPO / "host.json").read_text(encoding="utf-8")))
    return found


def binding_connections() -> dict[str, set[str]]:
    """Connection name -> the trigger/binding types that use it."""
    found: dict[str, set[str]] = {}
    for spec in functions():
        for binding in spec.bindings:
            connection = binding.get("connection")
            if connection:
                found.setdefault(str(connection), set()).add(str(binding["type"]))
    return found


def all_connections() -> set[str]:
    return set(binding_connections()) | code_reads().prefixes


def settings_the_app_reads() -> set[str]:
    return set(code_reads().names) | binding_settings()


# ---------------------------------------------------------------------------------------- infra
def _bicep(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _block(text: str, opener: str) -> str:
    """The text of the bracketed block that starts with `opener` (e.g. "var appSettings = [")."""
    start = text.index(opener) + len(opener) - 1
    depth = 0
    for position in range(start, len(text)):
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(text[position], 0)
        if depth == 0:
            return text[start : position + 1]
    raise AssertionError(f"unclosed block after {opener!r}")


@cache
def infra_app_settings() -> dict[str, str]:
    """App setting name -> the Bicep expression of its value (main.bicep's appSettings list)."""
    block = _block(_bicep(MAIN_BICEP), "var appSettings = [")
    pairs = re.findall(r"name:\s*'([^']+)'\s*\n\s*value:\s*(.+?)\s*\n", block)
    assert pairs, "no app settings found in main.bicep"
    settings = dict(pairs)
    assert len(settings) == len(pairs), "an app setting is declared twice"
    return settings


def bicep_declarations(kind: str, path: Path = MAIN_BICEP) -> dict[str, str]:
    """`param` or `output` names of a Bicep file -> the text after the type (default or value)."""
    found = re.findall(rf"^{kind}\s+(\w+)\s+\w+(?:\s*=\s*(.+))?$", _bicep(path), flags=re.MULTILINE)
    return {name: rest.strip() for name, rest in found}


def bicep_var(name: str, path: Path) -> str:
    match = re.search(rf"^var\s+{name}\s*=\s*'([^']*)'", _bicep(path), flags=re.MULTILINE)
    assert match, f"var {name} not found in {path.name}"
    return match.group(1)


def _literal(expression: str) -> str | None:
    match = re.fullmatch(r"'([^']*)'", expression.strip())
    return match.group(1) if match else None


def param_defaults() -> dict[str, str]:
    defaults: dict[str, str] = {}
    for name, default in bicep_declarations("param").items():
        if default:
            defaults[name] = _literal(default) if _literal(default) is not None else default
    return defaults


PLACEHOLDERS = {
    "storage.outputs.blobEndpoint": "https://stexample.blob.core.windows.net/",
    "storage.outputs.queueEndpoint": "https://stexample.queue.core.windows.net/",
    "storage.outputs.tableEndpoint": "https://stexample.table.core.windows.net/",
    "serviceBus.outputs.fullyQualifiedNamespace": "sb-example.servicebus.windows.net",
    "clientId": "11111111-2222-3333-4444-555555555555",
}


def evaluate(expression: str, params: Mapping[str, str]) -> str:
    """The value a setting gets with the parameter defaults (resource outputs as placeholders).

    Anything else (Key Vault references of secrets not given, computed endpoints) counts as empty,
    which the app treats as "not set".
    """
    literal = _literal(expression)
    if literal is not None:
        return literal
    choice = re.fullmatch(r"(\w+) == '([^']*)' \? '([^']*)' : '([^']*)'", expression)
    if choice:
        name, expected, when_true, when_false = choice.groups()
        return when_true if params[name] == expected else when_false
    number = re.fullmatch(r"string\((\w+)\)", expression)
    if number:
        return params[number.group(1)]
    if expression in params:
        return params[expression]
    return PLACEHOLDERS.get(expression, "")


def infra_environment() -> dict[str, str]:
    params = param_defaults()
    return {name: evaluate(expr, params) for name, expr in infra_app_settings().items()}


@cache
def local_settings() -> dict[str, str]:
    document = json.loads((REPO / "local.settings.json.sample").read_text(encoding="utf-8"))
    return dict(document["Values"])


def function_names() -> set[str]:
    return {spec.name for spec in functions()}


def _host_or_connection_setting(name: str) -> bool:
    if name in HOST_SETTINGS or name.startswith(HOST_SETTING_PREFIXES):
        return True
    prefix, _, suffix = name.partition("__")
    return prefix in all_connections() and suffix in CONNECTION_SUFFIXES


# ---------------------------------------------------------------------------------------- tests
def test_the_scan_finds_the_settings_the_code_reads() -> None:
    reads = code_reads()

    for name in ("GENERATION_PROVIDER", "JOB_RETENTION_DAYS", "AZURE_CLIENT_ID", "JOBS_QUEUE_KIND"):
        assert "jobs/config/settings.py" in reads.names.get(name, set()), name
    assert reads.prefixes == {"GENERATION_STORAGE", "ServiceBusConnection"}
    assert {"JOBS_QUEUE_NAME", "TASK_HUB_NAME"} <= binding_settings()
    assert binding_connections() == {
        "GENERATION_STORAGE": {"queueTrigger"},
        "ServiceBusConnection": {"serviceBusTrigger"},
    }


def test_every_module_that_touches_the_environment_is_understood() -> None:
    reads = code_reads()
    for path in _app_modules():
        module = str(path.relative_to(REPO))
        source = path.read_text(encoding="utf-8")
        if "os.environ" in source or "getenv(" in source:
            assert module in reads.modules_reading, f"{module} reads the environment in a way the scan misses"


def test_every_setting_the_code_reads_is_an_infra_app_setting() -> None:
    missing = settings_the_app_reads() - set(infra_app_settings()) - PLATFORM_SETTINGS
    assert not missing, f"read by the app but not set by infra/main.bicep: {sorted(missing)}"


def test_every_setting_the_code_reads_is_in_the_local_settings_sample() -> None:
    missing = settings_the_app_reads() - set(local_settings()) - PLATFORM_SETTINGS
    assert not missing, f"read by the app but missing from local.settings.json.sample: {sorted(missing)}"


def test_every_infra_app_setting_is_read_by_the_app_or_the_host() -> None:
    disabled = {f"AzureWebJobs.{name}.Disabled" for name in function_names()}
    unknown = {
        name for name in infra_app_settings()
        if name not in settings_the_app_reads()
        and name not in disabled
        and not _host_or_connection_setting(name)
    }
    assert not unknown, f"set by infra but read by nothing: {sorted(unknown)}"


def test_every_local_setting_is_read_by_the_app_the_host_or_devhost() -> None:
    # The host's per-function switch (the sample picks the queue kind's trigger, as infra does).
    disabled = {f"AzureWebJobs.{name}.Disabled" for name in function_names()}
    unknown = {
        name for name in local_settings()
        if name not in settings_the_app_reads()
        and name not in disabled
        and name not in LOCAL_ONLY_SETTINGS
        and not name.startswith(LOCAL_ONLY_PREFIXES)
        and not _host_or_connection_setting(name)
        and name not in all_connections()
    }
    assert not unknown, f"in local.settings.json.sample but read by nothing: {sorted(unknown)}"


@pytest.mark.parametrize("connection", ["GENERATION_STORAGE", "ServiceBusConnection", "AzureWebJobsStorage"])
def test_connections_are_identity_based_with_the_user_assigned_identity(connection: str) -> None:
    settings = infra_app_settings()

    assert connection not in settings, "a connection string would carry a secret"
    assert _literal(settings[f"{connection}__credential"]) == "managedidentity"
    assert settings[f"{connection}__clientId"] == "clientId"
    assert settings["AZURE_CLIENT_ID"] == "clientId"


def test_each_binding_connection_reaches_its_service() -> None:
    settings = infra_app_settings()
    for connection, types in binding_connections().items():
        for binding_type in types:
            suffix = TRIGGER_SERVICE_SETTING[binding_type]
            assert f"{connection}__{suffix}" in settings, f"{binding_type} on {connection} needs __{suffix}"
        local = local_settings()
        assert connection in local or any(name.startswith(f"{connection}__") for name in local), connection


def test_the_host_storage_reaches_blobs_queues_and_tables() -> None:
    # Durable Functions keeps its task hub in all three services.
    for service in ("blobServiceUri", "queueServiceUri", "tableServiceUri"):
        assert f"AzureWebJobsStorage__{service}" in infra_app_settings()


def test_the_app_loads_the_settings_infra_gives_it() -> None:
    environment = infra_environment()
    params = param_defaults()

    settings = load_settings(environment)

    assert settings.storage.uses_identity
    assert settings.storage.blob_service_uri == PLACEHOLDERS["storage.outputs.blobEndpoint"].rstrip("/")
    assert settings.storage.table_service_uri == PLACEHOLDERS["storage.outputs.tableEndpoint"].rstrip("/")
    assert settings.storage.queue_service_uri == PLACEHOLDERS["storage.outputs.queueEndpoint"].rstrip("/")
    assert settings.queue_kind == params["jobsQueueKind"] == "servicebus"
    assert settings.servicebus is not None
    namespace = PLACEHOLDERS["serviceBus.outputs.fullyQualifiedNamespace"]
    assert settings.servicebus.fully_qualified_namespace == namespace
    assert settings.servicebus_connection is None
    assert settings.queue_name == names.DEFAULT_QUEUE_NAME
    assert settings.azure_client_id == PLACEHOLDERS["clientId"]
    assert settings.provider == params["generationProvider"]
    assert settings.generation_deadline_seconds == int(params["generationDeadlineSeconds"])
    assert settings.job_retention_days == int(params["jobRetentionDays"])
    assert settings.conversation_max_tokens == int(params["conversationMaxTokens"])
    assert settings.conversation_max_turns == int(params["conversationMaxTurns"])
    assert settings.openai_api_key is None and settings.line_channel_secret is None
    assert settings.quota_limits.unlimited  # the template's default: no quotas


def test_only_the_trigger_of_the_queue_kind_in_use_runs() -> None:
    settings = infra_app_settings()
    disabled = {name for name in settings if name.startswith("AzureWebJobs.")}
    assert disabled == {
        "AzureWebJobs.start_generation_from_queue.Disabled",
        "AzureWebJobs.start_generation_from_service_bus.Disabled",
        "AzureWebJobs.review_job.Disabled",
    }
    assert {name.split(".")[1] for name in disabled} <= function_names()
    for kind, queue_off, bus_off in (("servicebus", "true", "false"), ("storage", "false", "true")):
        params = {**param_defaults(), "jobsQueueKind": kind}
        queue_setting = settings["AzureWebJobs.start_generation_from_queue.Disabled"]
        bus_setting = settings["AzureWebJobs.start_generation_from_service_bus.Disabled"]
        assert (evaluate(queue_setting, params), evaluate(bus_setting, params)) == (queue_off, bus_off)


def test_the_review_decisions_queue_is_polled_only_when_review_is_on() -> None:
    setting = infra_app_settings()["AzureWebJobs.review_job.Disabled"]
    for mode, off in (("off", "true"), ("flagged", "false"), ("all", "false")):
        assert evaluate(setting, {**param_defaults(), "reviewMode": mode}) == off


def test_secrets_are_key_vault_references_or_empty() -> None:
    main = _bicep(MAIN_BICEP)
    for setting, variable in (
        ("LINE_CHANNEL_SECRET", "lineChannelSecretSetting"),
        ("LINE_CHANNEL_ACCESS_TOKEN", "lineChannelAccessTokenSetting"),
        ("OPENAI_API_KEY", "openAiApiKeySetting"),
        ("AZURE_OPENAI_API_KEY", "azureOpenAiApiKeySetting"),
        ("CALLBACK_SIGNING_SECRET", "callbackSigningSecretSetting"),
    ):
        assert infra_app_settings()[setting] == variable
        definition = re.search(rf"^var {variable} = (.+)$", main, flags=re.MULTILINE)
        assert definition, variable
        assert "? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs." in definition.group(1)
    for secret in ("lineChannelSecret", "lineChannelAccessToken", "openAiApiKey", "azureOpenAiApiKey",
                   "callbackSigningSecret"):
        declaration = rf"@secure\(\)\n(?:@description\([^\n]*\)\n)?param {secret} string = ''"
        assert re.search(declaration, main), secret
    assert "keyVaultReferenceIdentity: identityId" in _bicep(INFRA / "modules" / "functionapp.bicep")
    # Loopback HTTP callbacks are for local development: never on in Azure.
    assert infra_app_settings()["CALLBACK_ALLOW_LOOPBACK_HTTP"] == "'false'"


def test_storage_names_match_the_code() -> None:
    storage = _bicep(INFRA / "modules" / "storage.bicep")
    tables = re.findall(r"'(\w+)'", _block(storage, "var tableNames = ["))

    assert set(tables) == {
        names.JOBS_TABLE, names.JOB_INDEX_TABLE, names.IDEMPOTENCY_TABLE, names.WEBHOOK_EVENTS_TABLE,
        names.QUOTAS_TABLE, names.PACING_TABLE,
        names.DELETIONS_TABLE,
    }
    assert bicep_var("outputsContainerName", INFRA / "modules" / "storage.bicep") == names.OUTPUTS_CONTAINER
    assert bicep_var("jobsQueueName", MAIN_BICEP) == names.DEFAULT_QUEUE_NAME
    entries = _block(storage, "var queueNames = [").strip("[]").split()
    # Entries are the queueName parameter (main.bicep passes jobsQueueName) or strings built from it.
    declared = {
        names.DEFAULT_QUEUE_NAME if entry == "queueName"
        else entry.strip("'").replace("${queueName}", names.DEFAULT_QUEUE_NAME)
        for entry in entries
    }
    assert declared == {
        names.DEFAULT_QUEUE_NAME, poison_queue_name(names.DEFAULT_QUEUE_NAME),
        names.REVIEW_DECISIONS_QUEUE, poison_queue_name(names.REVIEW_DECISIONS_QUEUE),
    }
    assert "prefixMatch: [\n                '${outputsContainerName}/'" in storage
    assert "daysAfterModificationGreaterThan: jobRetentionDays" in storage


def test_every_queue_the_app_uses_gets_the_same_name() -> None:
    main = _bicep(MAIN_BICEP)
    storage_module = _block(main, "module storage 'modules/storage.bicep' = {")
    bus_module = _block(main, "module serviceBus 'modules/servicebus.bicep' = {")

    assert "queueName: jobsQueueName" in storage_module
    assert "queueName: jobsQueueName" in bus_module
    assert infra_app_settings()["JOBS_QUEUE_NAME"] == "jobsQueueName"
    assert infra_app_settings()["TASK_HUB_NAME"] == "taskHubName"


def _timespan_seconds(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def _iso_seconds(text: str) -> int:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", text)
    assert match, text
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_service_bus_queue_matches_the_sender_and_host_json() -> None:
    queue = _block(_bicep(INFRA / "modules" / "servicebus.bicep"), "namespaces/queues@2024-01-01' = {")
    host = json.loads((REPO / "host.json").read_text(encoding="utf-8"))["extensions"]
    properties = dict(re.findall(r"(\w+): ('[^']*'|\w+)", queue))

    # The sender sets message id = job id, so a second send inside the window is dropped; maintenance
    # re-sends a lost job's message only after STALE_AFTER, which must fall outside the window.
    assert properties["requiresDuplicateDetection"] == "true"
    window = _iso_seconds(properties["duplicateDetectionHistoryTimeWindow"].strip("'"))
    assert 60 <= window < STALE_AFTER.total_seconds()
    # The same retry budget whichever queue kind runs the app.
    assert int(properties["maxDeliveryCount"]) == host["queues"]["maxDequeueCount"]
    assert properties["deadLetteringOnMessageExpiration"] == "true"
    lock = _iso_seconds(properties["lockDuration"].strip("'"))
    assert _timespan_seconds(host["serviceBus"]["maxAutoLockRenewalDuration"]) > lock


HOST_JSON_KEYS: dict[str, set[str]] = {
    "": {"version", "functionTimeout", "telemetryMode", "logging", "extensions", "extensionBundle"},
    "logging": {"logLevel", "applicationInsights"},
    "logging.applicationInsights": {"samplingSettings"},
    "logging.applicationInsights.samplingSettings": {"isEnabled", "excludedTypes"},
    "extensions": {"http", "queues", "serviceBus", "durableTask"},
    "extensions.http": {"routePrefix"},
    "extensions.queues": {
        "maxPollingInterval", "visibilityTimeout", "batchSize", "newBatchThreshold", "maxDequeueCount",
        "messageEncoding",
    },
    "extensions.serviceBus": {
        "prefetchCount", "maxConcurrentCalls", "autoCompleteMessages", "maxAutoLockRenewalDuration",
    },
    "extensions.durableTask": {
        "hubName", "maxConcurrentActivityFunctions", "maxConcurrentOrchestratorFunctions", "storageProvider",
    },
    "extensions.durableTask.storageProvider": {"maxQueuePollingInterval"},
    "extensionBundle": {"id", "version"},
}


def _sections(document: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, document
    for key, value in document.items():
        child = f"{path}.{key}" if path else key
        if isinstance(value, dict) and child in HOST_JSON_KEYS:
            yield from _sections(value, child)


def test_host_json_uses_documented_property_names() -> None:
    document = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    for path, section in _sections(document):
        unknown = set(section) - HOST_JSON_KEYS[path]
        assert not unknown, f"host.json {path or '(root)'}: unexpected {sorted(unknown)}"

    assert document["version"] == "2.0"
    assert document["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"
    }
    assert document["extensions"]["http"]["routePrefix"] == "api"
    assert document["extensions"]["durableTask"]["hubName"] == "%TASK_HUB_NAME%"
    assert document["extensions"]["queues"]["messageEncoding"] == "base64"
    assert document["extensions"]["serviceBus"]["autoCompleteMessages"] is True
    assert document["telemetryMode"] == "OpenTelemetry"


def test_infra_parameters_file_matches_main_bicep() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = bicep_declarations("param")

    assert set(parameters) == set(declared)
    for name, entry in parameters.items():
        assert re.fullmatch(r"\$\{[A-Z0-9_]+(=[^}]*)?\}", entry["value"]), name


@pytest.mark.parametrize("kind", ["param", "output"])
def test_every_parameter_and_output_is_documented(kind: str) -> None:
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    undocumented = [name for name in bicep_declarations(kind) if f"`{name}`" not in doc]
    assert not undocumented, f"{kind}s missing from docs/deploy.md: {undocumented}"


def test_app_url_outputs_point_at_the_routes() -> None:
    outputs = bicep_declarations("output")
    assert outputs["API_BASE_URL"] == "'${functionApp.outputs.url}/api'"
    assert outputs["LINE_WEBHOOK_URL"] == "'${functionApp.outputs.url}/api/line/webhook'"
    routes = {spec.name: spec.trigger.get("route") for spec in functions()}
    assert routes["line_webhook"] == "line/webhook"


# ------------------------------------------------------------------------- deployment package
def _funcignore_patterns() -> list[str]:
    lines = (REPO / ".funcignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    # Only simple patterns are used, so the matcher below reads them as azd and Core Tools do.
    for pattern in patterns:
        assert re.fullmatch(r"[\w.*-]+/?", pattern), f"keep .funcignore patterns simple: {pattern!r}"
    return patterns


def _ignored(relative: Path, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("/"):
            if pattern[:-1] in relative.parts[:-1]:
                return True
        elif fnmatch.fnmatch(relative.name, pattern):
            return True
    return False


def test_the_deployment_package_holds_everything_the_app_imports() -> None:
    script = (
        "import sys, function_app, pathlib; root = pathlib.Path.cwd().resolve(); "
        "print('\\n'.join(sorted({str(pathlib.Path(m.__file__).resolve().relative_to(root)) "
        "for m in list(sys.modules.values()) if getattr(m, '__file__', None) "
        "and pathlib.Path(m.__file__).resolve().is_relative_to(root) "
        "and '.venv' not in pathlib.Path(m.__file__).parts})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    patterns = _funcignore_patterns()

    assert "function_app.py" in loaded and "generation/operations.py" in loaded
    left_out = [path for path in loaded if _ignored(Path(path), patterns)]
    assert not left_out, f".funcignore leaves out modules the app imports: {left_out}"
    for needed in ("function_app.py", "host.json", "requirements.txt", "status/openapi.json"):
        assert not _ignored(Path(needed), patterns), needed
    for local_only in ("tests/infra/test_consistency.py", "devhost/functions.py", "infra/main.bicep",
                       "local.settings.json", ".venv/pyvenv.cfg", "node_modules/x.js"):
        assert _ignored(Path(local_only), patterns), local_only


# ------------------------------------------------------------------- Bicep wiring (no compiler here)
def _without_strings_and_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)


@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.bicep")), ids=lambda path: path.name)
def test_bicep_brackets_balance(path: Path) -> None:
    text = _without_strings_and_comments(_bicep(path))
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for position, char in enumerate(text):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], f"{path.name}: unbalanced {char!r} at {position}"
    assert not stack, f"{path.name}: unclosed {stack}"


def _modules() -> dict[str, tuple[Path, str]]:
    """Module symbol -> (its file, the text of its block) for every module main.bicep uses."""
    text = _bicep(MAIN_BICEP)
    found = {}
    for match in re.finditer(r"^module (\w+) '([^']+)' = (?:if \(.+\) )?\{$", text, flags=re.MULTILINE):
        found[match.group(1)] = (INFRA / match.group(2), _block(text[match.start():], match.group(0)))
    return found


def test_modules_get_exactly_the_parameters_they_declare() -> None:
    modules = _modules()
    assert len(modules) == 10
    for symbol, (path, block) in modules.items():
        assert path.is_file(), path
        passed = set(re.findall(r"^    (\w+):", _block(block, "params: {"), flags=re.MULTILINE))
        declared = bicep_declarations("param", path)
        required = {name for name, default in declared.items() if not default}
        assert passed <= set(declared), f"{symbol}: unknown parameters {sorted(passed - set(declared))}"
        assert required <= passed, f"{symbol}: missing parameters {sorted(required - passed)}"


def test_module_outputs_that_main_reads_exist() -> None:
    modules = _modules()
    for symbol, output in set(re.findall(r"\b(\w+)\.outputs\.(\w+)", _bicep(MAIN_BICEP))):
        assert symbol in modules, symbol
        assert output in bicep_declarations("output", modules[symbol][0]), f"{symbol}.outputs.{output}"


def test_the_contracts_name_functions_the_app_registers() -> None:
    registered = {spec.name: spec.trigger_type for spec in functions()}
    expected = {
        contracts.GENERATION_ORCHESTRATOR: "orchestrationTrigger",
        contracts.DELIVER_ORCHESTRATOR: "orchestrationTrigger",
        contracts.MARK_JOB_RUNNING: "activityTrigger",
        contracts.GENERATE_OUTPUT: "activityTrigger",
        contracts.FINALIZE_JOB: "activityTrigger",
        **dict.fromkeys(contracts.DELIVERY_ACTIVITIES.values(), "activityTrigger"),
    }
    assert {name: registered.get(name) for name in expected} == expected
    assert set(contracts.DELIVERY_ACTIVITIES) < {channel.value for channel in Channel}
