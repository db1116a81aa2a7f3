"""The OpenAPI document and the app agree: schemathesis fuzzes every operation on devhost, then
follows the document's links (create → read → cancel → delete) in a stateful run.

Bounded: a fixed number of examples per operation and a fixed seed, so a run is repeatable;
set SCHEMATHESIS_SEED to explore other inputs (the seed is printed with any failure).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis.specs.openapi.checks  # noqa: F401 - registers the OpenAPI checks
from schemathesis.checks import CHECKS

from testing.devhost import DevhostProcess
from testing.factories_line import CHANNEL_ACCESS_TOKEN, CHANNEL_SECRET
from testing.fakes.webhook_receiver import TEST_SECRET as CALLBACK_SECRET
from testing.product_app import REPO_ROOT, product_settings

pytestmark = pytest.mark.e2e

# Fuzzed examples per operation, beside the coverage phase's boundary values; a deeper run:
# SCHEMATHESIS_MAX_EXAMPLES=200 (with SCHEMATHESIS_SEED for another draw).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261129")
# `--checks all` minus what does not apply here. Listed by name rather than `all`, because `all` also
# switches on a 10 s response time limit:
# - ignored_auth asserts that requests without keys are refused; keys are off on this devhost
#   (their enforcement is tested in tests/devhost/test_auth.py and test_durable_keys.py);
# - the response time limit is a timed assertion, which this project keeps out of tests; `?wait=`
#   holds a request up to 30 s by design, and DELETE waits up to 10 s for a running job to stop.
EXCLUDED_CHECKS = {"ignored_auth"}
CHECK_NAMES = sorted(set(CHECKS.get_all_names()) - EXCLUDED_CHECKS)
HOOKS = "tests.e2e.schemathesis_hooks"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def app(azurite_connection_string: str) -> Iterator[DevhostProcess]:
    """The product app, keys off, offline provider; LINE configured with the dummy secret the hooks
    sign webhook bodies with; callbacks on, with loopback allowed for the hooks' callback URL."""
    settings = product_settings(azurite_connection_string, LINE_CHANNEL_SECRET=CHANNEL_SECRET,
                                LINE_CHANNEL_ACCESS_TOKEN=CHANNEL_ACCESS_TOKEN,
                                CALLBACK_SIGNING_SECRET=CALLBACK_SECRET, CALLBACK_ALLOW_LOOPBACK_HTTP="true")
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as process:
        yield process


@pytest.mark.timeout(600)  # a guard against a hung run only; the run takes one to three minutes
def test_every_operation_conforms_to_the_openapi_document(app: DevhostProcess, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG),
        "run", f"{app.base_url}/api/openapi.json",
        "--checks", ",".join(CHECK_NAMES),
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES), "--seed", SEED,
        # One worker: Python 3.11.7 corrupts its AST recursion counter when two threads parse at once
        # (CPython gh-106905), which Hypothesis does to describe its filters.
        "--workers", "1",
        "--request-timeout", "40", "--generation-database", "none", "--no-color",
        "--report-dir", str(tmp_path),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS,
           "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH"))))}

    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540,
                         check=False)

    report = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis (seed {SEED}) found problems:\n{report[-20_000:]}"
    assert "Stateful" in report and "API Links" in report, report[-5_000:]
