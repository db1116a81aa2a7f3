"""The OpenAPI 3.1 document of the whole HTTP API, read from `openapi.json` beside this module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


def openapi_document(*, base_url: str) -> dict[str, Any]:
    """The document with `servers` naming the host the client reached (paths carry the /api prefix).

    Read on each call: the endpoint is for tools and people, rarely called, and nothing is kept.
    """
    document: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return {**document, "servers": [{"url": base_url}]}
