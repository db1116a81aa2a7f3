"""What an operator does to a running devhost: run a timer function now, read how its runs ended."""

from __future__ import annotations

import re

from testing.devhost import DevhostProcess
from testing.http import call

MASTER_KEY = "operator-master-key"


def run_function(app: DevhostProcess, name: str, *, key: str = MASTER_KEY) -> None:
    """What the portal's Test/Run does: POST /admin/functions/{name} with the master key."""
    reply = call("POST", f"{app.base_url}/admin/functions/{name}", json_body={"input": ""},
                 headers={"x-functions-key": key}, timeout=10)
    assert reply.status == 202, reply.text


def finished_runs(app: DevhostProcess, function: str) -> list[str]:
    """The "<function> finished: ..." summary lines the app logged, oldest first."""
    return re.findall(rf"{function} finished: [^\n]*", app.output())
