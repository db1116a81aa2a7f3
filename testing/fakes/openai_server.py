"""A fake OpenAI and Azure OpenAI over real HTTP, for the parts of the APIs the app uses.

It runs an aiohttp server on 127.0.0.1 in a background thread with its own event loop, so the real
`openai` SDK talks to it through sockets. Faults are injectable (`fail_next`, `slow_next`), prompts
containing `reject_marker` are refused the way each service refuses them, and every request is kept
in `requests` (headers included, so tests can check what authentication was sent).

Run standalone for manual tests: `python -m testing.fakes.openai_server --port 8089`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import io
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from testing.fakes.fault_windows import FaultWindows
from testing.fakes.moderation import annotate_azure_chat, moderation_body
from testing.fakes.rate_limits import (
    ProviderLimits,
    azure_throttle_body,
    openai_throttle_body,
    outage_body,
)

GPT_IMAGE_SIZES = frozenset({"auto", "1024x1024", "1536x1024", "1024x1536"})
DALLE_SIZES = frozenset({"256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"})
DEFAULT_IMAGE_MODELS = ("gpt-image-1", "gpt-image-1-mini", "dall-e-3", "dall-e-2")
DEFAULT_TEXT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1")
# Azure deployment name -> the model behind it.
DEFAULT_DEPLOYMENTS = {"gpt-image-1": "gpt-image-1", "dall-e-3": "dall-e-3", "gpt-4o-mini": "gpt-4o-mini"}
SAFETY_MESSAGE = "Your request was rejected as a result of our safety system."
_FAULT_BODIES = {
    429: ("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_AZURE_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
_AZURE_NO_DEPLOYMENT = {
    "error": {
        "code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again.",
    }
}
_AZURE_BAD_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_BAD_TOKEN = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)
_AZURE_FILTER_RESULT = {"violence": {"filtered": True, "severity": "medium"}}
# Azure refuses images with `inner_error` and chat prompts with `innererror`; both are real.
_AZURE_IMAGE_REJECTED = {
    "error": {
        "code": "content_policy_violation",
        "type": "invalid_request_error",
        "message": SAFETY_MESSAGE,
        "inner_error": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_results": _AZURE_FILTER_RESULT,
        },
    }
}
_AZURE_CHAT_REJECTED = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": _AZURE_FILTER_RESULT},
    }
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass
class _Fault:
    remaining: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0


def error_body(message: str, *, type_: str | None = "invalid_request_error", **extra: Any) -> dict[str, Any]:
    """OpenAI's error shape; `extra` sets `param` and `code`."""
    return {
        "error": {"message": message, "type": type_, "param": extra.get("param"), "code": extra.get("code")}
    }


def _error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=dict(headers or {}))


def _unparsable(payload: Any) -> web.Response | None:
    return None if isinstance(payload, dict) else _error(400, error_body("We could not parse the JSON body."))


_RATE_HEADERS = web.RequestKey("rate_headers", dict)


def _with_rate_headers(request: web.Request, response: web.Response) -> web.Response:
    """Add the admitted call's x-ratelimit-* headers, as every answer of the real services has."""
    response.headers.update(request.get(_RATE_HEADERS) or {})
    return response


def _token_estimate(payload: dict[str, Any]) -> int:
    """Tokens a chat call counts against the limit: its words plus the answer's allowance."""
    messages = [m for m in payload.get("messages") or [] if isinstance(m, dict)]
    words = sum(len(str(message.get("content", "")).split()) for message in messages)
    return words + int(payload.get("max_tokens") or payload.get("max_completion_tokens") or 16)


def _model_not_found(model: Any) -> web.Response:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return _error(404, error_body(message, code="model_not_found"))


def solid_image(width: int, height: int, *, seed: str, image_format: str = "PNG") -> bytes:
    """A cheap single-colour image (a few KB even at 1536x1024)."""
    digest = hashlib.sha256(seed.encode()).digest()
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), tuple(digest[:3])).save(buffer, format=image_format)
    return buffer.getvalue()


