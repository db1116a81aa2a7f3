"""The composition root's process-wide effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_app_freezes_the_import_time_heap() -> None:
    # In a process of its own: a freeze in the test process would keep every test's objects alive.
    probe = (
        "import gc; before = gc.get_freeze_count(); import function_app; "
        "print(before, gc.get_freeze_count())"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True, timeout=120)
    before, after = map(int, result.stdout.split())
    assert before == 0
    assert after > 50_000  # the SDKs and the app's modules, not a handful of objects
