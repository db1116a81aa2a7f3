"""`AzureWebJobs.<name>.Disabled`: Azure's per-function switch, honoured by devhost."""

from __future__ import annotations

from tests.devhost.sample_app.support import SAMPLE_APP, call, sample_settings
from tests.helpers.devhost import DevhostProcess


def test_a_disabled_function_is_not_served_and_says_why(azurite_connection_string: str) -> None:
    settings = sample_settings(azurite_connection_string, **{"AzureWebJobs.echo_digest.Disabled": "true"})
    with DevhostProcess(app_dir=SAMPLE_APP, settings=settings) as host:
        assert call("POST", f"{host.base_url}/api/echo", body=b"x").status == 404
        assert call("GET", f"{host.base_url}/api/anonymous").status == 200
        log = host.output()
    reason = "disabled by the setting AzureWebJobs.echo_digest.Disabled"
    assert f"not hosting 'echo_digest' (httpTrigger): {reason}" in log
