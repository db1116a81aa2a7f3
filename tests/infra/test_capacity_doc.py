"""docs/capacity.md shows the table scripts/capacity.py prints, so the two cannot drift apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_capacity_doc_shows_the_scripts_table() -> None:
    printed = subprocess.run(
        [sys.executable, "scripts/capacity.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    doc = (REPO / "docs" / "capacity.md").read_text(encoding="utf-8")
    assert printed.count("\n") >= 4
    assert printed in doc
