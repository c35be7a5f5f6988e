"""Streams through the real SDK: every exit path ends exactly one span, sync and async."""

from __future__ import annotations

import pytest
from opentelemetry.trace import StatusCode

from tripwire import semconv as sc
from tripwire.testing import chat_reply, responses_reply

MESSAGES = [{"role": "user", "content": "Tell me a story about a lighthouse keeper"}]
TEXT = "Once upon a time a keeper kept a light burning through every storm."


def _create(client, **kwargs):
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                          **kwargs)


def test_exhausted_stream_with_usage_chunk(env) -> None:
    env.server.enqueue(chat_reply(TEXT, usage=(11, 13)))
    text = "".join(c.choices[0].delta.content or "" for c in
                   _create(env.client(), stream_options={"include_usage": True}) if c.choices)
    assert text == TEXT
    span = env.span()
    a = span.attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11 and a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 13
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    (ttfc,) = env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1 and ttfc.sum == pytest.approx(a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK])


def test_stream_without_usage_is_estimated(env) -> None:
    env.server.enqueue(chat_reply(TEXT))
    for _ in _create(env.client()):
        pass
    a = env.span().attributes
    assert a[sc.TRIPWIRE_USAGE_ESTIMATED] is True
    assert a[sc.TRIPWIRE_USAGE_ESTIMATE_METHOD] in ("tiktoken", "bpe_openai")
    # o200k_base counts of the prompt and the answer text
    from tripwire._core.tokens import count_tokens

    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == count_tokens(TEXT, "gpt-4o-mini")[0]
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == count_tokens(MESSAGES[0]["content"], "gpt-4o-mini")[0]


def test_sse_error_event_mid_stream(env) -> None:
    import openai

    env.server.enqueue(chat_reply(TEXT, error_after=2))
    with pytest.raises(openai.APIError):
        for _ in _create(env.client()):
            pass
    assert env.span().status.status_code is StatusCode.ERROR


def test_tool_call_deltas_are_assembled(env) -> None:
    env.server.enqueue(chat_reply(tool_calls=[("call_9", "get_weather", '{"city": "Oslo"}')]))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    for _ in _create(env.client(), tools=tools):
        pass
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather",)
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("call_9",)
    assert sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in a
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


def test_chat_stream_helper_one_span(env) -> None:
    env.server.enqueue(chat_reply(TEXT, usage=(7, 9)))
    with env.client().chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES,
                                              stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == TEXT
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 9


def test_chat_stream_helper_early_exit_ends_span(env) -> None:
    env.server.enqueue(chat_reply(TEXT))
    with env.client().chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for _ in stream:
            break
    assert len(env.spans()) == 1


def test_responses_stream_helper(env) -> None:
    env.server.enqueue(responses_reply("Short answer.", usage=(8, 3)))
    with env.client().responses.stream(model="gpt-4o-mini", input="hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Short answer."
    span = env.span()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == final.id


def test_responses_stream_helper_early_exit(env) -> None:
    env.server.enqueue(responses_reply("A much longer answer that streams in many parts."))
    with env.client().responses.stream(model="gpt-4o-mini", input="hi") as stream:
        for _ in stream:
            break
    assert len(env.spans()) == 1


def test_responses_create_stream(env) -> None:
    env.server.enqueue(responses_reply("Streamed.", usage=(5, 2)))
    events = list(env.client().responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


async def test_async_chat_stream_helper(env) -> None:
    env.server.enqueue(chat_reply(TEXT, usage=(2, 3)))
    async with env.async_client().chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES,
            stream_options={"include_usage": True}) as stream:
        async for _ in stream:
            break
    assert len(env.spans()) == 1


async def test_async_responses_stream_helper(env) -> None:
    env.server.enqueue(responses_reply("ok", usage=(2, 1)))
    async with env.async_client().responses.stream(model="gpt-4o-mini", input="hi") as stream:
        final = await stream.get_final_response()
    assert final.output_text == "ok"
    assert env.span().attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
