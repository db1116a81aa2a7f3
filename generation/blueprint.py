"""Generation functions: the submit endpoint, the queue triggers, the orchestrators and activities."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func

from generation import activities, orchestration, starter, submit
from jobs.domain.messages import read_job_message
from jobs.domain.models import JobError

bp = df.Blueprint()


@bp.function_name("submit_generation")
@bp.route(route="generations", methods=["POST"])
async def submit_generation(req: func.HttpRequest) -> func.HttpResponse:
    return await submit.submit_generation(req)


@bp.function_name("start_generation_from_queue")
@bp.queue_trigger(arg_name="msg", queue_name="%JOBS_QUEUE_NAME%", connection="GENERATION_STORAGE")
@bp.durable_client_input(client_name="client")
async def start_generation_from_queue(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    await starter.start_generation(client, read_job_message(msg.get_body()))


@bp.function_name("start_generation_from_service_bus")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%JOBS_QUEUE_NAME%", connection="ServiceBusConnection"
)
@bp.durable_client_input(client_name="client")
async def start_generation_from_service_bus(
    msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient
) -> None:
    await starter.start_generation(client, read_job_message(msg.get_body()))


@bp.function_name("generation_orchestrator")
@bp.orchestration_trigger(context_name="context")
def generation_orchestrator(context: df.DurableOrchestrationContext) -> Any:
    return orchestration.generation_orchestrator(context)


@bp.function_name("deliver_job")
@bp.orchestration_trigger(context_name="context")
def deliver_job(context: df.DurableOrchestrationContext) -> Any:
    return orchestration.deliver_job(context)


@bp.function_name("mark_job_running")
@bp.activity_trigger(input_name="payload")
async def mark_job_running(payload: dict[str, Any]) -> dict[str, Any]:
    return await activities.mark_job_running(payload["job_id"])


@bp.function_name("generate_output")
@bp.activity_trigger(input_name="payload")
async def generate_output(payload: dict[str, Any]) -> dict[str, Any]:
    return await activities.generate_output(payload["job_id"], int(payload["index"]))


@bp.function_name("finalize_job")
@bp.activity_trigger(input_name="payload")
async def finalize_job(payload: dict[str, Any]) -> dict[str, Any]:
    failures = {int(index): JobError(**error) for index, error in payload.get("failures", {}).items()}
    return await activities.finalize_job(payload["job_id"], payload["outcome"], failures)
