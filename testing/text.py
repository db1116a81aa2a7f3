"""Text measures the tests check limits with."""

from __future__ import annotations


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units, as Table Storage and LINE count text."""
    return len(text.encode("utf-16-le")) // 2
