"""The product's Service Bus starter replaced by one that always fails, to fill the dead-letter queue."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name("start_generation_from_service_bus")
@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="%JOBS_QUEUE_NAME%", connection="ServiceBusConnection")
async def start_generation_from_service_bus(msg: func.ServiceBusMessage) -> None:
    raise RuntimeError(f"starter down (message {msg.message_id})")


@app.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
