"""Generation functions: the submit endpoint, the queue triggers, the orchestrators and activities."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func

from generation import activities, intake, orchestration, review_activities
from generation.callbacks import delivery as callback_delivery
from generation.providers import warm_up
from jobs.contracts import (
    ACQUIRE_PROVIDER_SLOTS,
    FINALIZE_JOB,
    GENERATE_OUTPUT,
    GENERATION_ORCHESTRATOR,
    LEAVE_PROVIDER_QUEUE,
    MARK_JOB_RUNNING,
    REQUEST_REVIEW,
    SEND_CALLBACK,
    SETTLE_REVIEW,
    CallbackAnswer,
    CallbackAttempt,
    FinalizeRequest,
    FinalizeResult,
    JobRef,
    LeaveRequest,
    OutputRequest,
    OutputResult,
    ReviewCheck,
    SettleRequest,
    SettleResult,
    SlotAnswer,
    SlotRequest,
    StartResult,
    error_from_payload,
    read_job_message,
)
from jobs.contracts import DELIVER_ORCHESTRATOR as DELIVER_JOB
from jobs.services import services
from jobs.telemetry import job_span

bp = df.Blueprint()
# A host that will call OpenAI or Azure OpenAI imports their SDK while it starts, not on its first call.
warm_up()


@bp.function_name("submit_generation")
@bp.route(route="generations", methods=["POST"])
async def submit_generation(req: func.HttpRequest) -> func.HttpResponse:
    return await intake.submit_generation(req, services())


@bp.function_name("start_generation_from_queue")
@bp.queue_trigger(arg_name="msg", queue_name="%JOBS_QUEUE_NAME%", connection="GENERATION_STORAGE")
@bp.durable_client_input(client_name="client")
async def start_generation_from_queue(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    await orchestration.start_generation(services(), client, read_job_message(msg.get_body()), paced=_paced())


@bp.function_name("start_generation_from_service_bus")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%JOBS_QUEUE_NAME%", connection="ServiceBusConnection"
)
@bp.durable_client_input(client_name="client")
async def start_generation_from_service_bus(
    msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient
) -> None:
    await orchestration.start_generation(services(), client, read_job_message(msg.get_body()), paced=_paced())


def _paced() -> bool:
    return bool(services().settings.limiters)


@bp.function_name(GENERATION_ORCHESTRATOR)
@bp.orchestration_trigger(context_name="context")
def generation_orchestrator(context: df.DurableOrchestrationContext) -> Any:
    return orchestration.generation_orchestrator(context)


@bp.function_name(DELIVER_JOB)
@bp.orchestration_trigger(context_name="context")
def deliver_job(context: df.DurableOrchestrationContext) -> Any:
    return orchestration.deliver_job(context)


@bp.function_name(MARK_JOB_RUNNING)
@bp.activity_trigger(input_name="payload")
async def mark_job_running(payload: JobRef) -> StartResult:
    with job_span("activity.mark_job_running", payload["job_id"]):
        return await activities.mark_job_running(services(), payload["job_id"])


@bp.function_name(GENERATE_OUTPUT)
@bp.activity_trigger(input_name="payload")
async def generate_output(payload: OutputRequest) -> OutputResult:
    index = int(payload["index"])
    with job_span("activity.generate_output", payload["job_id"], {"index": index}) as span:
        result = await activities.generate_output(services(), payload["job_id"], index,
                                                  not_before=payload.get("not_before"))
        span.set_attribute("result", result["status"])
        return result


@bp.function_name(ACQUIRE_PROVIDER_SLOTS)
@bp.activity_trigger(input_name="payload")
async def acquire_provider_slots(payload: SlotRequest) -> SlotAnswer:
    return await activities.acquire_provider_slots(services(), payload)


@bp.function_name(LEAVE_PROVIDER_QUEUE)
@bp.activity_trigger(input_name="payload")
async def leave_provider_queue(payload: LeaveRequest) -> int:
    return await activities.leave_provider_queue(services(), payload)


@bp.function_name(FINALIZE_JOB)
@bp.activity_trigger(input_name="payload")
async def finalize_job(payload: FinalizeRequest) -> FinalizeResult:
    failures = {int(index): error_from_payload(error) for index, error in payload["failures"].items()}
    last_errors = {int(index): error_from_payload(error)
                   for index, error in payload.get("last_errors", {}).items()}
    with job_span("activity.finalize_job", payload["job_id"], {"outcome": payload["outcome"]}):
        return await activities.finalize_job(
            services(), payload["job_id"], payload["outcome"], failures, last_errors)


@bp.function_name(SEND_CALLBACK)
@bp.activity_trigger(input_name="payload")
async def send_callback(payload: CallbackAttempt) -> CallbackAnswer:
    return await callback_delivery.send_callback(services(), payload)


@bp.function_name(REQUEST_REVIEW)
@bp.activity_trigger(input_name="payload")
async def request_review(payload: JobRef) -> ReviewCheck:
    with job_span("activity.request_review", payload["job_id"]):
        return await review_activities.request_review(services(), payload["job_id"])


@bp.function_name(SETTLE_REVIEW)
@bp.activity_trigger(input_name="payload")
async def settle_review(payload: SettleRequest) -> SettleResult:
    with job_span("activity.settle_review", payload["job_id"], {"timed_out": payload["timed_out"]}):
        return await review_activities.settle_review(
            services(), payload["job_id"], timed_out=bool(payload["timed_out"]))
