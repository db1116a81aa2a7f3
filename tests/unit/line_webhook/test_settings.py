"""The LINE view of the settings."""

from __future__ import annotations

import pytest

from jobs.config.settings import load_settings
from jobs.domain.errors import SettingsError
from line_webhook.settings import line_settings

LOCAL = {"GENERATION_STORAGE": "UseDevelopmentStorage=true"}


def test_line_settings_name_each_missing_setting() -> None:
    with pytest.raises(SettingsError, match="LINE_CHANNEL_SECRET is not set"):
        line_settings(load_settings(LOCAL))
    with pytest.raises(SettingsError, match="LINE_CHANNEL_ACCESS_TOKEN is not set"):
        line_settings(load_settings({**LOCAL, "LINE_CHANNEL_SECRET": "s"}))
    env = {
        **LOCAL,
        "LINE_CHANNEL_SECRET": "s",
        "LINE_CHANNEL_ACCESS_TOKEN": "t",
        "LINE_API_HOST": "http://127.0.0.1:9",
    }
    line = line_settings(load_settings(env))
    assert (line.channel_secret, line.channel_access_token, line.api_host) == ("s", "t", "http://127.0.0.1:9")
    assert line.reply_token_ttl_seconds == 50
