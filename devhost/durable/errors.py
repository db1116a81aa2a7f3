"""Errors the engine reports to the HTTP API, which maps them to the extension's status codes."""

from __future__ import annotations


class InstanceExistsError(Exception):
    """Starting an id whose instance is still Pending or Running (HTTP 409)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"An Orchestration instance with the status {status} already exists.")


class BadRequestError(ValueError):
    """A request the extension refuses with HTTP 400."""


class UnknownOrchestratorError(BadRequestError):
    """Starting a name that is not an orchestrator function of the app."""


class InvalidInstanceIdError(BadRequestError):
    """Instance ids are Table partition keys: no '/', '\\', '#', '?' or control characters."""


class InstanceNotFoundError(KeyError):
    """No instance has this id (HTTP 404)."""


class InstanceGoneError(Exception):
    """The instance exists but has finished: raise event and terminate answer 410 Gone."""


class PayloadTooLargeError(BadRequestError):
    """An input or event payload bigger than the task hub stores."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} characters of JSON; devhost stores at most {limit}")
