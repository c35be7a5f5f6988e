"""The fake OpenAI server speaks the real wire format: the real ``openai`` SDK parses it."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire.testing import (
    FakeOpenAIServer,
    Usage,
    bad_request,
    chat_reply,
    context_length_exceeded,
    embeddings_reply,
    find_span,
    get_metric_points,
    rate_limited,
    responses_reply,
    server_error,
    spans_by_name,
    unauthorized,
)

MESSAGES: Any = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the weather in Paris?"}]  # 3 + 6 words
WEATHER = ("call_1", "get_weather", '{"city":"Paris"}')


@pytest.fixture
def client(fake_openai: FakeOpenAIServer) -> openai.OpenAI:
    return fake_openai.client()


@pytest.fixture
def aclient(fake_openai: FakeOpenAIServer) -> openai.AsyncOpenAI:
    return fake_openai.async_client()


# --- chat completions --------------------------------------------------------------------


def test_chat_default_reply_is_deterministic(fake_openai: FakeOpenAIServer,
                                             client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert result.object == "chat.completion"
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.choices[0].message.content == "Hello from the fake OpenAI server."
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (9, 6)
    assert result.usage.total_tokens == 15

    request = fake_openai.last_request
    assert request.path == "/v1/chat/completions"
    assert request.json["messages"] == MESSAGES
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.headers["x-stainless-retry-count"] == "0"


def test_chat_model_snapshot_mapping(fake_openai: FakeOpenAIServer, client: openai.OpenAI,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def model_for(name: str) -> str:
        return client.chat.completions.create(model=name, messages=MESSAGES).model

    assert model_for("gpt-4o") == "gpt-4o-2024-08-06"
    assert model_for("gpt-4o-2024-05-13") == "gpt-4o-2024-05-13"  # dated: echoed
    assert model_for("my-local-model") == "my-local-model"
    fake_openai.model_snapshots["gpt-4o"] = "gpt-4o-2024-11-20"  # this server only
    assert model_for("gpt-4o") == "gpt-4o-2024-11-20"
    assert FakeOpenAIServer().resolve_model("gpt-4o") == "gpt-4o-2024-08-06"
    monkeypatch.setitem(FakeOpenAIServer.MODEL_SNAPSHOTS, "gpt-4o-mini", "gpt-4o-mini-2099-01-01")
    assert model_for("gpt-4o-mini") == "gpt-4o-mini-2099-01-01"
    fake_openai.enqueue(chat_reply(model="gpt-9"))
    assert model_for("gpt-4o") == "gpt-9"


def test_chat_tool_calls_json(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.enqueue(chat_reply(tool_calls=[WEATHER, ("call_2", "get_time", "{}")],
                                   usage=(12, 5)))
    result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        WEATHER, ("call_2", "get_time", "{}")]
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (12, 5)


def test_chat_refusal_filter_and_usage_details(fake_openai: FakeOpenAIServer,
                                               client: openai.OpenAI) -> None:
    fake_openai.enqueue(
        chat_reply(refusal="I can't help with that.", usage=Usage(100, 20, 40, 8)),
        chat_reply(finish_reason="content_filter"),
        chat_reply("truncated", finish_reason="length", usage=(3, 4, 1)),
    )
    refused = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    message = refused.choices[0].message
    assert (message.refusal, message.content) == ("I can't help with that.", None)
    assert refused.choices[0].finish_reason == "stop"
    usage = refused.usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 20, 120)
    assert usage.prompt_tokens_details.cached_tokens == 40
    assert usage.completion_tokens_details.reasoning_tokens == 8

    filtered = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert filtered.choices[0].finish_reason == "content_filter"
    assert filtered.choices[0].message.content is None

    cut = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert (cut.choices[0].finish_reason, cut.choices[0].message.content) == ("length", "truncated")
    assert cut.usage is not None and cut.usage.prompt_tokens_details
    assert cut.usage.prompt_tokens_details.cached_tokens == 1


def test_chat_stream_without_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                 stream=True))
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == (
        "Hello from the fake OpenAI server.")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.id for c in chunks} == {chunks[0].id}
    assert chunks[0].model == "gpt-4o-mini-2024-07-18"


def test_chat_stream_include_usage_final_chunk(fake_openai: FakeOpenAIServer,
                                               client: openai.OpenAI) -> None:
    fake_openai.enqueue(chat_reply("one two three", usage=Usage(10, 3, cached_tokens=4)))
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True}))

    assert [c.choices[0].delta.content for c in chunks[1:4]] == ["one", " two", " three"]
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.prompt_tokens_details
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (10, 3)
    assert last.usage.prompt_tokens_details.cached_tokens == 4


def test_chat_stream_tool_calls_and_refusal_via_helper(fake_openai: FakeOpenAIServer,
                                                       client: openai.OpenAI) -> None:
    fake_openai.enqueue(chat_reply(tool_calls=[WEATHER, ("call_2", "get_time", '{"tz":"CET"}')]),
                        chat_reply(refusal="No can do."))
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        WEATHER, ("call_2", "get_time", '{"tz":"CET"}')]
    assert final.choices[0].finish_reason == "tool_calls"

    raw = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.refusal or "" for c in raw) == "No can do."
    assert raw[0].choices[0].delta.content is None


async def test_chat_async_json_and_stream(fake_openai: FakeOpenAIServer,
                                          aclient: openai.AsyncOpenAI) -> None:
    fake_openai.enqueue(chat_reply(tool_calls=[WEATHER]))
    result = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert (result.choices[0].message.tool_calls or [])[0].id == "call_1"

    stream = await aclient.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert fake_openai.requests[-1].headers["x-stainless-async"].startswith("async")


# --- responses ---------------------------------------------------------------------------


def test_responses_json(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    result = client.responses.create(model="gpt-4o", input="Hi there", instructions="Be brief")
    assert result.object == "response" and result.status == "completed"
    assert result.model == "gpt-4o-2024-08-06"
    assert result.output_text == "Hello from the fake OpenAI server."
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (4, 6)

    fake_openai.enqueue(responses_reply(tool_calls=[WEATHER], refusal="Nope",
                                        usage=Usage(50, 10, 20, 7)),
                        responses_reply("cut", status="incomplete"))
    result = client.responses.create(model="gpt-4o", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]}])
    message, call = result.output
    assert message.type == "message" and message.content[0].type == "refusal"
    assert message.content[0].refusal == "Nope"
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == WEATHER
    assert result.usage is not None
    assert result.usage.input_tokens_details.cached_tokens == 20
    assert result.usage.output_tokens_details.reasoning_tokens == 7

    cut = client.responses.create(model="gpt-4o", input="x", max_output_tokens=16)
    assert cut.status == "incomplete"
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.max_output_tokens == 16


def test_responses_create_stream_events(fake_openai: FakeOpenAIServer,
                                        client: openai.OpenAI) -> None:
    fake_openai.enqueue(responses_reply("Sunny today", tool_calls=[WEATHER], usage=(8, 2)))
    events = list(client.responses.create(model="gpt-4o-mini", input="weather?", stream=True))
    types = [e.type for e in events]
    assert types == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert completed.response.usage.input_tokens == 8
    assert completed.response.model == "gpt-4o-mini-2024-07-18"


def test_responses_stream_helper_final_response(fake_openai: FakeOpenAIServer,
                                                client: openai.OpenAI) -> None:
    fake_openai.enqueue(responses_reply("It is sunny.", refusal="but no forecasts",
                                        tool_calls=[WEATHER]))
    with client.responses.stream(model="gpt-4o", input="weather in Paris?") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "It is sunny."
    assert final.output_text == "It is sunny."
    assert final.usage is not None
    # 3 text + 3 refusal + name + arguments words; input: "weather in Paris?"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 8)
    assert [item.type for item in final.output] == ["message", "function_call"]


async def test_responses_async_stream_helper(fake_openai: FakeOpenAIServer,
                                             aclient: openai.AsyncOpenAI) -> None:
    async with aclient.responses.stream(model="gpt-4o", input="hello") as stream:
        final = await stream.get_final_response()
    assert final.output_text == "Hello from the fake OpenAI server."
    assert final.usage is not None and final.usage.total_tokens == 7


def test_responses_stream_error_event(fake_openai: FakeOpenAIServer,
                                      client: openai.OpenAI) -> None:
    fake_openai.enqueue(responses_reply("a b c", error_after=4, error_message="overloaded"))
    with client.responses.stream(model="gpt-4o", input="hi") as stream:
        events = list(stream)
        assert events[-1].type == "error"
        assert events[-1].message == "overloaded"  # type: ignore[union-attr]
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()


# --- embeddings --------------------------------------------------------------------------


def test_embeddings_base64_default_float_and_dimensions(fake_openai: FakeOpenAIServer,
                                                        client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["a b c", "d"])
    assert fake_openai.last_request.json["encoding_format"] == "base64"  # the SDK's default
    assert [len(d.embedding) for d in result.data] == [1536, 1536]
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (4, 4)
    assert abs(sum(x * x for x in result.data[0].embedding) - 1.0) < 1e-4

    as_floats = client.embeddings.create(model="text-embedding-3-small", input="a b c",
                                         encoding_format="float", dimensions=8)
    small = client.embeddings.create(model="text-embedding-3-small", input="a b c",
                                     dimensions=8)
    assert len(as_floats.data[0].embedding) == 8
    assert as_floats.data[0].embedding == small.data[0].embedding  # deterministic per input

    fake_openai.enqueue(embeddings_reply([[0.5, 0.25]], usage=42))
    scripted = client.embeddings.create(model="text-embedding-3-large", input="x")
    assert scripted.data[0].embedding == [0.5, 0.25]
    assert scripted.usage.prompt_tokens == 42
    assert scripted.model == "text-embedding-3-large"


# --- errors and retries ------------------------------------------------------------------


def test_rate_limited_then_ok_with_retries(fake_openai: FakeOpenAIServer) -> None:
    client = fake_openai.client(max_retries=2)
    fake_openai.enqueue(rate_limited(retry_after_ms=1))
    result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert result.choices[0].message.content
    assert [r.headers["x-stainless-retry-count"] for r in fake_openai.requests] == ["0", "1"]


def test_error_replies_map_to_sdk_exceptions(fake_openai: FakeOpenAIServer,
                                             client: openai.OpenAI) -> None:
    fake_openai.enqueue(rate_limited(retry_after=1), unauthorized(), bad_request(param="x"),
                        context_length_exceeded(), server_error(503))
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert rate.value.code == "rate_limit_exceeded"
    assert rate.value.response.headers["retry-after"] == "1"
    assert rate.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert rate.value.response.headers["x-request-id"].startswith("req_")
    with pytest.raises(openai.AuthenticationError) as auth:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="gpt-4o", input="x")
    assert bad.value.param == "x"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert too_long.value.code == "context_length_exceeded"
    with pytest.raises(openai.InternalServerError) as down:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert down.value.status_code == 503 and down.value.type == "server_error"


def test_server_error_retried_and_quota(fake_openai: FakeOpenAIServer) -> None:
    client = fake_openai.client(max_retries=3)
    fake_openai.enqueue(server_error(retry_after_ms=1), server_error(502, retry_after_ms=1))
    assert client.embeddings.create(model="text-embedding-3-small", input="x").data
    assert len(fake_openai.requests) == 3

    fake_openai.enqueue(rate_limited(code="insufficient_quota", retry_after_ms=1))
    with pytest.raises(openai.RateLimitError) as quota:
        fake_openai.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert quota.value.type == "insufficient_quota"


def test_unknown_path_and_missing_model(fake_openai: FakeOpenAIServer,
                                        client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.post("/nope", body={}, cast_to=object)
    with pytest.raises(openai.BadRequestError, match="model"):
        client.post("/chat/completions", body={"messages": []}, cast_to=object)
    # A reply queued for another endpoint fails loudly instead of rendering nonsense.
    fake_openai.enqueue(embeddings_reply())
    with pytest.raises(openai.BadRequestError, match="EmbeddingsReply"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_stream_aborted_mid_way_raises(fake_openai: FakeOpenAIServer,
                                       client: openai.OpenAI) -> None:
    fake_openai.enqueue(chat_reply("one two three four five", abort_after=3))
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3


async def test_async_stream_aborted_mid_way_raises(fake_openai: FakeOpenAIServer,
                                                   aclient: openai.AsyncOpenAI) -> None:
    fake_openai.enqueue(responses_reply("one two three", abort_after=2))
    stream = await aclient.responses.create(model="gpt-4o", input="x", stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass


def test_chat_stream_error_payload_raises(fake_openai: FakeOpenAIServer,
                                          client: openai.OpenAI) -> None:
    fake_openai.enqueue(chat_reply("one two three", error_after=2, error_message="boom"))
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="boom"):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2


def test_raw_wire_format(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    """SSE framing as OpenAI sends it: chat ends with [DONE]; responses name each event."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True)
    text = raw.http_response.read().decode()
    assert raw.headers["content-type"] == "text/event-stream"
    assert text.endswith("data: [DONE]\n\n")
    first = json.loads(text.split("\n\n")[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk" and "usage" not in first

    raw_events = client.responses.with_raw_response.create(model="gpt-4o", input="x",
                                                          stream=True)
    body = raw_events.http_response.read().decode()
    assert body.startswith("event: response.created\ndata: ")
    assert "[DONE]" not in body


# --- fixtures and helpers ----------------------------------------------------------------


def test_trace_fixtures_and_helpers(tracer_provider: TracerProvider,
                                    span_exporter: InMemorySpanExporter) -> None:
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("parent"):
        for _ in range(2):
            with tracer.start_as_current_span("chat gpt-4o"):
                pass
    assert find_span(span_exporter, "parent").parent is None
    assert len(spans_by_name(span_exporter)["chat gpt-4o"]) == 2
    with pytest.raises(AssertionError, match="exactly one"):
        find_span(span_exporter, "chat gpt-4o")
    with pytest.raises(AssertionError, match="parent"):
        find_span(span_exporter, "missing")


def test_metric_fixtures_and_helpers(meter_provider: MeterProvider,
                                     metric_reader: InMemoryMetricReader) -> None:
    histogram = meter_provider.get_meter("test").create_histogram("gen_ai.client.token.usage")
    histogram.record(12, {"gen_ai.token.type": "input"})
    histogram.record(5, {"gen_ai.token.type": "output"})
    points = get_metric_points(metric_reader, "gen_ai.client.token.usage")
    assert sorted(p.sum for p in points) == [5, 12]
    assert get_metric_points(metric_reader, "nothing") == []
