"""DELETE right after POST, at every moment of a job's life, leaves nothing behind.

Jobs of two outputs are deleted 0 to 150 ms after they were accepted: while queued (the message not
yet taken, or its orchestration just starting), while running (outputs being stored), or just
after they finished. Then, once maintenance has run, no row, index entry, blob, orchestration
instance or history of any of them remains. The app runs on an Azurite of its own, since maintenance
acts on every job in the account.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devhost.azurite import start_azurite
from testing.devhost import free_port, wait_for
from testing.fixtures import StartApp
from testing.http import call
from testing.leftovers import snapshot
from testing.operator import MASTER_KEY, finished_runs, run_function

pytestmark = pytest.mark.e2e

ROUNDS = 20
MAX_DELAY_SECONDS = 0.150


@pytest.fixture(scope="module")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Azurite on free ports (overrides the shared one for this module's app)."""
    ports = (free_port(), free_port(), free_port())
    azurite = start_azurite(str(tmp_path_factory.mktemp("azurite")), ports=ports)
    yield azurite.connection_string
    azurite.stop()


def _instance_settled(base_url: str, instance_id: str) -> bool:
    """True when the instance is absent or has ended (nothing can still write for it)."""
    reply = call("GET", f"{base_url}/runtime/webhooks/durabletask/instances/{instance_id}",
                 headers={"x-functions-key": MASTER_KEY}, timeout=5)
    return reply.status == 404 or (
        reply.status == 200 and reply.json()["runtimeStatus"] not in ("Pending", "Running"))


def test_delete_at_any_moment_leaves_nothing(
    start_app: StartApp, app_settings: dict[str, str], azurite_connection_string: str
) -> None:
    app = start_app(DEVHOST_MASTER_KEY=MASTER_KEY, OFFLINE_LATENCY_MS="40")
    headers = {"x-functions-key": MASTER_KEY}
    job_ids: list[str] = []
    for round_ in range(ROUNDS):
        accepted = call("POST", f"{app.base_url}/api/generations",
                        json_body={"prompt": f"race {round_}", "n": 2}, headers=headers, timeout=10)
        assert accepted.status == 202, accepted.text
        job_ids.append(accepted.json()["id"])
        time.sleep(MAX_DELAY_SECONDS * round_ / (ROUNDS - 1))
        job_url = f"{app.base_url}/api/generations/{job_ids[-1]}"
        deleted = call("DELETE", job_url, headers=headers, timeout=30)
        assert deleted.status == 204, deleted.text
        gone = call("GET", job_url, headers=headers, timeout=10)
        assert gone.status == 404, gone.text

    # Orchestrations a message still in flight started after the delete end at their first step.
    for job_id in job_ids:
        wait_for(lambda job_id=job_id: _instance_settled(app.base_url, job_id), timeout=30)
    left_before = snapshot(azurite_connection_string, task_hub=app_settings["TASK_HUB_NAME"]).about(job_ids)
    for runs in (1, 2):
        run_function(app, "maintenance")
        wait_for(lambda runs=runs: len(finished_runs(app, "maintenance")) >= runs, timeout=60)
    left = snapshot(azurite_connection_string, task_hub=app_settings["TASK_HUB_NAME"]).about(job_ids)

    print(f"left right after the deletes (finished by maintenance): {left_before}")
    assert left == {}, f"left behind after maintenance: {left}"
    runs = finished_runs(app, "maintenance")
    assert all("errors=0" in line for line in runs), runs
    if left_before:
        assert "deletion finished by maintenance" in app.output()
