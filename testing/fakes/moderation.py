"""Moderation as the fake OpenAI and Azure OpenAI answer it: OpenAI's `/v1/moderations` body and
Azure OpenAI's content-filter annotations on chat completions.

Text containing the server's `flag_marker` is what both services flag: OpenAI's moderation sets
`flagged` with the `violence` category; Azure lets it through its filter (`filtered: false`) with a
`medium` violence severity on the prompt and on the answer, which is what the review gate holds.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

OPENAI_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
AZURE_CATEGORIES = ("hate", "self_harm", "sexual", "violence")
FLAGGED_CATEGORY = "violence"


def _inputs(payload: dict[str, Any]) -> list[str]:
    value = payload.get("input")
    if isinstance(value, str):
        return [value]
    return [str(item.get("text", "")) if isinstance(item, dict) else str(item) for item in value or []]


def _result(text: str, marker: str) -> dict[str, Any]:
    flagged = bool(marker) and marker in text
    categories = {name: flagged and name == FLAGGED_CATEGORY for name in OPENAI_CATEGORIES}
    scores = {name: 0.91 if on else 0.0001 for name, on in categories.items()}
    return {
        "flagged": flagged,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {name: ["text"] for name in OPENAI_CATEGORIES},
    }


def moderation_body(payload: dict[str, Any], *, marker: str) -> dict[str, Any]:
    """The body of `POST /v1/moderations`: one result per input."""
    return {
        "id": f"modr-{uuid.uuid4().hex[:24]}",
        "model": str(payload.get("model") or "omni-moderation-latest"),
        "results": [_result(text, marker) for text in _inputs(payload)],
        "created": int(time.time()),
    }


def azure_filter_results(text: str, *, marker: str) -> dict[str, Any]:
    """One `content_filter_results` object: `medium` violence (not filtered) when `text` is flagged."""
    flagged = bool(marker) and marker in text
    return {
        name: {"filtered": False, "severity": "medium" if flagged and name == FLAGGED_CATEGORY else "safe"}
        for name in AZURE_CATEGORIES
    }


def annotate_azure_chat(body: dict[str, Any], *, prompt: str, marker: str) -> dict[str, Any]:
    """A chat completion body with Azure's annotations on its prompt and on each answer."""
    prompt_results = {**azure_filter_results(prompt, marker=marker),
                      "jailbreak": {"filtered": False, "detected": False}}
    body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": prompt_results}]
    for choice in body["choices"]:
        answer = str(choice["message"].get("content") or "")
        choice["content_filter_results"] = {
            **azure_filter_results(answer, marker=marker),
            "protected_material_text": {"filtered": False, "detected": False},
        }
    return body
