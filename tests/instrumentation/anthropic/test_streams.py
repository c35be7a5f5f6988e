"""Streams through the real SDK — ``messages.create(stream=True)`` and the
``messages.stream(...)`` helper, sync and async: every exit path ends exactly one span."""

from __future__ import annotations

import gc

import anthropic
import pytest
from opentelemetry.trace import StatusCode

from tripwire import semconv as sc
from tripwire.testing.anthropic_server import (
    AnthropicUsage,
    anthropic_error,
    anthropic_message,
    anthropic_refusal,
    anthropic_text,
    anthropic_thinking,
    anthropic_tool_use,
)

from .conftest import ARGS, MODEL, SNAPSHOT

TEXT = "Once upon a time a keeper kept a light burning through every storm."
USAGE = AnthropicUsage(input_tokens=11, output_tokens=13, cache_read_input_tokens=5,
                       cache_creation_input_tokens=2)
WEATHER_TOOL = {"name": "get_weather", "input_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _text(event) -> str:
    if event.type == "content_block_delta" and event.delta.type == "text_delta":
        return event.delta.text
    return ""


def _create(client, **kwargs):
    return client.messages.create(**ARGS, stream=True, **kwargs)


def _assert_full_usage(a) -> None:
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11 + 5 + 2
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 13
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 5
    assert a[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 2
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a


# --- messages.create(stream=True) ---------------------------------------------------------

def test_exhausted_stream(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE, message_id="msg_s1"))
    assert "".join(_text(e) for e in _create(env.client())) == TEXT
    span = env.span()
    assert span.name == f"chat {MODEL}"
    assert span.status.status_code is StatusCode.UNSET
    a = span.attributes
    _assert_full_usage(a)
    assert a[sc.GEN_AI_RESPONSE_ID] == "msg_s1"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    (ttfc,) = env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1 and ttfc.sum == pytest.approx(a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK])
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum for p in
              env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens == {"input": 18, "output": 13}
    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1


def test_older_message_delta_with_output_tokens_only(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE, delta_usage="output_only"))
    for _ in _create(env.client()):
        pass
    _assert_full_usage(env.span().attributes)  # input and cache counts from message_start


def test_what_message_start_said_is_kept_when_cut_short(env) -> None:
    # exit paths themselves: tests/contract/test_streams.py
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE))
    stream = _create(env.client())
    for _ in stream:
        break
    stream.close()
    assert env.span().attributes[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT  # message_start was read
    env.exporter.clear()
    env.server.enqueue(anthropic_message(TEXT, abort_after=4))
    with pytest.raises(Exception):
        for _ in _create(env.client()):
            pass
    assert env.span().attributes[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT  # what arrived is kept


def test_error_event_mid_stream(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, error_after=3, error_type="overloaded_error"))
    with pytest.raises(anthropic.APIStatusError) as info:
        for _ in _create(env.client()):
            pass
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == type(info.value).__qualname__


def test_http_error_before_the_stream(env) -> None:
    env.server.enqueue(anthropic_error(400))
    with pytest.raises(anthropic.BadRequestError):
        _create(env.client())
    assert env.span().attributes[sc.ERROR_TYPE] == "BadRequestError"


def test_tool_input_json_deltas_are_assembled(env) -> None:
    env.server.enqueue(anthropic_message([
        anthropic_thinking("Which city?"), anthropic_text("Checking."),
        anthropic_tool_use("get_weather", {"city": "Oslo", "units": "metric"}, id="toolu_9"),
        anthropic_tool_use("get_weather", {"town": "Oslo"}, id="toolu_10"),
        anthropic_tool_use("launch", {}, id="toolu_11"),
    ]))
    for _ in _create(env.client(), tools=[WEATHER_TOOL]):
        pass
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather", "get_weather", "launch")
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("toolu_9", "toolu_10", "toolu_11")
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("launch",)
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)


def test_refusal_in_stream(env) -> None:
    env.server.enqueue(anthropic_refusal("violent_crimes", text="I can't"))
    for _ in _create(env.client()):
        pass
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "violent_crimes"


def test_refusal_in_stream_without_details(env) -> None:
    env.server.enqueue(anthropic_refusal(with_details=False))
    for _ in _create(env.client()):
        pass
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert sc.TRIPWIRE_REFUSAL_CATEGORY not in a


async def test_async_stream_exhausted(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE))
    stream = await _create(env.async_client())
    assert "".join([_text(e) async for e in stream]) == TEXT
    _assert_full_usage(env.span().attributes)


