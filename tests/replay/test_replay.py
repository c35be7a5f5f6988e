"""Responses recorded from the real provider APIs (tests/replay/cassettes, see NOTICE.md there),
replayed through the real SDKs with our instrumentors and the enriching processor.

Each test sends the recorded request through the SDK to a :class:`ReplayServer` serving the
recorded answer, and checks the span against values read from the recorded body by the small
independent readers below (not by our code): response id, model, finish reasons, usage,
provider, refusal, and cost as genai-prices computes it for the recorded usage."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import semconv as sc
from tripwire.processors import EnrichingSpanProcessor
from tripwire.runtime import set_settings
from tripwire.settings import Settings
from tripwire.testing.replay import Interaction, ReplayServer, load_cassette

ROOT = Path(__file__).parent / "cassettes"


# --- which interactions, through which SDK call -------------------------------------------

def _kind(i: Interaction) -> str | None:
    path, host = i.path, i.uri.split("/")[2]
    if "bedrock-runtime" in host:
        return "bedrock." + path.rsplit("/", 1)[-1]
    if "googleapis.com" in host:
        return "gemini." + path.rsplit(":", 1)[-1]
    if host == "api.openai.com":
        return {"/v1/chat/completions": "openai.chat", "/v1/embeddings": "openai.embeddings",
                "/v1/responses": "openai.responses"}.get(path)
    if host == "api.anthropic.com" and path == "/v1/messages":
        return "anthropic.messages"
    return None


def _cases() -> list[Any]:
    cases = []
    for path in sorted(ROOT.rglob("*.yaml")):
        for interaction in load_cassette(path, ROOT):
            kind = _kind(interaction)
            if kind and interaction.status == 200:
                # a cassette recorded with the async client is replayed with it
                # (boto3 has no async client: Bedrock is replayed with the sync one)
                mode = "async" if "async" in path.name and "bedrock" not in kind else "sync"
                cases.append(pytest.param(interaction, kind, mode,
                                          id=f"{kind}-{mode}-{interaction.source}"))
    return cases


CASES = _cases()


@dataclass
class Stack:
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    server: ReplayServer = field(default_factory=ReplayServer)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from tripwire.instrumentation.anthropic import AnthropicInstrumentor
    from tripwire.instrumentation.bedrock import BedrockInstrumentor
    from tripwire.instrumentation.google_genai import GoogleGenAIInstrumentor
    from tripwire.instrumentation.openai import OpenAIInstrumentor

    set_settings(Settings())
    s = Stack()
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracer = TracerProvider()
    tracer.add_span_processor(EnrichingSpanProcessor(SimpleSpanProcessor(s.exporter),
                                                     meter_provider=meters))
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor(), BedrockInstrumentor(),
                     GoogleGenAIInstrumentor()]
    for inst in instrumentors:
        inst.instrument(tracer_provider=tracer, meter_provider=meters)
    s.server.start()
    try:
        yield s
    finally:
        for inst in instrumentors:
            inst.uninstrument()
        s.server.stop()
        tracer.shutdown()
        set_settings(Settings())


def _call(kind: str, mode: str, i: Interaction, url: str) -> None:
    body = i.request_json or {}
    provider = kind.split(".")[0]
    if provider == "bedrock":
        _call_bedrock(kind, i, url)
    elif provider == "gemini":
        _call_gemini(kind, mode, i, url)
    elif mode == "async":
        asyncio.run(_call_async(kind, body, url))
    else:
        _call_sync(kind, body, url)


def _openai_anthropic(kind: str, url: str, is_async: bool) -> tuple[Any, Any]:
    if kind.startswith("openai"):
        import openai

        cls = openai.AsyncOpenAI if is_async else openai.OpenAI
        client = cls(base_url=url + "/v1", api_key="test", max_retries=0)
        method = {"openai.chat": client.chat.completions, "openai.embeddings": client.embeddings,
                  "openai.responses": client.responses}[kind].create
    else:
        import anthropic

        acls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
        client = acls(base_url=url, api_key="test", max_retries=0)
        method = client.messages.create
    return client, method


def _arguments(create: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body as SDK arguments; fields this SDK version has no parameter for go
    in ``extra_body``, as the recording's client sent them."""
    known = inspect.signature(create).parameters
    kwargs = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def _call_sync(kind: str, body: dict[str, Any], url: str) -> None:
    _, create = _openai_anthropic(kind, url, False)
    result = create(**_arguments(create, body))
    if body.get("stream"):
        for _ in result:
            pass