class FakeOpenAI:
    """OpenAI (`/v1/...`) and Azure OpenAI (`/openai/deployments/{name}/...`) on one port."""

    def __init__(
        self,
        *,
        api_key: str = "sk-test-dummy",
        azure_api_key: str = "azure-test-dummy",
        azure_bearer_token: str = "entra-test-dummy",
        reject_marker: str = "forbidden",
        flag_marker: str = "flag-me",
        deployments: Mapping[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.azure_api_key = azure_api_key
        self.azure_bearer_token = azure_bearer_token
        self.reject_marker = reject_marker
        self.flag_marker = flag_marker  # text containing it is flagged (testing/fakes/moderation.py)
        self.image_models = set(DEFAULT_IMAGE_MODELS)
        self.text_models = set(DEFAULT_TEXT_MODELS)
        self._initial_deployments = dict(DEFAULT_DEPLOYMENTS if deployments is None else deployments)
        self.deployments = dict(self._initial_deployments)
        self.image_format = "PNG"  # "JPEG" exercises a client's conversion to PNG
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self.windows = FaultWindows()  # outages of a given length: `windows.open("500", seconds=20)`
        self.limits: ProviderLimits | None = None  # `limit_rates` sets it
        self._lock = threading.Lock()
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(self._loop, ready), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        return self

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(self._start_site())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    async def _start_site(self) -> web.AppRunner:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/images/generations", self._openai_images)
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/v1/moderations", self._openai_moderations)
        app.router.add_post("/openai/deployments/{deployment}/images/generations", self._azure_images)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._azure_chat)
        runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self._port).start()
        self._port = runner.addresses[0][1]
        return runner

    def stop(self) -> None:
        loop, thread, stopping = self._loop, self._thread, self._stopping
        if loop is None or thread is None:
            return
        if stopping is not None:
            loop.call_soon_threadsafe(stopping.set)  # ends slow answers at once
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- test controls ---------------------------------------------------------------------
    def fail_next(
        self, status: int, *, times: int = 1, headers: Mapping[str, str] | None = None, body: Any = None
    ) -> None:
        """Answer the next `times` authenticated API calls with `status`."""
        if body is None:
            message, type_, code = _FAULT_BODIES.get(status, (f"Injected HTTP {status}.", "error", None))
            body = error_body(message, type_=type_, code=code)
        with self._lock:
            self._faults.append(
                _Fault(remaining=times, status=status, headers=dict(headers or {}), body=body)
            )

    def slow_next(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` authenticated API calls only after `seconds`."""
        with self._lock:
            self._faults.append(_Fault(remaining=times, delay=seconds))

    def limit_rates(self, **limits: Any) -> ProviderLimits:
        """Enforce per-minute limits (`images_per_minute`, `requests_per_minute`, `tokens_per_minute`,
        `burst_seconds`); returns them, for `start_outage` and the counts in `stats`."""
        self.limits = ProviderLimits(**limits)
        return self.limits

    def reset(self) -> None:
        """Forget requests, pending faults and rate limits; undo changes to deployments, models and
        image format."""
        self.limits = None
        self.windows.reset()
        with self._lock:
            self._faults.clear()
            self.requests.clear()
        self.deployments = dict(self._initial_deployments)
        self.image_models = set(DEFAULT_IMAGE_MODELS)
        self.text_models = set(DEFAULT_TEXT_MODELS)
        self.image_format = "PNG"

    def requests_to(self, path_part: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if path_part in request.path]

    # ---- plumbing --------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> Any:
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        recorded = RecordedRequest(
            request.method, request.path, dict(request.query), dict(request.headers), payload
        )
        with self._lock:
            self.requests.append(recorded)
        return payload

    async def _injected(self) -> web.Response | None:
        outage = await self.windows.answer(lambda message, code: error_body(message, type_="server_error",
                                                                            code=code))
        if outage is not None:
            return outage
        with self._lock:
            fault = self._faults[0] if self._faults else None
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.pop(0)
        if fault is None or fault.delay:
            if fault is not None and self._stopping is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), fault.delay)
            return None
        return _error(fault.status, fault.body, fault.headers)

    def _throttled(
        self, request: web.Request, payload: dict[str, Any], *, openai: bool
    ) -> web.Response | None:
        """The rate limits' answer: None when admitted (its headers go on the answer), else a 429
        or, during an outage, the outage's status."""
        if self.limits is None:
            return None
        chat = request.path.endswith("/chat/completions")
        admission = self.limits.admit(
            images=0 if chat else int(payload.get("n") or 1), tokens=_token_estimate(payload) if chat else 0
        )
        if admission.status == 200:
            request[_RATE_HEADERS] = admission.headers
            self.limits.stats.admitted_prompts.append(str(payload.get("prompt")))
            return None
        if admission.status != 429:
            return _error(admission.status, outage_body())
        if openai:
            body = openai_throttle_body(admission, model=str(payload.get("model")))
        else:
            operation = "ChatCompletions_Create" if chat else "Images_Generations"
            body = azure_throttle_body(admission, operation=operation)
        return _error(429, body, admission.headers)

    def _rejects(self, payload: dict[str, Any]) -> bool:
        text = str(payload.get("prompt", "")) + " ".join(
            str(message.get("content", ""))
            for message in payload.get("messages") or []
            if isinstance(message, dict)
        )
        return bool(self.reject_marker) and self.reject_marker in text

    # ---- OpenAI ----------------------------------------------------------------------------
    def _openai_auth(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        if not key:
            return _error(
                401,
                error_body(
                    "You didn't provide an API key. You need to provide your API key "
                    "in an Authorization header using Bearer auth."
                ),
            )
        if key != self.api_key:
            masked = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"  # OpenAI echoes it like this
            message = f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."
            return _error(401, error_body(message, code="invalid_api_key"))
        return None

    async def _openai_images(self, request: web.Request) -> web.Response:
        payload = await self._record(request)
        refusal = self._openai_auth(request) or _unparsable(payload)
        refusal = refusal or self._throttled(request, payload, openai=True) or await self._injected()
        if refusal is not None:
            return refusal
        model = str(payload.get("model") or "dall-e-2")
        if model not in self.image_models:
            return _model_not_found(model)
        if self._rejects(payload):
            dalle = model.startswith("dall-e")
            code = "content_policy_violation" if dalle else "moderation_blocked"
            kind = "invalid_request_error" if dalle else "image_generation_user_error"
            return _error(400, error_body(SAFETY_MESSAGE, type_=kind, code=code))
        return _with_rate_headers(request, self._image_response(payload, model=model))

    async def _openai_chat(self, request: web.Request) -> web.Response:
        payload = await self._record(request)
        refusal = self._openai_auth(request) or _unparsable(payload)
        refusal = refusal or self._throttled(request, payload, openai=True) or await self._injected()
        if refusal is not None:
            return refusal
        model = str(payload.get("model"))
        if model not in self.text_models:
            return _model_not_found(model)
        # OpenAI's chat models filter the answer, not the prompt: 200 with finish_reason content_filter.
        answer = self._chat_response(payload, model=model, filtered=self._rejects(payload))
        return _with_rate_headers(request, answer)

    async def _openai_moderations(self, request: web.Request) -> web.Response:
        payload = await self._record(request)
        refusal = self._openai_auth(request) or _unparsable(payload) or await self._injected()
        if refusal is not None:
            return refusal
        return web.json_response(moderation_body(payload, marker=self.flag_marker))

    # ---- Azure OpenAI ----------------------------------------------------------------------
    async def _azure_admit(self, request: web.Request, payload: Any) -> web.Response | None:
        """Azure's order: API version and authentication, the deployment, then (injected) throttling."""
        if "api-version" not in request.query:
            return _error(404, _AZURE_NOT_FOUND)
        key = request.headers.get("api-key")
        auth = request.headers.get("Authorization", "")
        if key is not None and key != self.azure_api_key:
            return _error(401, {"error": {"code": "401", "message": _AZURE_BAD_KEY}})
        if key is None and auth != f"Bearer {self.azure_bearer_token}":
            return _error(401, {"error": {"code": "401", "message": _AZURE_BAD_TOKEN}})
        if request.match_info["deployment"] not in self.deployments:
            return _error(404, _AZURE_NO_DEPLOYMENT)
        return (
            _unparsable(payload) or self._throttled(request, payload, openai=False) or await self._injected()
        )

    async def _azure_images(self, request: web.Request) -> web.Response:
        payload = await self._record(request)
        refusal = await self._azure_admit(request, payload)
        if refusal is not None:
            return refusal
        if self._rejects(payload):
            return _error(400, _AZURE_IMAGE_REJECTED)
        answer = self._image_response(payload, model=self.deployments[request.match_info["deployment"]])
        return _with_rate_headers(request, answer)

    async def _azure_chat(self, request: web.Request) -> web.Response:
        payload = await self._record(request)
        refusal = await self._azure_admit(request, payload)
        if refusal is not None:
            return refusal
        if self._rejects(payload):
            return _error(400, _AZURE_CHAT_REJECTED)
        model = self.deployments[request.match_info["deployment"]]
        answer = self._chat_response(payload, model=model, filtered=False, annotated=True)
        return _with_rate_headers(request, answer)

    # ---- successful answers ----------------------------------------------------------------
    def _image_response(self, payload: dict[str, Any], *, model: str) -> web.Response:
        dalle = model.startswith("dall-e")
        size, sizes = str(payload.get("size") or "1024x1024"), DALLE_SIZES if dalle else GPT_IMAGE_SIZES
        if size not in sizes:
            message = f"Invalid value: '{size}'. Supported values are: {', '.join(sorted(sizes))}."
            return _error(400, error_body(message, param="size", code="invalid_value"))
        if not dalle and "response_format" in payload:
            message = "Unknown parameter: 'response_format'."
            return _error(400, error_body(message, param="response_format", code="unknown_parameter"))
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        image = solid_image(width, height, seed=str(payload.get("prompt")), image_format=self.image_format)
        item: dict[str, Any] = {"b64_json": base64.b64encode(image).decode("ascii")}
        if dalle and payload.get("response_format", "url") == "url":
            item = {"url": f"{self.azure_endpoint}/files/{uuid.uuid4().hex}.png", "revised_prompt": None}
        body: dict[str, Any] = {"created": int(time.time()), "data": [item]}
        if not dalle:
            details = {"text_tokens": 20, "image_tokens": 0}
            body["usage"] = {
                "total_tokens": 4180,
                "input_tokens": 20,
                "output_tokens": 4160,
                "input_tokens_details": details,
            }
        return web.json_response(body)

    def _chat_response(self, payload: dict[str, Any], *, model: str, filtered: bool,
                       annotated: bool = False) -> web.Response:
        """A chat completion (`annotated`: with Azure's content-filter annotations)."""
        messages = payload.get("messages") or [{}]
        prompt = str(messages[-1].get("content", ""))
        message = {
            "role": "assistant",
            "refusal": None,
            "content": None if filtered else f"Fake answer to: {prompt}",
        }
        choice = {
            "index": 0,
            "logprobs": None,
            "finish_reason": "content_filter" if filtered else "stop",
            "message": message,
        }
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": 5,
            "total_tokens": len(prompt.split()) + 5,
        }
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [choice],
            "usage": usage,
        }
        if annotated:
            annotate_azure_chat(body, prompt=prompt, marker=self.flag_marker)
        return web.json_response(body)


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI and Azure OpenAI for manual runs.")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default="sk-test-dummy")
    parser.add_argument("--azure-api-key", default="azure-test-dummy")
    args = parser.parse_args()
    with FakeOpenAI(api_key=args.api_key, azure_api_key=args.azure_api_key, port=args.port) as server:
        print(f"OPENAI_BASE_URL={server.base_url}", flush=True)
        print(f"AZURE_OPENAI_ENDPOINT={server.azure_endpoint}", flush=True)
        print(f"OPENAI_API_KEY={server.api_key}  AZURE_OPENAI_API_KEY={server.azure_api_key}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
