"""chat.completions through the real openai SDK: span, attributes, metrics."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import semconv as sc
from tripwire.testing import chat_reply, server_error


def test_chat_span_attributes_and_metrics(env) -> None:
    env.server.enqueue(chat_reply("Hello there", usage=(12, 5, 4, 2), id="chatcmpl-abc"))
    client = env.client()
    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "hi"}],
        temperature=0.3, max_tokens=50, top_p=0.9, stop=["END"], seed=7, n=1,
    )
    assert result.choices[0].message.content == "Hello there"
    span = env.span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = span.attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[sc.GEN_AI_REQUEST_SEED] == 7
    assert sc.GEN_AI_REQUEST_CHOICE_COUNT not in a  # n=1 is the default: not recorded
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-abc"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 2
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert a[sc.SERVER_PORT] == env.server.port
    assert len(a[sc.TRIPWIRE_PROMPT_HASH]) == 16
    assert sc.GEN_AI_INPUT_MESSAGES not in a and sc.GEN_AI_OUTPUT_MESSAGES not in a

    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1
    assert duration.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert duration.attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert list(duration.explicit_bounds) == list(sc.DURATION_BUCKETS)
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in
              env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens["input"].sum == 12 and tokens["output"].sum == 5
    assert list(tokens["input"].explicit_bounds) == [float(b) for b in sc.TOKEN_USAGE_BUCKETS]
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK) == []


def test_metric_exemplars_point_at_the_call_span(env) -> None:
    # Recorded after the call's span is detached: the exemplars must still name that span,
    # not the application's span around the call.
    env.server.enqueue(chat_reply("Hello", usage=(12, 5)))
    app = env.tracer_provider.get_tracer("app")
    with env.client() as client, app.start_as_current_span("POST /chat") as parent:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])
    (chat,) = [s for s in env.spans() if s.name == "chat gpt-4o-mini"]
    data = env.reader.get_metrics_data()  # once: a collection resets the exemplars
    points = [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              if m.name in (sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
                            sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)
              for p in m.data.data_points]
    assert len(points) == 3
    for point in points:
        (exemplar,) = point.exemplars
        assert exemplar.span_id == chat.context.span_id != parent.get_span_context().span_id
        assert exemplar.trace_id == chat.context.trace_id


def test_only_sent_parameters_are_recorded(env) -> None:
    env.client().chat.completions.create(model="gpt-4o-mini",
                                         messages=[{"role": "user", "content": "hi"}])
    a = env.span().attributes
    for key in (sc.GEN_AI_REQUEST_TEMPERATURE, sc.GEN_AI_REQUEST_MAX_TOKENS,
                sc.GEN_AI_REQUEST_TOP_P, sc.GEN_AI_REQUEST_STOP_SEQUENCES,
                sc.GEN_AI_REQUEST_SEED, sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
                sc.GEN_AI_REQUEST_PRESENCE_PENALTY, sc.GEN_AI_OUTPUT_TYPE,
                sc.TRIPWIRE_PROMPT_HASH):
        assert key not in a


def test_max_completion_tokens_and_json_output(env) -> None:
    env.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
        max_completion_tokens=20, response_format={"type": "json_object"}, n=2)
    a = env.span().attributes
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 20
    assert a[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert a[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2


def test_error_sets_error_type_and_reraises_untouched(env) -> None:
    import openai

    env.server.enqueue(server_error(500))
    with pytest.raises(openai.InternalServerError) as info:
        env.client().chat.completions.create(model="gpt-4o-mini",
                                             messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 500
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "InternalServerError"
    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == "InternalServerError"
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE) == []


async def test_async_chat(env) -> None:
    env.server.enqueue(chat_reply("async hi", usage=(3, 2)))
    async with env.async_client() as client:
        result = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert result.choices[0].message.content == "async hi"
    span = env.span()
    assert span.name == "chat gpt-4o"
    assert span.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2


def test_parse_with_pydantic_format(env) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str

    env.server.enqueue(chat_reply('{"city": "Paris"}', usage=(9, 4)))
    parsed = env.client().chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "where?"}],
        response_format=Answer)
    assert parsed.choices[0].message.parsed.city == "Paris"
    span = env.span()
    assert span.attributes[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 9


def test_with_raw_response(env) -> None:
    env.server.enqueue(chat_reply("raw", usage=(4, 1)))
    raw = env.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content == "raw"
    assert env.span().attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


def test_one_shot_iterables_reach_the_sdk_unconsumed(env) -> None:
    env.server.enqueue(chat_reply("ok", usage=(4, 1)))
    messages = (m for m in [{"role": "system", "content": "Be brief."},
                            {"role": "user", "content": "hi"}])
    tools = (t for t in [{"type": "function", "function": {"name": "f", "parameters": {}}}])
    env.client().chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
    sent = env.server.last_request.json
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["tools"][0]["function"]["name"] == "f"
    span = env.span()
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 4
    assert sc.TRIPWIRE_PROMPT_HASH not in span.attributes  # not read, so not described


async def test_async_with_streaming_response_is_left_for_the_app(env) -> None:
    import warnings

    env.server.enqueue(chat_reply("streamed body", usage=(4, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a parse() coroutine never awaited would warn
        async with env.async_client() as client, \
                client.chat.completions.with_streaming_response.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]) as response:
            assert not response.http_response.is_closed  # we did not read it
            parsed = await response.parse()
    assert parsed.choices[0].message.content == "streamed body"
    span = env.span()
    assert span.name == "chat gpt-4o-mini"
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes
    assert span.status.status_code != StatusCode.ERROR


def test_with_streaming_response_body_stays_unread(env) -> None:
    env.server.enqueue(chat_reply("streamed body", usage=(4, 2)))
    with env.client().chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]) as response:
        assert not response.http_response.is_closed  # we did not read it
        lines = list(response.iter_lines())
    assert any("streamed body" in line for line in lines)
    span = env.span()
    assert span.name == "chat gpt-4o-mini"
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes
