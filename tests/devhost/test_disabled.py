"""`AzureWebJobs.<name>.Disabled`: Azure's per-function switch, honoured by devhost.

As on Azure, a disabled function's trigger is off (an HTTP route answers 404, a timer does not fire),
while the admin API (the portal's Test/Run) still runs it.
"""

from __future__ import annotations

import json

from testing.devhost import DevhostProcess
from testing.http import call
from tests.devhost.sample_app.support import SAMPLE_APP, Results, sample_settings


def test_disabled_functions_are_not_triggered_but_run_from_the_admin_api(
    azurite_connection_string: str,
) -> None:
    settings = sample_settings(
        azurite_connection_string,
        # configured_timer fires every second: its runs show the timers have started.
        SAMPLE_SCHEDULE="* * * * * *",
        **{"AzureWebJobs.echo_digest.Disabled": "true", "AzureWebJobs.yearly_timer.Disabled": "1"},
    )
    results = Results.open(settings)
    try:
        with DevhostProcess(app_dir=SAMPLE_APP, settings=settings) as host:
            assert call("POST", f"{host.base_url}/api/echo", body=b"x").status == 404
            assert call("GET", f"{host.base_url}/api/anonymous").status == 200
            # yearly_timer would run at start-up, before configured_timer's first occurrence; two runs
            # of that one (a second apart) mean a start-up run of yearly_timer would have been seen.
            results.wait_for(2, function="configured_timer")
            assert results.matching(function="yearly_timer") == []

            body = json.dumps({"input": ""}).encode()
            assert call("POST", f"{host.base_url}/admin/functions/yearly_timer", body=body).status == 202
            [run] = results.wait_for(function="yearly_timer")
            log = host.output()
    finally:
        results.delete_queue()
    assert run["past_due"] is False
    assert "[disabled by AzureWebJobs.yearly_timer.Disabled]" in log
    assert "[disabled by AzureWebJobs.echo_digest.Disabled]" in log
