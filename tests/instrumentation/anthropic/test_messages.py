"""messages.create / parse (not streamed) through the real anthropic SDK: span, attributes,
metrics, tool calls, refusals, errors, retries."""

from __future__ import annotations

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import semconv as sc
from tripwire.testing.anthropic_server import (
    AnthropicUsage,
    anthropic_error,
    anthropic_message,
    anthropic_overloaded,
    anthropic_rate_limited,
    anthropic_refusal,
    anthropic_text,
    anthropic_thinking,
    anthropic_tool_use,
)

from .conftest import API_KEY, ARGS, MESSAGES, MODEL, SNAPSHOT

WEATHER_TOOL = {"name": "get_weather", "description": "Weather for a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}}


def test_span_attributes_and_metrics(env) -> None:
    env.server.enqueue(anthropic_message(
        "Hello there", message_id="msg_abc",
        usage=AnthropicUsage(input_tokens=7, output_tokens=30, cache_read_input_tokens=100,
                             cache_creation_input_tokens=40)))
    # anthropic 2.x has no sampling keywords any more: they go through extra_body
    result = env.client().messages.create(
        model=MODEL, max_tokens=50, messages=MESSAGES, system="Be brief.", stop_sequences=["END"],
        extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 40})
    assert env.server.last_request.json["temperature"] == 0.3
    assert result.content[0].text == "Hello there"
    span = env.span()
    assert span.name == "chat claude-sonnet-4-5"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope.name == "tripwire.instrumentation.anthropic"
    a = span.attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert a[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert a[sc.GEN_AI_REQUEST_TOP_K] == 40
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert a[sc.SERVER_PORT] == env.server.port
    assert a[sc.GEN_AI_RESPONSE_ID] == "msg_abc"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    # Anthropic's input_tokens excludes the cache; semconv's includes it
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 7 + 100 + 40
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 30
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert a[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 40
    assert len(a[sc.TRIPWIRE_PROMPT_HASH]) == 16
    assert sc.TRIPWIRE_REFUSAL not in a and sc.TRIPWIRE_TOOL_CALL_NAMES not in a
    assert sc.GEN_AI_INPUT_MESSAGES not in a and sc.GEN_AI_SYSTEM_INSTRUCTIONS not in a
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in a

    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1
    assert duration.attributes[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert duration.attributes[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT
    assert duration.attributes[sc.SERVER_PORT] == env.server.port
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in
              env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens["input"].sum == 147 and tokens["output"].sum == 30
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK) == []


def test_only_sent_parameters_are_recorded(env) -> None:
    env.client().messages.create(**ARGS)
    a = env.span().attributes
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 256
    for key in (sc.GEN_AI_REQUEST_TEMPERATURE, sc.GEN_AI_REQUEST_TOP_P, sc.GEN_AI_REQUEST_TOP_K,
                sc.GEN_AI_REQUEST_STOP_SEQUENCES, sc.GEN_AI_OUTPUT_TYPE):
        assert key not in a
    assert sc.TRIPWIRE_PROMPT_HASH not in a  # no system prompt
    # the fake's default usage has zero cache reads/writes: reported as such
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 25
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0


def test_system_as_string_or_blocks_gives_the_same_prompt_hash(env) -> None:
    client = env.client()
    client.messages.create(**ARGS, system="You are a lighthouse keeper.")
    client.messages.create(**ARGS, system=[{"type": "text", "text": "You are a lighthouse keeper.",
                                            "cache_control": {"type": "ephemeral"}}])
    client.messages.create(**ARGS, system="You are a sailor.")
    hashes = [s.attributes[sc.TRIPWIRE_PROMPT_HASH] for s in env.spans()]
    assert hashes[0] == hashes[1] != hashes[2]


def test_tool_use_declared_and_valid(env) -> None:
    env.server.enqueue(anthropic_message([anthropic_text("Let me check."),
                                          anthropic_tool_use("get_weather", {"city": "Paris"},
                                                             id="toolu_1")]))
    result = env.client().messages.create(**ARGS, tools=[WEATHER_TOOL])
    assert result.stop_reason == "tool_use"
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather",)
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("toolu_1",)
    assert sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES not in a
    assert sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in a
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)


def test_tool_use_unknown_and_invalid(env) -> None:
    env.server.enqueue(anthropic_message([
        anthropic_tool_use("get_weather", {"town": "Paris"}),  # misses the required "city"
        anthropic_tool_use("launch_rockets", {"count": 3}),
    ]))
    env.client().messages.create(**ARGS, tools=[WEATHER_TOOL])
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather", "launch_rockets")
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("launch_rockets",)
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)


def test_server_tools_count_as_declared(env) -> None:
    env.server.enqueue(anthropic_message([anthropic_tool_use("web_search", {"query": "x"})]))
    env.client().messages.create(**ARGS, tools=[
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}])
    assert sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES not in env.span().attributes


