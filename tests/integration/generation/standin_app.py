"""A stand-in for the generation orchestrator, so maintenance meets real orchestration instances.

Started with input {"finish": true} it completes at once; otherwise it runs until terminated.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name("generation_orchestrator")
@app.orchestration_trigger(context_name="context")
def generation_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    if (context.get_input() or {}).get("finish"):
        return "finished"
    yield context.wait_for_external_event("never")
    return "released"
