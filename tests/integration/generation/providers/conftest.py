"""One fake OpenAI/Azure OpenAI server per module, reset between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing.fakes.openai_server import FakeOpenAI


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()
