"""A running sample app for a test module: the module supplies `settings`, these fixtures the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing.devhost import DevhostProcess
from tests.devhost.sample_app.support import SAMPLE_APP, Results


@pytest.fixture(scope="module")
def results(settings: dict[str, str]) -> Iterator[Results]:
    """The queue the sample functions write their records to, removed after the module."""
    results = Results.open(settings)
    yield results
    results.delete_queue()


@pytest.fixture(scope="module")
def host(settings: dict[str, str], results: Results) -> Iterator[DevhostProcess]:
    """The sample app on devhost with the module's `settings` (after its results queue exists)."""
    with DevhostProcess(app_dir=SAMPLE_APP, settings=settings) as process:
        yield process
