"""Hardening harness: one pipeline (instrumentor -> EnrichingSpanProcessor -> a faultable
downstream processor -> in-memory exporter) and one *case* per instrumented LLM SDK.

A case knows how to build clients for its fake server, script an answer / an HTTP error /
a truncated stream, make a call, open a stream and read the answer back, sync and async.
Only a missing *provider SDK* skips a case; our own instrumentor failing to import fails the
test loudly (a broken import must never silently drop a provider's matrix).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import baggage, context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import decorators, semconv
from tripwire._core.instrumentor import TripwireInstrumentor
from tripwire.errors import BudgetExceededError
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import set_settings
from tripwire.settings import Settings

SECRET_KEY = "sk-hardening-SECRET-0123456789abcdef"
ANSWER = "The quick brown fox jumps over the lazy dog"


# --- the pipeline -------------------------------------------------------------------------

class FaultableProcessor(SpanProcessor):
    """The processor EnrichingSpanProcessor wraps; raises after forwarding when told to."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.fail_on_start = False
        self.fail_on_end = False

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)
        if self.fail_on_start:
            raise RuntimeError("injected downstream on_start failure")

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(span)
        if self.fail_on_end:
            raise RuntimeError("injected downstream on_end failure")

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass
class Pipeline:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    meter_provider: MeterProvider
    downstream: FaultableProcessor
    provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()