def test_refusal_with_stop_details(env) -> None:
    env.server.enqueue(anthropic_refusal("cyber", explanation="no"))
    result = env.client().messages.create(**ARGS)
    assert result.stop_reason == "refusal"
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "cyber"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("refusal",)
    assert env.span().status.status_code is StatusCode.UNSET  # a refusal is not an error


def test_refusal_without_stop_details(env) -> None:
    env.server.enqueue(anthropic_refusal(with_details=False))
    env.client().messages.create(**ARGS)
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert sc.TRIPWIRE_REFUSAL_CATEGORY not in a


def test_max_tokens_and_thinking(env) -> None:
    env.server.enqueue(anthropic_message([anthropic_thinking("hmm"), anthropic_text("cut")],
                                         stop_reason="max_tokens"))
    env.client().messages.create(**ARGS, thinking={"type": "enabled", "budget_tokens": 1024})
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert sc.TRIPWIRE_REFUSAL not in a


@pytest.mark.parametrize(("status", "exc_type"), [
    (400, anthropic.BadRequestError), (401, anthropic.AuthenticationError),
    (404, anthropic.NotFoundError), (500, anthropic.InternalServerError)])
def test_http_error(env, status, exc_type) -> None:
    env.server.enqueue(anthropic_error(status, message="nope"))
    with pytest.raises(exc_type) as info:
        env.client().messages.create(**ARGS)
    assert info.value.status_code == status  # the SDK's own exception, untouched
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == exc_type.__qualname__
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == exc_type.__qualname__
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE) == []


def test_connection_error(env) -> None:
    # nothing listens on the discard port
    client = anthropic.Anthropic(api_key=API_KEY, base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**ARGS)
    span = env.span()
    assert span.attributes[sc.ERROR_TYPE] == "APIConnectionError"
    assert span.attributes[sc.SERVER_PORT] == 9


def test_retry_after_429_then_success(env) -> None:
    env.server.enqueue(anthropic_rate_limited(retry_after=0.01), anthropic_message("ok"))
    result = env.client(max_retries=2).messages.create(**ARGS)
    assert result.content[0].text == "ok"
    assert len(env.server.requests) == 2
    span = env.span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 1
    (event,) = [e for e in span.events if e.name == sc.EVENT_RETRY]
    assert event.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 429
    assert event.attributes[sc.TRIPWIRE_RETRY_ATTEMPT] == 1
    (retries,) = env.points(sc.METRIC_RETRIES)
    assert retries.value == 1 and retries.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 429


def test_retries_exhausted_on_overload(env) -> None:
    env.server.enqueue(anthropic_overloaded(retry_after=0.01), anthropic_overloaded(retry_after=0.01))
    with pytest.raises(anthropic.APIStatusError) as info:
        env.client(max_retries=1).messages.create(**ARGS)
    assert info.value.status_code == 529
    span = env.span()
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 1
    assert span.status.status_code is StatusCode.ERROR


async def test_async_create(env) -> None:
    env.server.enqueue(anthropic_rate_limited(retry_after=0.01),
                       anthropic_message("async hello", usage=AnthropicUsage(3, 4)))
    result = await env.async_client(max_retries=1).messages.create(**ARGS, system="sys")
    assert result.content[0].text == "async hello"
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3 and a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert a[sc.TRIPWIRE_RETRY_COUNT] == 1
    assert sc.TRIPWIRE_PROMPT_HASH in a


