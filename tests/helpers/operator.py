"""What an operator does to a running devhost: run a timer function now, read how its runs ended."""

from __future__ import annotations

import json
import re
import urllib.request

from tests.helpers.devhost import DevhostProcess

MASTER_KEY = "operator-master-key"
# Local sockets only, never through a proxy the environment may name.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run_function(app: DevhostProcess, name: str, *, key: str = MASTER_KEY) -> None:
    """What the portal's Test/Run does: POST /admin/functions/{name} with the master key."""
    request = urllib.request.Request(
        f"{app.base_url}/admin/functions/{name}",
        data=json.dumps({"input": ""}).encode(),
        headers={"x-functions-key": key, "Content-Type": "application/json"},
        method="POST",
    )
    with DIRECT.open(request, timeout=10) as response:
        assert response.status == 202


def finished_runs(app: DevhostProcess, function: str) -> list[str]:
    """The "<function> finished: ..." summary lines the app logged, oldest first."""
    return re.findall(rf"{function} finished: [^\n]*", app.output())
