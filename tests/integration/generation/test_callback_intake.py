"""The callback URL at submit: refused (422 naming `callback_url`) unless set up and public."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from generation.intake import InvalidRequestError, with_checked_callback
from jobs.config.settings import load_settings
from jobs.services import Services, build_services
from testing.factories import make_request
from testing.fakes.webhook_receiver import TEST_SECRET


async def _services(connection: str, **settings: str) -> Services:
    return build_services(load_settings({"GENERATION_STORAGE": connection, "JOBS_QUEUE_KIND": "storage",
                                         **settings}))


@pytest.fixture
async def svc(azurite_connection_string: str) -> AsyncIterator[Services]:
    async with await _services(azurite_connection_string, CALLBACK_SIGNING_SECRET=TEST_SECRET) as built:
        yield built


async def test_a_request_without_a_callback_is_unchanged(svc: Services) -> None:
    request = make_request()
    assert await with_checked_callback(request, svc, base_url="https://api.example") is request


async def test_a_public_https_callback_keeps_the_base_of_its_status_urls(svc: Services) -> None:
    request = make_request(callback_url="https://93.184.216.34/hook")
    checked = await with_checked_callback(request, svc, base_url="https://api.example")
    assert (checked.callback_url, checked.callback_base_url) == (request.callback_url, "https://api.example")


async def test_a_refused_address_names_the_field_and_the_reason(svc: Services) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await with_checked_callback(make_request(callback_url="https://10.0.0.1/x"), svc, base_url="b")
    assert refused.value.status == 422
    assert refused.value.errors == [{"field": "callback_url", "message": "resolves to a private address"}]


async def test_without_a_signing_secret_every_callback_is_refused(azurite_connection_string: str) -> None:
    request = make_request(callback_url="https://93.184.216.34/x")
    async with await _services(azurite_connection_string) as bare:
        with pytest.raises(InvalidRequestError) as refused:
            await with_checked_callback(request, bare, base_url="b")
    assert refused.value.status == 422
    assert [error["field"] for error in refused.value.errors] == ["callback_url"]
    assert "CALLBACK_SIGNING_SECRET" in refused.value.detail