async def test_async_error(env) -> None:
    env.server.enqueue(anthropic_error(400))
    with pytest.raises(anthropic.BadRequestError):
        await env.async_client().messages.create(**ARGS)
    assert env.span().attributes[sc.ERROR_TYPE] == "BadRequestError"


def test_parse_with_output_format(env) -> None:
    import pydantic

    class City(pydantic.BaseModel):
        name: str

    env.server.enqueue(anthropic_message('{"name": "Paris"}'))
    parsed = env.client().messages.parse(**ARGS, output_format=City)
    assert parsed.parsed_output == City(name="Paris")
    a = env.span().attributes
    assert a[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 12


def test_beta_messages(env) -> None:
    env.server.enqueue(anthropic_message("beta hi", usage=AnthropicUsage(5, 6)))
    result = env.client().beta.messages.create(**ARGS, betas=["some-beta-2025-01-01"])
    assert result.content[0].text == "beta hi"
    span = env.span()
    assert span.name == "chat claude-sonnet-4-5"
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 6


def test_with_raw_response(env) -> None:
    env.server.enqueue(anthropic_message("raw", usage=AnthropicUsage(2, 3)))
    raw = env.client().messages.with_raw_response.create(**ARGS)
    assert raw.parse().content[0].text == "raw"
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert a[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT


def test_with_streaming_response_is_left_unread(env) -> None:
    env.server.enqueue(anthropic_message("body"))
    with env.client().messages.with_streaming_response.create(**ARGS) as response:
        assert response.parse().content[0].text == "body"
    span = env.span()
    assert span.status.status_code is StatusCode.UNSET
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes  # body is the app's to read


def test_count_tokens_is_not_an_llm_call(env) -> None:
    env.server.enqueue(lambda request: __import__(
        "tripwire.testing._http", fromlist=["json_reply"]).json_reply({"input_tokens": 9}))
    count = env.client().messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert count.input_tokens == 9
    assert env.spans() == ()


def test_deprecated_model_name_passes_through(env) -> None:
    env.server.enqueue(anthropic_message("x", model="claude-3-5-haiku-20241022"))
    env.client().messages.create(model="claude-3-5-haiku-latest", max_tokens=5, messages=MESSAGES)
    a = env.span().attributes
    assert a[sc.GEN_AI_REQUEST_MODEL] == "claude-3-5-haiku-latest"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "claude-3-5-haiku-20241022"


def test_one_shot_iterables_reach_the_sdk_unconsumed(env) -> None:
    messages = (m for m in MESSAGES)
    system = (b for b in [{"type": "text", "text": "Be brief."}])
    tools = (t for t in [WEATHER_TOOL])
    env.client().messages.create(model=MODEL, max_tokens=5, messages=messages, system=system,
                                 tools=tools)
    sent = env.server.last_request.json
    assert sent["messages"] == MESSAGES
    assert sent["system"] == [{"type": "text", "text": "Be brief."}]
    assert sent["tools"][0]["name"] == "get_weather"
    assert env.span().attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 12


def test_thinking_tokens_are_reasoning_tokens(env) -> None:
    from tripwire.testing._http import json_reply

    def reply(request):
        body = anthropic_message([anthropic_thinking("hmm"), anthropic_text("ok")]).payload(MODEL)
        body["usage"]["output_tokens_details"] = {"thinking_tokens": 9}
        return json_reply(body)

    env.server.enqueue(reply)
    result = env.client().messages.create(**ARGS)
    assert result.usage.output_tokens_details.thinking_tokens == 9
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 9
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 12  # thinking included, as Anthropic counts it


def test_beta_tool_runner_one_span_per_turn(env) -> None:
    from anthropic import beta_tool

    @beta_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    env.server.enqueue(anthropic_message([anthropic_tool_use("get_weather", {"city": "Paris"})]),
                       anthropic_message("It is sunny."))
    runner = env.client().beta.messages.tool_runner(**ARGS, tools=[get_weather])
    assert [m.stop_reason for m in runner] == ["tool_use", "end_turn"]
    first, second = env.spans()
    assert first.attributes[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather",)
    assert sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES not in first.attributes
    assert second.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