def make_pipeline() -> Pipeline:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    downstream = FaultableProcessor(SimpleSpanProcessor(exporter))
    provider = TracerProvider()
    provider.add_span_processor(EnrichingSpanProcessor(downstream, meter_provider=meter_provider))
    return Pipeline(exporter, reader, meter_provider, downstream, provider)


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    """Default settings (environment ignored) and a fresh pipeline; tests/conftest.py resets
    everything the runtime keeps (settings, state, budget gate) after the test."""
    set_settings(Settings())
    p = make_pipeline()
    decorators.configure(tracer_provider=p.provider, meter_provider=p.meter_provider)
    yield p
    p.provider.shutdown()


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The telemetry steps tripwire reported as failed (WARNING: first time per step)."""
    import re

    steps = []
    for record in caplog.records:
        if record.name == "tripwire" and record.levelno >= logging.WARNING:
            found = re.search(r"telemetry step '([^']+)' failed", record.getMessage())
            if found:
                steps.append(found.group(1))
    return steps


# --- LLM SDK cases -------------------------------------------------------------------------

def find_instrumentor(module_name: str, sdk: str | None = None) -> type[Any]:
    """The instrumentor class ``module_name`` defines. Skips only when the provider SDK
    ``sdk`` is not installed; any ImportError of our own module propagates (fails)."""
    if sdk is not None:
        pytest.importorskip(sdk, reason=f"the {sdk} SDK is not installed")
    module = importlib.import_module(module_name)
    for value in vars(module).values():
        if (inspect.isclass(value) and issubclass(value, TripwireInstrumentor)
                and value is not TripwireInstrumentor and value.__module__.startswith(module_name)):
            return value
    raise AssertionError(f"{module_name} defines no TripwireInstrumentor subclass")


@dataclass
class LLMCase:
    """How to drive one instrumented SDK against its fake server."""

    name: str
    instrumentor_module: str
    sdk: str  # the provider SDK's import name: only its absence may skip the case
    server_class: Callable[[], Any]
    client: Callable[[Any], Any]
    async_client: Callable[[Any], Any] | None
    ok: Callable[..., Any]  # (text, *, usage=True) -> reply spec
    error: Callable[[], Any]  # a 400 reply spec
    abort: Callable[[str, int], Any]  # a stream dropped after n events
    call: Callable[[Any], Any]  # client -> answer text
    open_stream: Callable[[Any], Any]  # client -> stream object (iterable)
    chunk_text: Callable[[Any], str]
    acall: Callable[[Any], Any] | None = None
    aopen_stream: Callable[[Any], Any] | None = None  # coroutine -> async stream
    # which exits the SDK's stream object supports
    has_with: bool = True
    has_async_with: bool = True
    error_type: str = ""
    secrets: tuple[str, ...] = ()
    clear_env: tuple[str, ...] = ()  # environment variables the test must not see
    # the exception type name a dropped connection raises mid-stream, where the SDK fixes it
    drop_error: str = ""
    # a reply asking for tool "f", and a call declaring tool "f" that returns the name asked
    tool_reply: Callable[[], Any] | None = None
    call_with_tool: Callable[[Any], str] | None = None
    # other SDK entry points than call/open_stream, each making one call: client -> answer
    variants: tuple[Callable[[Any], Any], ...] = ()
    # the (owner, attribute) pairs instrument() wraps and uninstrument() must restore
    wrapped: Callable[[], list[tuple[Any, str]]] = lambda: []
    # SDK-specific telemetry steps: (id, "module:attr[.attr]", the call's span survives)
    fault_points: tuple[tuple[str, str, bool], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def instrumentor_class(self) -> type[Any]:
        return find_instrumentor(self.instrumentor_module, self.sdk)

    @property
    def streams(self) -> bool:
        return True


# OpenAI (chat completions) ----------------------------------------------------------------

def _openai_ok(text: str, *, usage: bool = True) -> Any:
    from tripwire.testing import chat_reply

    return chat_reply(text, usage=(7, len(text.split())) if usage else None)


def _openai_stream(client: Any, usage: bool = True) -> Any:
    kwargs: dict[str, Any] = {"stream_options": {"include_usage": True}} if usage else {}
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "tell me"}], stream=True,
        **kwargs)


def _openai_text(chunk: Any) -> str:
    return "".join(c.delta.content or "" for c in chunk.choices) if chunk.choices else ""


async def _openai_acall(client: Any) -> str:
    r = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "tell me"}])
    return r.choices[0].message.content


def _openai_wrapped() -> list[tuple[Any, str]]:
    from openai.resources.chat.completions import AsyncCompletions, Completions
    from openai.resources.embeddings import Embeddings
    from openai.resources.responses import Responses

    return [(Completions, "create"), (AsyncCompletions, "create"), (Responses, "create"),
            (Embeddings, "create"), (Completions, "parse")]


OPENAI = LLMCase(
    name="openai",
    instrumentor_module="tripwire.instrumentation.openai",
    sdk="openai",
    server_class=lambda: importlib.import_module("tripwire.testing").FakeOpenAIServer(),
    client=lambda s: s.client(api_key=SECRET_KEY),
    async_client=lambda s: s.async_client(api_key=SECRET_KEY),
    ok=_openai_ok,
    error=lambda: importlib.import_module("tripwire.testing").bad_request("bad"),
    abort=lambda text, n: importlib.import_module("tripwire.testing").chat_reply(
        text, abort_after=n),
    call=lambda c: c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "tell me"}]
    ).choices[0].message.content,
    open_stream=_openai_stream,
    chunk_text=_openai_text,
    acall=_openai_acall,
    aopen_stream=_openai_stream,
    error_type="BadRequestError",
    secrets=(SECRET_KEY, "Bearer"),
    tool_reply=lambda: importlib.import_module("tripwire.testing").chat_reply(
        "plain", tool_calls=[("c1", "f", "{}")]),
    call_with_tool=lambda c: c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "tell me"}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
    ).choices[0].message.tool_calls[0].function.name,
    wrapped=_openai_wrapped,
    fault_points=(
        ("request-mapping", "tripwire.instrumentation.openai.chat:start_attributes", False),
        ("response-mapping", "tripwire.instrumentation.openai.chat:usage_numbers", True),
        ("stream-chunk", "tripwire.instrumentation.openai.chat:ChatStreamAccumulator.add", True),
        ("stream-result", "tripwire.instrumentation.openai.chat:ChatStreamAccumulator.result",
         True),
    ),
)


# Anthropic --------------------------------------------------------------------------------

def _anthropic_mod() -> Any:
    return importlib.import_module("tripwire.testing.anthropic_server")


def _anthropic_ok(text: str, *, usage: bool = True) -> Any:
    m = _anthropic_mod()
    # usage=False: the API always reports usage; an Anthropic-compatible server may not.
    return m.anthropic_message(text, with_usage=usage,
                               usage=m.AnthropicUsage(input_tokens=7,
                                                      output_tokens=len(text.split())))


_ANTHROPIC_ARGS = {"model": "claude-sonnet-4-5", "max_tokens": 64,
                   "messages": [{"role": "user", "content": "tell me"}]}


def _anthropic_text(event: Any) -> str:
    delta = getattr(event, "delta", None)
    return getattr(delta, "text", None) or "" if getattr(event, "type", "") == \
        "content_block_delta" else ""


async def _anthropic_acall(client: Any) -> str:
    return (await client.messages.create(**_ANTHROPIC_ARGS)).content[0].text


def _anthropic_helper(client: Any) -> str:
    with client.messages.stream(**_ANTHROPIC_ARGS) as stream:
        return stream.get_final_text()


def _anthropic_wrapped() -> list[tuple[Any, str]]:
    from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient
    from anthropic.lib.streaming import _beta_messages, _messages
    from anthropic.resources.beta.messages import messages as beta
    from anthropic.resources.messages import messages as current

    members: list[tuple[Any, str]] = []
    for module in (current, beta):
        for cls in (module.Messages, module.AsyncMessages):
            members += [(cls, "create"), (cls, "parse"), (cls, "stream")]
    return [*members, (_messages.MessageStreamManager, "__exit__"),
            (_messages.AsyncMessageStreamManager, "__aexit__"),
            (_beta_messages.BetaMessageStreamManager, "__exit__"),
            (_beta_messages.BetaAsyncMessageStreamManager, "__aexit__"),
            (SyncAPIClient, "_sleep_for_retry"), (AsyncAPIClient, "_sleep_for_retry"),
            (BaseClient, "_tracer")]


ANTHROPIC = LLMCase(
    name="anthropic",
    instrumentor_module="tripwire.instrumentation.anthropic",
    sdk="anthropic",
    server_class=lambda: _anthropic_mod().FakeAnthropicServer(),
    client=lambda s: s.client(api_key=SECRET_KEY),
    async_client=lambda s: s.async_client(api_key=SECRET_KEY),
    ok=_anthropic_ok,
    error=lambda: _anthropic_mod().anthropic_error(400),
    abort=lambda text, n: _anthropic_mod().anthropic_message(text, abort_after=n),
    call=lambda c: c.messages.create(**_ANTHROPIC_ARGS).content[0].text,
    open_stream=lambda c, usage=True: c.messages.create(stream=True, **_ANTHROPIC_ARGS),
    chunk_text=_anthropic_text,
    acall=_anthropic_acall,
    aopen_stream=lambda c, usage=True: c.messages.create(stream=True, **_ANTHROPIC_ARGS),
    error_type="BadRequestError",
    secrets=(SECRET_KEY,),
    tool_reply=lambda: _anthropic_mod().anthropic_message(
        [_anthropic_mod().anthropic_tool_use("f", {"city": "x"})]),
    call_with_tool=lambda c: c.messages.create(
        **_ANTHROPIC_ARGS, tools=[{"name": "f", "input_schema": {"type": "object"}}]
    ).content[0].name,
    variants=(_anthropic_helper,),
    wrapped=_anthropic_wrapped,
    fault_points=(
        ("request-mapping", "tripwire.instrumentation.anthropic.messages:client_info", False),
        ("response-mapping", "tripwire._core.wire.anthropic_messages:usage_numbers", True),
        ("stream-chunk",
         "tripwire.instrumentation.anthropic.messages:MessageStreamAccumulator.add", True),
        ("stream-result",
         "tripwire.instrumentation.anthropic.messages:MessageStreamAccumulator.result", True),
    ),
)


# Google Gen AI ----------------------------------------------------------------------------

def _gemini_mod() -> Any:
    return importlib.import_module("tripwire.testing.gemini_server")


def _gemini_ok(text: str, *, usage: bool = True) -> Any:
    m = _gemini_mod()
    return m.gemini_response(text, usage=m.GeminiUsage(prompt_token_count=7,
                                                        candidates_token_count=len(text.split())),
                             with_usage=usage)


def _gemini_client(server: Any) -> Any:
    # google-genai closes its HTTP client when the Client is collected (Client.__del__), and
    # a stream (a generator) holds only client.models: keep the Client alive with the server.
    client = server.client(api_key=SECRET_KEY)
    server.__dict__.setdefault("_kept_clients", []).append(client)
    return client


async def _gemini_acall(aio: Any) -> str:
    return (await aio.models.generate_content(model="gemini-2.0-flash",
                                              contents="tell me")).text


def _gemini_with_tool(client: Any) -> str:
    from google.genai import types

    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[
        types.FunctionDeclaration(name="f")])])
    return client.models.generate_content(model="gemini-2.0-flash", contents="tell me",
                                          config=config).function_calls[0].name


def _gemini_wrapped() -> list[tuple[Any, str]]:
    from google.genai.models import AsyncModels, Models

    return [(owner, name) for owner in (Models, AsyncModels) for name in (
        "generate_content", "generate_content_stream", "embed_content", "_generate_content")]


GEMINI = LLMCase(
    name="google_genai",
    instrumentor_module="tripwire.instrumentation.google_genai",
    sdk="google.genai",
    server_class=lambda: _gemini_mod().FakeGeminiServer(),
    client=_gemini_client,
    async_client=lambda s: _gemini_client(s).aio,
    ok=_gemini_ok,
    error=lambda: _gemini_mod().gemini_error(400),
    abort=lambda text, n: _gemini_mod().gemini_response(text, abort_after=n),
    call=lambda c: c.models.generate_content(model="gemini-2.0-flash", contents="tell me").text,
    open_stream=lambda c, usage=True: c.models.generate_content_stream(
        model="gemini-2.0-flash", contents="tell me"),
    chunk_text=lambda chunk: chunk.text or "",
    acall=_gemini_acall,
    aopen_stream=lambda aio, usage=True: aio.models.generate_content_stream(
        model="gemini-2.0-flash", contents="tell me"),
    has_with=False,
    has_async_with=False,
    error_type="ClientError",
    clear_env=("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_API_KEY", "GEMINI_API_KEY",
               "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"),
    tool_reply=lambda: _gemini_mod().gemini_response([_gemini_mod().gemini_function_call("f", {})]),
    call_with_tool=_gemini_with_tool,
    wrapped=_gemini_wrapped,
    fault_points=(
        ("response-mapping", "tripwire.instrumentation.google_genai.generate:_usage", True),
        ("hop-record", "tripwire.instrumentation.google_genai.generate:record_hop", True),
    ),
    secrets=(SECRET_KEY,),
)


# Amazon Bedrock (Converse) ---------------------------------------------------------------

def _bedrock_mod() -> Any:
    return importlib.import_module("tripwire.testing.bedrock_server")


def _bedrock_ok(text: str, *, usage: bool = True) -> Any:
    m = _bedrock_mod()
    return m.bedrock_converse(text, with_usage=usage,
                              usage=m.BedrockUsage(input_tokens=7,
                                                   output_tokens=len(text.split())))


_BEDROCK_ARGS = {"modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                 "messages": [{"role": "user", "content": [{"text": "tell me"}]}]}


def _bedrock_text(event: Any) -> str:
    return (event.get("contentBlockDelta", {}).get("delta", {}).get("text") or "") \
        if isinstance(event, dict) else ""


def _bedrock_wrapped() -> list[tuple[Any, str]]:
    from botocore.client import BaseClient
    from botocore.endpoint import Endpoint

    return [(BaseClient, "_make_api_call"), (Endpoint, "_needs_retry")]


BEDROCK = LLMCase(
    name="bedrock",
    instrumentor_module="tripwire.instrumentation.bedrock",
    sdk="boto3",
    server_class=lambda: _bedrock_mod().FakeBedrockServer(),
    client=lambda s: s.client(),
    async_client=None,
    ok=_bedrock_ok,
    error=lambda: _bedrock_mod().bedrock_error(400),
    abort=lambda text, n: _bedrock_mod().bedrock_converse(text, abort_after=n),
    call=lambda c: c.converse(**_BEDROCK_ARGS)["output"]["message"]["content"][0]["text"],
    open_stream=lambda c, usage=True: c.converse_stream(**_BEDROCK_ARGS)["stream"],
    chunk_text=_bedrock_text,
    has_with=False,
    has_async_with=False,
    # botocore raises the modeled ClientError subclass named after the error code
    error_type="ValidationException",
    # the fake's client signs with these: none may show up in telemetry
    secrets=("aws_secret_access_key", "X-Amz-Security-Token", "Credential=test"),
    drop_error="ProtocolError",
    tool_reply=lambda: _bedrock_mod().bedrock_converse(
        [_bedrock_mod().bedrock_tool_use("f", {}, tool_use_id="t1")]),
    call_with_tool=lambda c: c.converse(**_BEDROCK_ARGS, toolConfig={"tools": [{"toolSpec": {
        "name": "f", "inputSchema": {"json": {"type": "object"}}}}]},
    )["output"]["message"]["content"][0]["toolUse"]["name"],
    wrapped=_bedrock_wrapped,
    fault_points=(
        ("request-mapping", "tripwire.instrumentation.bedrock.converse:start_attributes", False),
    ),
)

LLM_CASES = (OPENAI, ANTHROPIC, GEMINI, BEDROCK)


def llm_params() -> list[Any]:
    return [pytest.param(case, id=case.name) for case in LLM_CASES]


@dataclass
class LLMEnv:
    case: LLMCase
    pipeline: Pipeline
    server: Any
    instrumentor: Any

    def client(self) -> Any:
        return self.case.client(self.server)

    def async_client(self) -> Any:
        assert self.case.async_client is not None
        return self.case.async_client(self.server)

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` recorded so far."""
        data = self.pipeline.reader.get_metrics_data()
        return [point for rm in (data.resource_metrics if data else [])
                for sm in rm.scope_metrics for metric in sm.metrics if metric.name == name
                for point in metric.data.data_points]

    def llm_spans(self) -> list[ReadableSpan]:
        return [s for s in self.pipeline.spans()
                if (s.attributes or {}).get("gen_ai.operation.name") is not None]


