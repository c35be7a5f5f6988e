"""generate_content_stream (a generator) and its async twin (an awaited async iterator):
one span per stream, ended exactly once on every exit path, with the stream's usage."""

from __future__ import annotations

import pytest
from google.genai import errors, types
from opentelemetry.trace import StatusCode

from tripwire import semconv as sc
from tripwire.testing.gemini_server import (
    GeminiUsage,
    gemini_error,
    gemini_function_call,
    gemini_prompt_blocked,
    gemini_response,
    gemini_safety_block,
)

from .conftest import Env, get_weather

ANSWER = "The quick brown fox jumps over the lazy dog"
USAGE = GeminiUsage(prompt_token_count=11, candidates_token_count=9, thoughts_token_count=4,
                    cached_content_token_count=3)


def _assert_stream_span(env: Env) -> None:
    span = env.span()
    assert span.name == "generate_content gemini-2.0-flash"
    assert span.status.status_code is StatusCode.UNSET
    a = span.attributes
    assert a[sc.GEN_AI_RESPONSE_ID] == "stream-1"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gemini-2.0-flash"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 13
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 4
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 3
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a
    (ttfc,) = env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1
    assert ttfc.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gemini-2.0-flash"
    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1 and duration.sum >= ttfc.sum
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum
              for p in env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens == {"input": 11, "output": 13}


def test_sync_stream(env: Env) -> None:
    env.server.enqueue(gemini_response(ANSWER, usage=USAGE, response_id="stream-1"))
    stream = env.client().models.generate_content_stream(model="gemini-2.0-flash",
                                                         contents="tell me")
    assert env.spans() == ()  # open until the stream ends
    chunks = list(stream)
    assert len(chunks) == len(ANSWER.split())
    assert "".join(c.text for c in chunks) == ANSWER
    _assert_stream_span(env)


async def test_async_stream(env: Env) -> None:
    env.server.enqueue(gemini_response(ANSWER, usage=USAGE, response_id="stream-1"))
    stream = await env.aio().models.generate_content_stream(model="gemini-2.0-flash",
                                                            contents="tell me")
    text = ""
    async for chunk in stream:
        text += chunk.text
    assert text == ANSWER
    _assert_stream_span(env)


def test_cut_short_stream_usage(env: Env) -> None:
    # exit paths themselves: tests/contract/test_streams.py
    env.server.enqueue(gemini_response(ANSWER))
    stream = env.client().models.generate_content_stream(model="gemini-2.0-flash",
                                                         contents="tell me")
    for _ in stream:
        break
    stream.close()
    span = env.span()
    # cut short: no final usage, the prompt count is known, the output is estimated
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 20
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] >= 1
    assert span.attributes[sc.TRIPWIRE_USAGE_ESTIMATED] is True


def test_sync_close_unread_sends_nothing(env: Env) -> None:
    stream = env.client().models.generate_content_stream(model="gemini-2.0-flash",
                                                         contents="tell me")
    stream.close()
    span = env.span()
    assert span.status.status_code is StatusCode.UNSET
    assert env.server.requests == []  # the SDK's generator never started


def test_sync_server_drops_mid_stream(env: Env) -> None:
    env.server.enqueue(gemini_response(ANSWER, abort_after=3))
    stream = env.client().models.generate_content_stream(model="gemini-2.0-flash",
                                                         contents="tell me")
    received = []
    with pytest.raises(Exception) as raised:
        for chunk in stream:
            received.append(chunk.text)
    assert len(received) == 3
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == type(raised.value).__qualname__
    assert span.attributes[sc.GEN_AI_RESPONSE_ID]  # what arrived is kept
    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == type(raised.value).__qualname__


def test_sync_http_error_on_first_read(env: Env) -> None:
    env.server.enqueue(gemini_error(429, "quota"))
    stream = env.client().models.generate_content_stream(model="gemini-2.0-flash",
                                                         contents="tell me")
    with pytest.raises(errors.ClientError) as raised:
        next(stream)
    assert raised.value.code == 429
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ClientError"


async def test_async_http_error(env: Env) -> None:
    env.server.enqueue(gemini_error(500))
    stream = await env.aio().models.generate_content_stream(model="gemini-2.0-flash",
                                                            contents="tell me")
    with pytest.raises(errors.ServerError):
        async for _ in stream:
            pass
    assert env.span().attributes[sc.ERROR_TYPE] == "ServerError"


def test_stream_without_usage_is_estimated(env: Env) -> None:
    env.server.enqueue(gemini_response(ANSWER, with_usage=False))
    text = "".join(c.text for c in env.client().models.generate_content_stream(
        model="gemini-2.0-flash", contents="tell me about foxes",
        config={"system_instruction": "Be brief."}))
    assert text == ANSWER
    a = env.span().attributes
    assert a[sc.TRIPWIRE_USAGE_ESTIMATED] is True
    assert a[sc.TRIPWIRE_USAGE_ESTIMATE_METHOD]
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] >= 4
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] >= 5
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_stream_safety_block(env: Env) -> None:
    env.server.enqueue(gemini_safety_block("HARM_CATEGORY_HATE_SPEECH"))
    list(env.client().models.generate_content_stream(model="gemini-2.0-flash", contents="x"))
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "hate_speech"
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 0
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a


async def test_async_stream_prompt_blocked(env: Env) -> None:
    env.server.enqueue(gemini_prompt_blocked("BLOCKLIST"))
    stream = await env.aio().models.generate_content_stream(model="gemini-2.0-flash",
                                                            contents="x")
    async for _ in stream:
        pass
    a = env.span().attributes
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "blocklist"


def test_stream_function_call(env: Env) -> None:
    env.server.enqueue(gemini_response([gemini_function_call("get_time", {"tz": "UTC"})]))
    list(env.client().models.generate_content_stream(
        model="gemini-2.0-flash", contents="time?",
        config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[
            types.FunctionDeclaration(name="get_weather")])])))
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_time",)
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("get_time",)


def test_stream_automatic_function_calling_sums_usage(env: Env) -> None:
    env.server.enqueue(
        gemini_response([gemini_function_call("get_weather", {"city": "Rome"})],
                        usage=GeminiUsage(20, 5), response_id="hop-1"),
        gemini_response("Sunny in Rome.", usage=GeminiUsage(40, 8), response_id="hop-2"))
    text = "".join(c.text or "" for c in env.client().models.generate_content_stream(
        model="gemini-2.0-flash", contents="weather in Rome?",
        config=types.GenerateContentConfig(tools=[get_weather])))
    assert text == "Sunny in Rome."
    assert len(env.server.requests) == 2
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_ID] == "hop-2"
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 60
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 13
