"""What a real Flex Consumption deploy needs of infra/ and host.json, checked offline (no Bicep compiler).

Each test names the platform rule it keeps: Flex Consumption's scale limits and regions, Microsoft's
Durable-Functions-on-Flex guidance, the Service Bus role the scale controller reads with, and the
hardening the Bicep scan (`make lint`, .checkov.yaml) asks for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = (INFRA / "main.bicep").read_text(encoding="utf-8")
FUNCTION_APP = (INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
KEY_VAULT = (INFRA / "modules" / "keyvault.bicep").read_text(encoding="utf-8")
ROLES = (INFRA / "modules" / "roles.bicep").read_text(encoding="utf-8")
HOST = json.loads((REPO / "host.json").read_text(encoding="utf-8"))

SERVICE_BUS_DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"


def _decorators(text: str, param: str) -> str:
    """The decorator lines (and comments) right above `param <name>`."""
    lines = text[: text.index(f"\nparam {param} ")].splitlines()
    above: list[str] = []
    for line in reversed(lines):
        if not line.startswith(("@", "//", "  ", "])", "})")):
            break
        above.append(line)
    return "\n".join(reversed(above))


def _timespan_seconds(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_instance_count_stays_inside_what_flex_accepts() -> None:
    for text in (MAIN, FUNCTION_APP):
        decorators = _decorators(text, "maximumInstanceCount")
        assert "@minValue(40)" in decorators and "@maxValue(1000)" in decorators
    default = re.search(r"^param maximumInstanceCount int = (\d+)$", MAIN, flags=re.MULTILINE)
    assert default and 40 <= int(default.group(1)) <= 1000


def test_location_is_one_of_the_flex_regions() -> None:
    decorators = _decorators(MAIN, "location")
    allowed = re.findall(r"^  '([a-z0-9]+)'$", decorators, flags=re.MULTILINE)
    assert len(allowed) >= 20 and len(set(allowed)) == len(allowed)
    # The region docs/deploy.md uses in its example must deploy.
    assert "eastus2" in allowed
    # Regions without Flex Consumption are refused before anything is created.
    assert "westindia" not in allowed and "chinaeast2" not in allowed


def test_durable_group_always_ready_instances_are_a_parameter_off_by_default() -> None:
    assert re.search(r"^param durableAlwaysReadyInstances int = 0$", MAIN, flags=re.MULTILINE)
    assert "durableAlwaysReadyInstances: durableAlwaysReadyInstances" in MAIN
    scale = FUNCTION_APP[FUNCTION_APP.index("scaleAndConcurrency: {"):]
    assert "alwaysReady: durableAlwaysReadyInstances > 0 ?" in scale
    assert "name: 'durable'" in scale and "instanceCount: durableAlwaysReadyInstances" in scale
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["durableAlwaysReadyInstances"]["value"] == "${DURABLE_ALWAYS_READY_INSTANCES=0}"


def test_task_hub_polling_follows_the_flex_guidance() -> None:
    interval = HOST["extensions"]["durableTask"]["storageProvider"]["maxQueuePollingInterval"]
    # Microsoft's guidance for Durable Functions on Flex: 10 seconds or less (the default is 30).
    assert 0 < _timespan_seconds(interval) <= 10


def test_service_bus_identity_can_read_queue_runtime_properties() -> None:
    assert f"var serviceBusDataOwner = '{SERVICE_BUS_DATA_OWNER}'" in ROLES
    roles = ROLES[ROLES.index("var serviceBusRoles = ["):]
    assert "serviceBusDataOwner" in roles[: roles.index("]")]
    assignment = ROLES[ROLES.index("resource serviceBusAssignments"):]
    assert "for roleId in serviceBusRoles" in assignment.splitlines()[0]
    assert "scope: serviceBus\n" in assignment[: assignment.index("}]")]


def test_function_app_is_hardened() -> None:
    site = FUNCTION_APP[FUNCTION_APP.index("siteConfig: {"):]
    site = site[: site.index("}")]
    assert "ftpsState: 'Disabled'" in site
    assert "http20Enabled: true" in site
    assert "minTlsVersion: '1.2'" in site
    health = re.search(r"healthCheckPath: '([^']+)'", site)
    assert health, "no health check path"
    prefix = HOST["extensions"]["http"]["routePrefix"]
    assert health.group(1) == f"/{prefix}/health"
    for kind in ("ftp", "scm"):
        policy = re.search(
            rf"basicPublishingCredentialsPolicies@[\d-]+' = \{{\n  parent: app\n  name: '{kind}'\n"
            r"  properties: \{\n    allow: false\n", FUNCTION_APP,
        )
        assert policy, f"basic publishing credentials ({kind}) are not turned off"


def test_the_health_check_path_is_an_anonymous_route() -> None:
    blueprint = (REPO / "status" / "blueprint.py").read_text(encoding="utf-8")
    assert re.search(r'route="health", methods=\["GET"\], auth_level=func\.AuthLevel\.ANONYMOUS', blueprint)


def test_key_vault_keeps_deleted_secrets_recoverable() -> None:
    vault = KEY_VAULT[KEY_VAULT.index("resource vault "):]
    vault = vault[: vault.index("\n}\n")]
    assert "enableSoftDelete: true" in vault and "enablePurgeProtection: true" in vault
    secrets = re.findall(r"resource \w+ 'Microsoft\.KeyVault/vaults/secrets@[^']+' = [^\n]*\{\n(.*?)\n\}",
                         KEY_VAULT, flags=re.DOTALL)
    assert len(secrets) == 5  # LINE secret and token, OpenAI and Azure OpenAI keys, callback secret
    for body in secrets:
        assert "contentType: 'text/plain'" in body


def test_every_skipped_scan_check_says_why() -> None:
    lines = (REPO / ".checkov.yaml").read_text(encoding="utf-8").splitlines()
    skipped = []
    block_reason = False  # a comment block stands above the current group of entries
    for line in lines[lines.index("skip-check:") + 1:]:
        if line.startswith("  #"):
            block_reason = True
        elif line.startswith("  - "):
            assert re.fullmatch(r"  - CKV_AZURE_\d+( +# .+)?", line), line
            assert block_reason or "#" in line, f"{line.strip()} is skipped without a reason"
            skipped.append(line.split()[1])
        else:
            break
    assert skipped and len(set(skipped)) == len(skipped)