@contextlib.contextmanager
def instrumented(case: LLMCase, pipeline: Pipeline) -> Iterator[LLMEnv]:
    cls = case.instrumentor_class
    with pytest.MonkeyPatch.context() as patch:
        for var in case.clear_env:  # these would switch the client's mode (Vertex AI, …)
            patch.delenv(var, raising=False)
        inst = cls()
        inst.instrument(tracer_provider=pipeline.provider, meter_provider=pipeline.meter_provider)
        server = case.server_class().start()
        try:
            yield LLMEnv(case, pipeline, server, inst)
        finally:
            inst.uninstrument()
            server.stop()


@pytest.fixture(params=llm_params())
def llm(request: pytest.FixtureRequest, pipeline: Pipeline) -> Iterator[LLMEnv]:
    with instrumented(request.param, pipeline) as env:
        yield env


# --- budgets under concurrency ---------------------------------------------------------------

async def concurrent_chats(server: Any, n: int, conversation: str, messages: list[Any],
                           max_tokens: int, model: str = "gpt-4o-mini") -> tuple[int, int]:
    """``n`` openai chat calls at once in one conversation (baggage): (sent, refused)."""
    client = server.async_client()
    refused = 0

    async def one() -> None:
        nonlocal refused
        token = context.attach(baggage.set_baggage(semconv.GEN_AI_CONVERSATION_ID, conversation))
        try:
            await client.chat.completions.create(model=model, messages=messages,
                                                 max_tokens=max_tokens)
        except BudgetExceededError:
            refused += 1
        finally:
            context.detach(token)

    try:
        await asyncio.gather(*(one() for _ in range(n)))
    finally:
        await client.close()
    return n - refused, refused
