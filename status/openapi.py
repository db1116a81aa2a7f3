"""The OpenAPI 3.1 document of the whole HTTP API, read once from `openapi.json` beside this module."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


@cache
def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return loaded


def openapi_document(*, base_url: str) -> dict[str, Any]:
    """The document with `servers` naming the host the client reached (paths carry the /api prefix)."""
    return {**_document(), "servers": [{"url": base_url}]}