async def _call_async(kind: str, body: dict[str, Any], url: str) -> None:
    client, create = _openai_anthropic(kind, url, True)
    result = await create(**_arguments(create, body))
    if body.get("stream"):
        async for _ in result:
            pass
    await client.close()


def _call_bedrock(kind: str, i: Interaction, url: str) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client("bedrock-runtime", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    model = i.path.split("/model/", 1)[1].rsplit("/", 1)[0]
    op = kind.split(".", 1)[1]
    if op in ("invoke", "invoke-with-response-stream"):
        call = client.invoke_model if op == "invoke" else client.invoke_model_with_response_stream
        response = call(modelId=model, body=i.request_body, contentType="application/json")
        if op == "invoke":
            response["body"].read()
        else:
            list(response["body"])
        return
    params = dict(i.request_json or {})
    if op == "converse":
        client.converse(modelId=model, **params)
    else:
        list(client.converse_stream(modelId=model, **params)["stream"])


def _call_gemini(kind: str, mode: str, i: Interaction, url: str) -> None:
    from google import genai
    from google.genai import types

    body = i.request_json or {}
    model = i.path.rsplit("/", 1)[1].split(":", 1)[0]
    options = types.HttpOptions(base_url=url)
    if "aiplatform" in i.uri:
        from google.oauth2.credentials import Credentials

        # a fixed token: nothing to refresh, no network
        client = genai.Client(vertexai=True, project="test-project", location="test-location",
                              credentials=Credentials(token="test"), http_options=options)
    else:
        client = genai.Client(api_key="test", http_options=options)
    config = body.get("generationConfig")
    if kind == "gemini.streamGenerateContent":
        if mode == "async":
            async def run() -> None:
                async for _ in await client.aio.models.generate_content_stream(
                        model=model, contents=body["contents"], config=config):
                    pass
            asyncio.run(run())
        else:
            for _ in client.models.generate_content_stream(model=model, contents=body["contents"],
                                                           config=config):
                pass
    elif mode == "async":
        asyncio.run(client.aio.models.generate_content(model=model, contents=body["contents"],
                                                       config=config))
    else:
        client.models.generate_content(model=model, contents=body["contents"], config=config)


# --- independent readers of the recorded answers -------------------------------------------

@dataclass
class Expected:
    provider: str
    price_provider: str
    response_id: str | None = None
    model: str | None = None
    finish: list[str] | None = None
    input: int | None = None
    output: int | None = None
    cache_read: int = 0
    cache_write: int = 0
    refusal: bool = False
    priceable: bool = True  # recorded terms genai-prices can price the same way


def _sse(body: bytes) -> list[Any]:
    events = []
    for line in body.decode().splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            events.append(json.loads(line[5:]))
    return events


def _openai(kind: str, i: Interaction) -> Expected:
    e = Expected("openai", "openai")
    stream = "event-stream" in i.content_type
    if kind == "openai.embeddings":
        body = i.body_json
        e.model, e.input = body["model"], body["usage"]["prompt_tokens"]
        return e
    if kind == "openai.responses":
        final = i.body_json if not stream else next(
            ev["response"] for ev in _sse(i.body) if ev.get("type") in (
                "response.completed", "response.incomplete"))
        e.response_id, e.model = final["id"], final["model"]
        e.input, e.output = final["usage"]["input_tokens"], final["usage"]["output_tokens"]
        e.cache_read = (final["usage"].get("input_tokens_details") or {}).get("cached_tokens") or 0
        e.priceable = final.get("service_tier") in (None, "default", "auto")
        return e
    chunks = _sse(i.body) if stream else [i.body_json]
    finish: dict[int, str] = {}
    for chunk in chunks:
        e.response_id = chunk.get("id") or e.response_id
        e.model = chunk.get("model") or e.model
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                finish[choice["index"]] = choice["finish_reason"]
            message = choice.get("message") or choice.get("delta") or {}
            e.refusal |= bool(message.get("refusal")) or choice.get("finish_reason") == "content_filter"
        usage = chunk.get("usage")
        if usage:
            e.input, e.output = usage["prompt_tokens"], usage["completion_tokens"]
            e.cache_read = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        e.priceable &= chunk.get("service_tier") in (None, "default", "auto")
    e.finish = [finish[k] for k in sorted(finish)]
    return e


def _anthropic(i: Interaction) -> Expected:
    e = Expected("anthropic", "anthropic")
    if "event-stream" in i.content_type:
        message: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        for event in _sse(i.body):
            if event.get("type") == "message_start":
                message = event["message"]
                usage.update(message.get("usage") or {})
            elif event.get("type") == "message_delta":
                message["stop_reason"] = event["delta"].get("stop_reason")
                usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
    else:
        message = i.body_json
        usage = message["usage"]
    e.response_id, e.model = message["id"], message["model"]
    e.finish = [message["stop_reason"]] if message.get("stop_reason") else []
    e.cache_read = usage.get("cache_read_input_tokens") or 0
    e.cache_write = usage.get("cache_creation_input_tokens") or 0
    e.input = usage["input_tokens"] + e.cache_read + e.cache_write
    e.output = usage["output_tokens"]
    e.refusal = message.get("stop_reason") == "refusal"
    return e


def _eventstream(body: bytes) -> list[tuple[str, Any]]:
    from botocore.eventstream import EventStreamBuffer  # botocore's own parser

    buffer = EventStreamBuffer()
    buffer.add_data(body)
    out = []
    for message in buffer:
        payload = json.loads(message.payload)
        if "bytes" in payload:
            payload = json.loads(base64.b64decode(payload["bytes"]))
        out.append((message.headers.get(":event-type"), payload))
    return out


def _n(value: Any) -> int | None:
    return None if value is None else int(value)


def _bedrock(kind: str, i: Interaction) -> Expected:
    e = Expected("aws.bedrock", "aws", response_id=i.headers["x-amzn-requestid"])
    op = kind.split(".", 1)[1]
    if op.startswith("converse"):
        if op == "converse":
            body = i.body_json
            stop, usage = body["stopReason"], body.get("usage") or {}
        else:
            events = dict(_eventstream(i.body))
            stop = events["messageStop"]["stopReason"]
            usage = events.get("metadata", {}).get("usage") or {}
        e.finish = [stop]
        e.refusal = stop in ("guardrail_intervened", "content_filtered")
        e.cache_read, e.cache_write = (usage.get("cacheReadInputTokens") or 0,
                                       usage.get("cacheWriteInputTokens") or 0)
        if "inputTokens" in usage:
            e.input = usage["inputTokens"] + e.cache_read + e.cache_write
        e.output = usage.get("outputTokens")
        return e
    # InvokeModel: Bedrock's counts (headers, or the stream's invocation metrics) ...
    h = i.headers
    e.input, e.output = _n(h.get("x-amzn-bedrock-input-token-count")), _n(
        h.get("x-amzn-bedrock-output-token-count"))
    e.cache_read = int(h.get("x-amzn-bedrock-cache-read-input-token-count") or 0)
    e.cache_write = int(h.get("x-amzn-bedrock-cache-write-input-token-count") or 0)
    payloads = [p for _, p in _eventstream(i.body)] if op.endswith("stream") else [i.body_json]
    for p in payloads:
        metrics = p.get("amazon-bedrock-invocationMetrics")
        if metrics:
            e.cache_read = metrics.get("cacheReadInputTokenCount") or 0
            e.cache_write = metrics.get("cacheWriteInputTokenCount") or 0
            e.input = metrics["inputTokenCount"] + e.cache_read + e.cache_write
            e.output = metrics["outputTokenCount"]
    if e.input is not None and not any("amazon-bedrock-invocationMetrics" in p for p in payloads):
        e.input += e.cache_read + e.cache_write
    # ... and the body's own counts, where it has them, win
    finish: list[str] = []
    anthropic_usage: dict[str, Any] = {}
    for p in payloads:
        e.refusal |= p.get("amazon-bedrock-guardrailAction") == "INTERVENED"
        kind_ = p.get("type")
        if kind_ in ("message", "message_start"):
            message = p if kind_ == "message" else p["message"]
            e.response_id, e.model = message["id"], message["model"]
            anthropic_usage.update(message.get("usage") or {})
            if message.get("stop_reason"):
                finish.append(message["stop_reason"])
        elif kind_ == "message_delta":
            anthropic_usage.update(p.get("usage") or {})
            finish.append(p["delta"]["stop_reason"])
        elif "output" in p:  # Nova
            finish.append(p["stopReason"])
            if "inputTokens" in p["usage"]:
                e.input = p["usage"]["inputTokens"] + (p["usage"].get("cacheReadInputTokenCount") or 0)
            e.output = p["usage"].get("outputTokens", e.output)
        elif "messageStop" in p:
            finish.append(p["messageStop"]["stopReason"])
        elif "metadata" in p:
            u = p["metadata"]["usage"]
            e.input, e.output = u["inputTokens"] + (u.get("cacheReadInputTokenCount") or 0), u["outputTokens"]
        elif "results" in p:  # Titan
            finish += [r["completionReason"] for r in p["results"]]
            e.input = int(p["inputTextTokenCount"])
            e.output = sum(int(r["tokenCount"]) for r in p["results"])
        elif "outputText" in p or "inputTextTokenCount" in p:  # Titan chunks
            if p.get("completionReason"):
                finish.append(p["completionReason"])
            if "inputTextTokenCount" in p:
                e.input = int(p["inputTextTokenCount"])
            if "totalOutputTextTokenCount" in p:
                e.output = int(p["totalOutputTextTokenCount"])
        elif "generation" in p:  # Llama
            finish.append(p["stop_reason"])
            e.input, e.output = p["prompt_token_count"], p["generation_token_count"]
        elif "outputs" in p:  # Mistral
            finish += [o["stop_reason"] for o in p["outputs"]]
        elif "generations" in p:  # Cohere Command
            finish += [g["finish_reason"] for g in p["generations"]]
            e.response_id = p["id"]
        elif "response_id" in p:  # Cohere Command R
            finish.append(p["finish_reason"])
            e.response_id = p["response_id"]
        elif "completions" in p:  # AI21 Jurassic-2
            finish += [c["finishReason"]["reason"] for c in p["completions"]]
        elif "choices" in p:  # OpenAI-compatible
            finish += [c.get("finish_reason") or c.get("stop_reason") for c in p["choices"]]
            e.input, e.output = p["usage"]["prompt_tokens"], p["usage"]["completion_tokens"]
            e.model = p["model"]
        elif "completion" in p:  # Claude text completion
            finish.append(p["stop_reason"])
    if anthropic_usage:
        e.cache_read = anthropic_usage.get("cache_read_input_tokens") or 0
        e.cache_write = anthropic_usage.get("cache_creation_input_tokens") or 0
        e.input = anthropic_usage["input_tokens"] + e.cache_read + e.cache_write
        e.output = anthropic_usage["output_tokens"]
    e.finish = [f for f in finish if f]
    e.refusal |= any(f.lower() in ("content_filtered", "guardrail_intervened", "refusal")
                     for f in e.finish)
    if "embed" in i.path:
        e.output = None
    return e


def _gemini(i: Interaction) -> Expected:
    e = Expected("gcp.vertex_ai" if "aiplatform" in i.uri else "gcp.gemini", "google")
    chunks = _sse(i.body) if "event-stream" in i.content_type else [i.body_json]
    finish: list[str] = []
    usage: dict[str, Any] = {}
    for chunk in chunks:
        e.response_id = chunk.get("responseId") or e.response_id
        e.model = chunk.get("modelVersion") or e.model
        finish += [c["finishReason"].lower() for c in chunk.get("candidates") or ()
                   if c.get("finishReason")]
        usage = chunk.get("usageMetadata") or usage
    e.finish = finish
    e.input = (usage.get("promptTokenCount") or 0) + (usage.get("toolUsePromptTokenCount") or 0)
    e.output = (usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0)
    e.cache_read = usage.get("cachedContentTokenCount") or 0
    e.refusal = any(f in ("safety", "prohibited_content", "blocklist", "spii", "recitation")
                    for f in finish)
    return e


def expected(kind: str, i: Interaction) -> Expected:
    provider = kind.split(".")[0]
    if provider == "openai":
        return _openai(kind, i)
    if provider == "anthropic":
        return _anthropic(i)
    if provider == "bedrock":
        return _bedrock(kind, i)
    return _gemini(i)


def _prices(e: Expected, models: list[str | None]) -> list[float]:
    usage = Usage(input_tokens=e.input or 0, output_tokens=e.output or 0,
                  cache_read_tokens=e.cache_read or None, cache_write_tokens=e.cache_write or None)
    prices = []
    for model in models:
        if model:
            try:
                prices.append(float(calc_price(usage, model, provider_id=e.price_provider).total_price))
            except LookupError:
                pass
    return prices


# --- the test -----------------------------------------------------------------------------

def _span(stack: Stack) -> ReadableSpan:
    spans = [s for s in stack.exporter.get_finished_spans()
             if (s.attributes or {}).get(sc.GEN_AI_OPERATION_NAME)]
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


@pytest.mark.parametrize(("interaction", "kind", "mode"), CASES)
def test_replay(stack: Stack, interaction: Interaction, kind: str, mode: str) -> None:
    stack.exporter.clear()
    stack.server.reset()
    stack.server.play(interaction)
    _call(kind, mode, interaction, stack.server.url)
    e = expected(kind, interaction)
    a = dict(_span(stack).attributes or {})

    assert a[sc.GEN_AI_PROVIDER_NAME] == e.provider
    if e.response_id is not None:
        assert a[sc.GEN_AI_RESPONSE_ID] == e.response_id
    if e.model is not None:
        assert a[sc.GEN_AI_RESPONSE_MODEL] == e.model
    if e.finish is not None:
        assert list(a.get(sc.GEN_AI_RESPONSE_FINISH_REASONS, ())) == e.finish
    if e.input is not None:
        assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == e.input
    if e.output is not None:
        assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == e.output
    if e.input is None and e.output is None and kind != "openai.embeddings":
        # the answer carried no usage (a stream without include_usage): marked estimate
        assert a[sc.TRIPWIRE_USAGE_ESTIMATED] is True
    assert bool(a.get(sc.TRIPWIRE_REFUSAL)) == e.refusal

    # cost: genai-prices for the recorded usage, priced by the requested or reported model
    if e.priceable and e.input is not None and not a.get(sc.TRIPWIRE_USAGE_ESTIMATED):
        prices = _prices(e, [a.get(sc.GEN_AI_REQUEST_MODEL), a.get(sc.GEN_AI_RESPONSE_MODEL)])
        if prices:
            assert any(a.get(sc.TRIPWIRE_COST_USD) == pytest.approx(p, rel=1e-9, abs=1e-15)
                       for p in prices), (a.get(sc.TRIPWIRE_COST_USD), prices)
        else:
            assert a.get(sc.TRIPWIRE_COST_UNPRICED) is True


def test_the_kit_has_a_hundred_interactions_across_the_four_providers() -> None:
    by_provider: dict[str, int] = {}
    for case in CASES:
        provider = case.values[1].split(".")[0]
        by_provider[provider] = by_provider.get(provider, 0) + 1
    assert set(by_provider) == {"openai", "anthropic", "bedrock", "gemini"}
    assert sum(by_provider.values()) >= 100