# --- the messages.stream(...) helper --------------------------------------------------------

def test_helper_final_message_one_span(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE, message_id="msg_h1"))
    with env.client().messages.stream(**ARGS, system="Be kind.") as stream:
        final = stream.get_final_message()
    assert final.content[0].text == TEXT
    span = env.span()
    assert span.name == f"chat {MODEL}"
    a = span.attributes
    _assert_full_usage(a)
    assert a[sc.GEN_AI_RESPONSE_ID] == "msg_h1"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert sc.TRIPWIRE_PROMPT_HASH in a
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_helper_text_stream(env) -> None:
    env.server.enqueue(anthropic_message(TEXT))
    with env.client().messages.stream(**ARGS) as stream:
        assert "".join(stream.text_stream) == TEXT
    assert len(env.spans()) == 1


def test_helper_tool_use(env) -> None:
    env.server.enqueue(anthropic_message([anthropic_tool_use("get_weather", {"city": "Rome"})]))
    with env.client().messages.stream(**ARGS, tools=[WEATHER_TOOL]) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == {"city": "Rome"}
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather",)
    assert sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in a


def test_helper_break_in_with_block(env) -> None:
    env.server.enqueue(anthropic_message(TEXT))
    with env.client().messages.stream(**ARGS) as stream:
        for _ in stream:
            break
        assert env.spans() == ()
    span = env.span()
    assert span.status.status_code is StatusCode.UNSET


def test_helper_explicit_close(env) -> None:
    env.server.enqueue(anthropic_message(TEXT))
    manager = env.client().messages.stream(**ARGS)
    stream = manager.__enter__()
    next(iter(stream))
    stream.close()
    assert len(env.spans()) == 1
    manager.__exit__(None, None, None)
    assert len(env.spans()) == 1


def test_helper_consumer_exception(env) -> None:
    env.server.enqueue(anthropic_message(TEXT))
    with pytest.raises(KeyError), env.client().messages.stream(**ARGS) as stream:
        for _ in stream:
            raise KeyError("app bug")
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "KeyError"


def test_helper_server_dies(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, abort_after=5))
    with pytest.raises(Exception) as info, env.client().messages.stream(**ARGS) as stream:
        stream.get_final_message()
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == type(info.value).__qualname__


def test_helper_http_error_on_enter(env) -> None:
    env.server.enqueue(anthropic_error(500))
    manager = env.client().messages.stream(**ARGS)
    assert env.spans() == ()  # nothing is sent before the manager is entered
    with pytest.raises(anthropic.InternalServerError), manager:
        pass
    assert env.span().attributes[sc.ERROR_TYPE] == "InternalServerError"


def test_helper_dropped_without_closing(env) -> None:
    env.server.enqueue(anthropic_message(TEXT))
    stream = env.client().messages.stream(**ARGS).__enter__()
    next(iter(stream))
    del stream
    gc.collect()
    assert len(env.spans()) == 1


def test_helper_never_entered_sends_nothing(env) -> None:
    env.client().messages.stream(**ARGS)
    gc.collect()
    assert env.spans() == () and env.server.requests == []


def test_beta_helper(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE))
    with env.client().beta.messages.stream(**ARGS) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 13
    _assert_full_usage(env.span().attributes)


async def test_async_helper_final_message(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE))
    async with env.async_client().messages.stream(**ARGS) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text == TEXT
    _assert_full_usage(env.span().attributes)


async def test_async_helper_break(env) -> None:
    env.server.enqueue(anthropic_message(TEXT))
    async with env.async_client().messages.stream(**ARGS) as stream:
        async for _ in stream:
            break
        assert env.spans() == ()
    assert len(env.spans()) == 1


async def test_async_helper_consumer_exception(env) -> None:
    env.server.enqueue(anthropic_message(TEXT))
    with pytest.raises(ValueError):
        async with env.async_client().messages.stream(**ARGS) as stream:
            async for _ in stream:
                raise ValueError("app bug")
    assert env.span().attributes[sc.ERROR_TYPE] == "ValueError"


async def test_async_helper_error_event(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, error_after=4))
    with pytest.raises(anthropic.APIStatusError):
        async with env.async_client().messages.stream(**ARGS) as stream:
            await stream.get_final_message()
    assert env.span().status.status_code is StatusCode.ERROR


async def test_async_beta_helper(env) -> None:
    env.server.enqueue(anthropic_message(TEXT, usage=USAGE))
    async with env.async_client().beta.messages.stream(**ARGS) as stream:
        await stream.until_done()
    _assert_full_usage(env.span().attributes)
