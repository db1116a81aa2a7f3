"""Durable Functions for devhost: orchestrators replayed by the real SDK, task hub in Table storage."""

from devhost.durable.engine import DurableEngine

__all__ = ["DurableEngine"]
