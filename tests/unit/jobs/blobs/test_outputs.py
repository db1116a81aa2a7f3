"""SAS policy: when a cached user-delegation key may still sign a URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from jobs.blobs.outputs import AccountKeySigner, delegation_key_usable, parse_key_time

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_key_is_reused_while_it_outlives_the_url() -> None:
    key_expiry = NOW + timedelta(days=6)
    assert delegation_key_usable(key_expiry, now=NOW, ttl=timedelta(minutes=5))
    assert delegation_key_usable(key_expiry, now=NOW, ttl=timedelta(days=6))
    # A week-long URL may come out up to an hour short rather than fetch a key per URL.
    assert delegation_key_usable(NOW + timedelta(hours=167, minutes=30), now=NOW, ttl=timedelta(hours=168))


def test_a_key_is_replaced_when_it_would_cut_the_url_short() -> None:
    key_expiry = NOW + timedelta(days=6)
    assert not delegation_key_usable(key_expiry, now=NOW, ttl=timedelta(hours=168))
    assert not delegation_key_usable(NOW - timedelta(seconds=1), now=NOW, ttl=timedelta(minutes=1))
    assert not delegation_key_usable(NOW + timedelta(minutes=4), now=NOW, ttl=timedelta(minutes=5))


def test_key_times_parse_as_utc() -> None:
    assert parse_key_time("2026-03-08T11:55:00Z") == datetime(2026, 3, 8, 11, 55, tzinfo=UTC)
    assert parse_key_time(None) < NOW


async def test_account_key_sas_is_read_only_and_expires() -> None:
    signer = AccountKeySigner("devstoreaccount1", "a2V5")
    query = parse_qs(await signer.sign("outputs", "job/0.png", ttl=timedelta(hours=1)))
    assert query["sp"] == ["r"]
    assert query["sr"] == ["b"]
    expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    assert timedelta(minutes=55) < expiry - datetime.now(UTC) <= timedelta(hours=1)
