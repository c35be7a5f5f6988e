"""The OpenAI mappings (`instrumentation/openai/`), exactly, through the real openai SDK
against the fake server: every finish reason of Chat Completions and every status of the
Responses API (created and streamed), usage details (cached and reasoning tokens), response
ids and models, the requested and the served service tier, several choices and tool calls in
one answer, the request parameters and the captured messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from instrumentation.openai.conftest import Env
from instrumentation.telemetry_env import instrumented
from tripwire import semconv as sc
from tripwire._core.tokens import count_tokens
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.runtime import replace_settings
from tripwire.settings import ContentCapture
from tripwire.testing import FakeOpenAIServer, chat_reply, embeddings_reply, responses_reply
from tripwire.testing._http import StreamReply, json_reply, sse_event

MODEL = "gpt-4o-mini"
SNAPSHOT = "gpt-4o-mini-2024-07-18"  # what the fake server answers for MODEL
ASK = [{"role": "user", "content": "hi"}]
FINISH = sc.GEN_AI_RESPONSE_FINISH_REASONS


@pytest.fixture
def env() -> Iterator[Env]:
    with instrumented(OpenAIInstrumentor) as parts, FakeOpenAIServer() as server:
        yield Env(server=server, **parts)


@pytest.fixture
def captured() -> None:
    replace_settings(capture_content=ContentCapture("SPAN_ONLY"))


def attrs(env: Env) -> dict[str, Any]:
    return dict(env.span().attributes or {})


def outputs(env: Env) -> Any:
    return json.loads(attrs(env)[sc.GEN_AI_OUTPUT_MESSAGES])


def chat(env: Env, stream: bool = False, **kwargs: Any) -> None:
    kwargs.setdefault("messages", ASK)
    if stream:
        kwargs.setdefault("stream_options", {"include_usage": True})
    result = env.client().chat.completions.create(model=MODEL, stream=stream, **kwargs)
    if stream:
        for _ in result:
            pass


def respond(env: Env, stream: bool = False, **kwargs: Any) -> None:
    kwargs.setdefault("input", "hi")
    result = env.client().responses.create(model=MODEL, stream=stream, **kwargs)
    if stream:
        for _ in result:
            pass


def no_refusal(a: dict[str, Any]) -> bool:
    return not {sc.TRIPWIRE_REFUSAL, sc.TRIPWIRE_REFUSAL_SOURCE,
                sc.TRIPWIRE_REFUSAL_CATEGORY} & set(a)


# --- Chat Completions: finish reasons -----------------------------------------------------


def assert_refusal_by_finish(a: Any, finish: str) -> None:
    """A content-filter finish is a refusal told by the finish reason; any other is none."""
    if finish == "content_filter":
        assert a[sc.TRIPWIRE_REFUSAL] is True
        assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
        assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "content_filter"
    else:
        assert no_refusal(a)


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("finish", ["stop", "length", "tool_calls", "function_call",
                                    "content_filter"])
def test_chat_finish_reason(env: Env, captured: None, finish: str, stream: bool) -> None:
    env.server.enqueue(chat_reply("Some answer", finish_reason=finish,  # type: ignore[arg-type]
                                  usage=(3, 2)))
    chat(env, stream)
    a = attrs(env)
    assert a[FINISH] == (finish,)
    assert outputs(env) == [{"role": "assistant", "finish_reason": finish,
                             "parts": [{"type": "text", "content": "Some answer"}]}]
    assert_refusal_by_finish(a, finish)


def _completion(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-multi", "object": "chat.completion", "created": 1,
            "model": "gpt-4o-mini-2024-07-18", "choices": choices,
            "usage": {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17}, **extra}


def _choice(index: int, finish: str | None, content: str | None = None,
            refusal: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"index": index, "finish_reason": finish, **extra,
            "message": {"role": "assistant", "content": content, "refusal": refusal}}


def test_several_choices_each_their_finish_reason_and_message(env: Env, captured: None) -> None:
    env.server.enqueue(json_reply(_completion([
        _choice(0, "stop", "first"), _choice(1, "length", "second"),
        _choice(2, None, "third"), _choice(3, "stop", None)])))
    chat(env, n=4)
    a = attrs(env)
    assert a[FINISH] == ("stop", "length", "stop")  # a choice without one adds none
    assert a[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 4
    assert no_refusal(a)
    assert outputs(env) == [
        {"role": "assistant", "finish_reason": "stop",
         "parts": [{"type": "text", "content": "first"}]},
        {"role": "assistant", "finish_reason": "length",
         "parts": [{"type": "text", "content": "second"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "third"}]},
        {"role": "assistant", "finish_reason": "stop", "parts": []},
    ]


def test_a_refusal_in_a_later_choice(env: Env, captured: None) -> None:
    env.server.enqueue(json_reply(_completion([
        _choice(0, "stop", "Sure."), _choice(1, "stop", None, "I can't help with that.")])))
    chat(env, n=2)
    a = attrs(env)
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert sc.TRIPWIRE_REFUSAL_CATEGORY not in a
    assert outputs(env)[1] == {"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "refusal", "content": "I can't help with that."}]}


@pytest.mark.parametrize(("verdicts", "category"), [
    ({"hate": {"filtered": False, "severity": "safe"},
      "violence": {"filtered": True, "severity": "high"}}, "violence"),
    ({"self_harm": {"filtered": True}, "violence": {"filtered": True}}, "self_harm"),
    ({"hate": {"filtered": "true"}, "sexual": "filtered"}, "content_filter"),
    ({}, "content_filter"),
    ("filtered", "content_filter"),
])
def test_azure_filter_category(env: Env, verdicts: Any, category: str) -> None:
    env.server.enqueue(json_reply(_completion([
        _choice(0, "content_filter", None, content_filter_results=verdicts)])))
    chat(env)
    a = attrs(env)
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == category


def test_a_refusal_field_wins_over_the_content_filter_of_its_choice(env: Env) -> None:
    env.server.enqueue(json_reply(_completion([_choice(0, "content_filter", None, "No.")])))
    chat(env)
    a = attrs(env)
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert sc.TRIPWIRE_REFUSAL_CATEGORY not in a


def test_text_refusal_and_tool_calls_of_one_message_in_order(env: Env, captured: None) -> None:
    message = {"role": "assistant", "content": "Let me check.", "refusal": "Not that part.",
               "tool_calls": [
                   {"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
                   {"id": "call_2", "type": "custom",
                    "custom": {"name": "run_sql", "input": "select 1"}}]}
    env.server.enqueue(json_reply(_completion([
        {"index": 0, "finish_reason": "tool_calls", "message": message}])))
    chat(env)
    a = attrs(env)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather", "run_sql")
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("call_1", "call_2")
    assert sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS not in a  # a custom tool's input is text
    assert outputs(env) == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "text", "content": "Let me check."},
        {"type": "refusal", "content": "Not that part."},
        {"type": "tool_call", "name": "get_weather", "id": "call_1",
         "arguments": {"city": "Oslo"}},
        {"type": "tool_call", "name": "run_sql", "id": "call_2", "arguments": "select 1"}]}]


def test_custom_tool_input_is_free_text_not_invalid_json(env: Env) -> None:
    # Custom (free-form) tools take text; only function calls have JSON arguments to check.
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "custom", "custom": {"name": "run_sql", "input": "select 1"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": '}},
        {"id": "call_3", "type": "custom", "custom": {"name": "nope", "input": "x"}}]}
    env.server.enqueue(json_reply(_completion([
        {"index": 0, "finish_reason": "tool_calls", "message": message}])))
    chat(env, tools=[{"type": "custom", "custom": {"name": "run_sql"}},
                     {"type": "function", "function": {"name": "get_weather"}}])
    a = attrs(env)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("run_sql", "get_weather", "nope")
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("nope",)


# --- Chat Completions: usage, ids, tiers ---------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_chat_usage_details_id_and_model(env: Env, stream: bool) -> None:
    env.server.enqueue(chat_reply("ok", usage=(120, 50, 30, 20), id="chatcmpl-xyz"))
    chat(env, stream)
    a = attrs(env)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 50
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 30
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 20
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-xyz"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a


def test_chat_usage_without_details(env: Env) -> None:
    env.server.enqueue(json_reply(_completion([_choice(0, "stop", "ok")])))
    chat(env)
    a = attrs(env)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (9, 8)
    assert sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in a
    assert sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in a


def test_chat_usage_with_only_one_detail(env: Env) -> None:
    body = _completion([_choice(0, "stop", "ok")])
    body["usage"]["completion_tokens_details"] = {"reasoning_tokens": 6}
    env.server.enqueue(json_reply(body))
    chat(env)
    a = attrs(env)
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 6
    assert sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in a
    env.exporter.clear()
    body["usage"] = {"prompt_tokens": 9, "completion_tokens": 8,
                     "prompt_tokens_details": {"cached_tokens": 4}}
    env.server.enqueue(json_reply(body))
    chat(env)
    a = attrs(env)
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4
    assert sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in a


def test_chat_without_usage(env: Env) -> None:
    body = _completion([_choice(0, "stop", "one two three")])
    del body["usage"]
    env.server.enqueue(json_reply(body))
    chat(env)
    a = attrs(env)
    # Only a stream's missing usage is estimated.
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a and sc.GEN_AI_USAGE_OUTPUT_TOKENS not in a
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-multi"


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize(("sent", "served"), [
    ("flex", "flex"), ("priority", "priority"), ("auto", "default"), ("default", "default")])
def test_chat_service_tier_requested_and_served(env: Env, stream: bool, sent: str,
                                                served: str) -> None:
    chat(env, stream, service_tier=sent)
    a = attrs(env)
    assert a[sc.OPENAI_REQUEST_SERVICE_TIER] == sent
    assert a[sc.OPENAI_RESPONSE_SERVICE_TIER] == served


def test_service_tier_from_extra_body_and_the_parameter_first(env: Env) -> None:
    chat(env, extra_body={"service_tier": "priority"})
    assert attrs(env)[sc.OPENAI_REQUEST_SERVICE_TIER] == "priority"
    env.exporter.clear()
    chat(env, service_tier="flex", extra_body={"other": 1})
    assert attrs(env)[sc.OPENAI_REQUEST_SERVICE_TIER] == "flex"


def test_no_tier_sent_and_no_tier_served(env: Env) -> None:
    body = _completion([_choice(0, "stop", "ok")], service_tier="")
    env.server.enqueue(json_reply(body))
    chat(env, service_tier="")
    a = attrs(env)
    assert sc.OPENAI_REQUEST_SERVICE_TIER not in a and sc.OPENAI_RESPONSE_SERVICE_TIER not in a
    env.exporter.clear()
    env.server.enqueue(json_reply(_completion([_choice(0, "stop", "ok")], service_tier=3)))
    chat(env, extra_body={"service_tier": 5})
    a = attrs(env)
    assert sc.OPENAI_REQUEST_SERVICE_TIER not in a and sc.OPENAI_RESPONSE_SERVICE_TIER not in a


# --- Chat Completions: streams with several choices and tool calls -------------------------


def _chunks(*chunks: dict[str, Any]) -> StreamReply:
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini-2024-07-18"}
    events = [sse_event({**base, **chunk}) for chunk in chunks]
    return StreamReply([*events, b"data: [DONE]\n\n"])


def _delta(index: int, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def test_stream_of_several_choices(env: Env, captured: None) -> None:
    env.server.enqueue(_chunks(
        _delta(1, content="B1 "), _delta(0, content="A1 "), _delta(1, content="B2"),
        _delta(1, "length"), _delta(0, content="A2"), _delta(2, content="C never ends"),
        _delta(0, refusal="no"), _delta(0, refusal=" way"), _delta(0, "stop"),
        {"choices": [], "service_tier": "flex", "id": "chatcmpl-last", "model": "m-last",
         "usage": {"prompt_tokens": 4, "completion_tokens": 6,
                   "prompt_tokens_details": {"cached_tokens": 1},
                   "completion_tokens_details": {"reasoning_tokens": 2}}}))
    chat(env, True, n=3)
    a = attrs(env)
    assert a[FINISH] == ("stop", "length")  # by choice index, not by arrival
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-last"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "m-last"
    assert a[sc.OPENAI_RESPONSE_SERVICE_TIER] == "flex"
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (4, 6)
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 2
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert outputs(env) == [
        {"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "text", "content": "A1 A2"}, {"type": "refusal", "content": "no way"}]},
        {"role": "assistant", "finish_reason": "length", "parts": [
            {"type": "text", "content": "B1 B2"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "C never ends"}]},
    ]


def test_stream_tool_call_fragments_of_several_calls(env: Env, captured: None) -> None:
    def call(i: int, **fields: Any) -> dict[str, Any]:
        return _delta(0, tool_calls=[{"index": i, **fields}])

    env.server.enqueue(_chunks(
        call(1, id="call_b", type="function", function={"name": "get_", "arguments": ""}),
        call(0, id="call_a", type="function", function={"name": "lookup", "arguments": '{"q"'}),
        call(1, function={"name": "time", "arguments": '{"tz": '}),
        call(0, id="", function={"arguments": ': "x"}'}),  # an empty id keeps the first
        call(1, id=5, function={"name": 7, "arguments": 8}),  # not text: skipped
        call(1, function={"name": 9, "arguments": '"UTC"}'}),  # its arguments kept
        _delta(0, "tool_calls")))
    chat(env, True)
    a = attrs(env)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("lookup", "get_time")
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("call_a", "call_b")
    assert outputs(env) == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "name": "lookup", "id": "call_a", "arguments": {"q": "x"}},
        {"type": "tool_call", "name": "get_time", "id": "call_b", "arguments": {"tz": "UTC"}},
    ]}]


def test_stream_content_filter_with_azure_verdicts_on_the_final_choice(env: Env) -> None:
    env.server.enqueue(_chunks(
        _delta(0, content="partial"),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter",
                      "content_filter_results": {"hate": {"filtered": False},
                                                 "sexual": {"filtered": True}}}]}))
    chat(env, True)
    a = attrs(env)
    assert a[FINISH] == ("content_filter",)
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "sexual"


def test_stream_without_usage_estimates_from_text_and_refusal(env: Env) -> None:
    env.server.enqueue(_chunks(_delta(0, content="alpha beta"), _delta(0, refusal=" gamma"),
                               _delta(1, content=" delta"), _delta(0, "stop")))
    chat(env, True, stream_options=None,
         messages=[{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": [{"type": "text", "text": "Say "},
                                                {"type": "text", "text": "three words"}]}])
    a = attrs(env)
    assert a[sc.TRIPWIRE_USAGE_ESTIMATED] is True
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == count_tokens("Be brief.\nSay three words",
                                                           MODEL)[0]
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == count_tokens("alpha beta gamma delta", MODEL)[0]
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-s"
    assert sc.OPENAI_RESPONSE_SERVICE_TIER not in a


# --- Chat Completions: the request --------------------------------------------------------


def test_chat_request_parameters(env: Env) -> None:
    chat(env, temperature=0.25, top_p=0.5, frequency_penalty=0.75, presence_penalty=-0.5,
         seed=11, max_completion_tokens=40, max_tokens=90, n=3, stop="END")
    a = attrs(env)
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.25
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.5
    assert a[sc.GEN_AI_REQUEST_FREQUENCY_PENALTY] == 0.75
    assert a[sc.GEN_AI_REQUEST_PRESENCE_PENALTY] == -0.5
    assert a[sc.GEN_AI_REQUEST_SEED] == 11
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 40  # max_completion_tokens first
    assert a[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 3
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[sc.GEN_AI_REQUEST_MODEL] == MODEL
    env.exporter.clear()
    chat(env, max_tokens=90, temperature=0, stop=["a", "b"])
    a = attrs(env)
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 90
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("a", "b")
    for absent in (sc.GEN_AI_REQUEST_TOP_P, sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
                   sc.GEN_AI_REQUEST_PRESENCE_PENALTY, sc.GEN_AI_REQUEST_SEED,
                   sc.GEN_AI_REQUEST_CHOICE_COUNT, sc.GEN_AI_OUTPUT_TYPE):
        assert absent not in a


@pytest.mark.parametrize(("response_format", "output_type"), [
    ({"type": "json_object"}, "json"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, "json"),
    ({"type": "text"}, "text"),
    ({"type": ""}, None),
])
def test_chat_output_type(env: Env, response_format: Any, output_type: str | None) -> None:
    chat(env, response_format=response_format)
    assert attrs(env).get(sc.GEN_AI_OUTPUT_TYPE) == output_type


def test_chat_input_messages_and_system_texts(env: Env, captured: None) -> None:
    messages = [
        {"role": "system", "content": "Rule one."},
        {"role": "developer", "content": [{"type": "text", "text": "Rule "},
                                          {"type": "image_url", "image_url": {"url": "u"}},
                                          {"type": "text", "text": "two."}]},
        {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                     {"type": "image_url", "image_url": {"url": "http://x"}},
                                     {"text": "untyped"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"content": "no role"},
    ]
    chat(env, messages=messages)
    a = attrs(env)
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Rule one."}]},
        {"role": "developer", "parts": [{"type": "text", "content": "Rule "},
                                        {"type": "image_url"},
                                        {"type": "text", "content": "two."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Look:"}, {"type": "image_url"},
                                   {"type": "unknown"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "get_weather",
                                         "id": "call_1", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": "sunny",
                                    "id": "call_1"}]},
        {"role": "user", "parts": [{"type": "text", "content": "no role"}]},
    ]
    from tripwire._core.tools import prompt_hash

    assert a[sc.TRIPWIRE_PROMPT_HASH] == prompt_hash(["Rule one.", "Rule two."])


def test_chat_flat_custom_tool_and_calls_without_a_name(env: Env) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "custom", "custom": {"name": "flat", "input": "x"}},
        {"id": "c2", "type": "function", "function": {"name": None, "arguments": "{}"}},
        {"id": "c3", "type": "custom", "custom": {"input": "y"}}]}
    env.server.enqueue(json_reply(_completion([
        {"index": 0, "finish_reason": "tool_calls", "message": message}])))
    chat(env, tools=[{"type": "custom", "name": "flat"}])  # the name beside the type
    a = attrs(env)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("flat", "", "")
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("", "")


def test_chat_declared_tools(env: Env) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
                 "type": "object", "properties": {"city": {"type": "string"}},
                 "required": ["city"]}}},
             {"type": "custom", "custom": {"name": "run_sql"}},
             {"type": "function", "function": {"name": "", "parameters": {}}}]
    env.server.enqueue(chat_reply(tool_calls=[
        ("c1", "get_weather", '{"town": "x"}'), ("c2", "run_sql", '{"any": 1}'),
        ("c3", "nope", "{}")]))
    chat(env, tools=tools)
    a = attrs(env)
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("nope",)
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)


# --- Responses: every status --------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize(("status", "reason", "finish"), [
    ("completed", None, "stop"),
    ("incomplete", "max_output_tokens", "length"),
    ("incomplete", "content_filter", "content_filter"),
    ("incomplete", "max_tool_calls", "max_tool_calls"),  # an unknown reason as it came
    ("failed", None, "error"),
])
def test_responses_finish_reason(env: Env, captured: None, stream: bool, status: str,
                                 reason: str | None, finish: str) -> None:
    env.server.enqueue(responses_reply("Partial answer", status=status,  # type: ignore[arg-type]
                                       incomplete_reason=reason, usage=(4, 2)))
    respond(env, stream)
    a = attrs(env)
    assert a[FINISH] == (finish,)
    assert outputs(env) == [{"role": "assistant", "finish_reason": finish,
                             "parts": [{"type": "text", "content": "Partial answer"}]}]
    assert_refusal_by_finish(a, finish)


def _response(status: str | None, **extra: Any) -> dict[str, Any]:
    return {"id": "resp_x", "object": "response", "created_at": 1, "model": "m-resp",
            "status": status, "output": [], "incomplete_details": None,
            "usage": {"input_tokens": 3, "output_tokens": 1}, **extra}


def _event(kind: str, **payload: Any) -> bytes:
    return sse_event({"type": kind, "sequence_number": 0, **payload}, kind)


def _final_only(body: dict[str, Any]) -> StreamReply:
    """A Responses stream of ``body`` as its ``response.completed`` event."""
    return StreamReply([_event("response.created", response={**body, "status": "in_progress"}),
                        _event("response.completed", response=body)])


@pytest.mark.parametrize(("status", "details", "finish"), [
    ("incomplete", None, ("incomplete",)),
    ("incomplete", {"reason": None}, ("incomplete",)),
    ("incomplete", {"reason": ""}, ("incomplete",)),
    ("cancelled", None, ("cancelled",)),
    ("failed", None, ("error",)),
    ("in_progress", None, None),
    ("queued", None, None),
    (None, None, None),
])
def test_responses_status_without_a_reason(env: Env, status: str | None, details: Any,
                                           finish: tuple[str, ...] | None) -> None:
    env.server.enqueue(json_reply(_response(status, incomplete_details=details)))  # type: ignore[arg-type]
    respond(env)
    a = attrs(env)
    assert a.get(FINISH) == finish
    assert no_refusal(a)


def test_responses_completed_with_a_tool_call(env: Env, captured: None) -> None:
    env.server.enqueue(responses_reply("Calling.", tool_calls=[
        ("fc_1", "get_weather", '{"city": "Oslo"}'), ("fc_2", "get_time", "{}")]))
    respond(env)
    a = attrs(env)
    assert a[FINISH] == ("tool_calls",)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("fc_1", "fc_2")
    assert outputs(env) == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "text", "content": "Calling."},
        {"type": "tool_call", "name": "get_weather", "id": "fc_1", "arguments": {"city": "Oslo"}},
        {"type": "tool_call", "name": "get_time", "id": "fc_2", "arguments": {}}]}]


def test_responses_refusal_is_not_overridden_by_the_content_filter(env: Env,
                                                                   captured: None) -> None:
    env.server.enqueue(responses_reply("Some", refusal="I won't.", status="incomplete",
                                       incomplete_reason="content_filter"))
    respond(env)
    a = attrs(env)
    assert a[FINISH] == ("content_filter",)
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert sc.TRIPWIRE_REFUSAL_CATEGORY not in a
    assert outputs(env)[0]["parts"] == [{"type": "text", "content": "Some"},
                                        {"type": "refusal", "content": "I won't."}]


def test_responses_output_pieces_in_order(env: Env, captured: None) -> None:
    output = [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "id": "m1", "role": "assistant", "status": "completed", "content": [
            {"type": "output_text", "text": "One.", "annotations": []},
            {"type": "other_part"},
            {"type": "output_text", "text": "Two.", "annotations": []}]},
        {"type": "function_call", "id": "f1", "call_id": "call_z", "name": None,
         "arguments": "{}"},
        {"type": "message", "id": "m2", "role": "assistant", "status": "completed", "content": [
            {"type": "refusal", "refusal": "No more."}]},
    ]
    body = _response("completed", output=output)
    del body["usage"]
    env.server.enqueue(_final_only(body))
    respond(env, True, input="one two", instructions="Sys text.")
    a = attrs(env)
    assert a[FINISH] == ("tool_calls",)
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert outputs(env) == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "text", "content": "One."}, {"type": "text", "content": "Two."},
        {"type": "tool_call", "name": "", "id": "call_z", "arguments": {}},
        {"type": "refusal", "content": "No more."}]}]
    # No usage: both counts estimated, the output from the text parts only.
    assert a[sc.TRIPWIRE_USAGE_ESTIMATED] is True
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == count_tokens("One.Two.", MODEL)[0]
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == count_tokens("Sys text.\none two", MODEL)[0]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_responses_custom_tool_calls_are_tool_calls_with_free_text(
        env: Env, captured: None, stream: bool) -> None:
    output = [
        {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_sql", "name": "run_sql",
         "input": "select * from orders where id = 7", "status": "completed"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_w", "name": "get_weather",
         "arguments": '{"city": '},
        {"type": "custom_tool_call", "id": "ctc_2", "call_id": "call_x", "name": "nope",
         "input": "x", "status": "completed"},
    ]
    env.server.enqueue(_final_only(_response("completed", output=output)) if stream
                       else json_reply(_response("completed", output=output)))
    respond(env, stream, tools=[
        {"type": "custom", "name": "run_sql"},
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
    a = attrs(env)
    assert a[FINISH] == ("tool_calls",)
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("run_sql", "get_weather", "nope")
    assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("call_sql", "call_w", "call_x")
    # Only the function call's arguments are JSON to check; a custom tool's text is not.
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("nope",)
    assert outputs(env)[0]["parts"][0] == {
        "type": "tool_call", "name": "run_sql", "id": "call_sql",
        "arguments": "select * from orders where id = 7"}


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_responses_usage_details_id_model_and_tier(env: Env, stream: bool) -> None:
    env.server.enqueue(responses_reply("ok", usage=(200, 40, 150, 30), id="resp_abc"))
    respond(env, stream, service_tier="flex")
    a = attrs(env)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (200, 40)
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 150
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 30
    assert a[sc.GEN_AI_RESPONSE_ID] == "resp_abc"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == SNAPSHOT
    assert a[sc.OPENAI_REQUEST_SERVICE_TIER] == "flex"
    assert a[sc.OPENAI_RESPONSE_SERVICE_TIER] == "flex"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1" and a[sc.SERVER_PORT] == env.server.port


def test_a_raw_streamed_responses_stream_is_left_unread(env: Env, captured: None) -> None:
    raw = env.client().responses.with_raw_response.create(model=MODEL, input="hi",
                                                          stream=True)
    for _ in raw.parse():
        pass
    a = attrs(env)
    assert FINISH not in a and sc.GEN_AI_OUTPUT_MESSAGES not in a
    assert sc.GEN_AI_RESPONSE_ID not in a and sc.OPENAI_RESPONSE_SERVICE_TIER not in a


def test_responses_stream_without_a_terminal_event(env: Env, captured: None) -> None:
    event = _event
    pending = _response("in_progress", id="resp_early", model="m-early", usage=None)
    env.server.enqueue(StreamReply([
        event("response.created", response={**pending, "id": "resp_first"}),
        event("response.in_progress", response=pending),
        event("response.output_text.delta", item_id="m", output_index=0, content_index=0,
              delta="alpha ", logprobs=[]),
        event("response.output_item.added", output_index=1, item={"type": "message"}),
        event("response.output_text.delta", item_id="m", output_index=0, content_index=0,
              delta="beta", logprobs=[]),
    ]))
    respond(env, True)
    a = attrs(env)
    assert a[sc.GEN_AI_RESPONSE_ID] == "resp_early"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "m-early"
    assert FINISH not in a
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == count_tokens("alpha beta", MODEL)[0]
    assert outputs(env) == [{"role": "assistant",
                             "parts": [{"type": "text", "content": "alpha beta"}]}]


def test_responses_stream_keeps_the_terminal_response(env: Env) -> None:
    env.server.enqueue(responses_reply("final text", status="incomplete", usage=(6, 3),
                                       id="resp_term"))
    respond(env, True)
    a = attrs(env)
    assert a[sc.GEN_AI_RESPONSE_ID] == "resp_term"
    assert a[FINISH] == ("length",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (6, 3)
    assert sc.TRIPWIRE_USAGE_ESTIMATED not in a


# --- Responses: the request ---------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "output_type"), [
    ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}, "json"),
    ({"text": {"format": {"type": "json_object"}}}, "json"),
    ({"text": {"format": {"type": "text"}}}, "text"),
    ({"text": {"verbosity": "low"}}, None),
    ({}, None),
])
def test_responses_output_type(env: Env, kwargs: dict[str, Any], output_type: str | None) -> None:
    respond(env, **kwargs)
    assert attrs(env).get(sc.GEN_AI_OUTPUT_TYPE) == output_type


def test_responses_parse_with_a_text_format_is_json(env: Env) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str

    env.server.enqueue(responses_reply('{"city": "Oslo"}'))
    env.client().responses.parse(model=MODEL, input="where?", text_format=Answer)
    assert attrs(env)[sc.GEN_AI_OUTPUT_TYPE] == "json"


def test_responses_request_parameters_and_conversation(env: Env) -> None:
    respond(env, max_output_tokens=64, temperature=0.5, top_p=0.25, conversation="conv_1")
    a = attrs(env)
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.25
    assert a[sc.GEN_AI_CONVERSATION_ID] == "conv_1"
    assert a[sc.GEN_AI_REQUEST_MODEL] == MODEL
    env.exporter.clear()
    respond(env, conversation={"id": "conv_2"})
    a = attrs(env)
    assert a[sc.GEN_AI_CONVERSATION_ID] == "conv_2"
    assert sc.GEN_AI_REQUEST_MAX_TOKENS not in a and sc.GEN_AI_REQUEST_TEMPERATURE not in a
    env.exporter.clear()
    respond(env)
    assert sc.GEN_AI_CONVERSATION_ID not in attrs(env)


def test_responses_input_items_and_instructions(env: Env, captured: None) -> None:
    items = [
        {"role": "developer", "content": "Dev."},
        {"role": "user", "content": "Plain text."},
        {"role": "user", "content": [{"type": "input_text", "text": "Look:"},
                                     {"type": "input_image", "image_url": "http://x"},
                                     {"image_url": "http://y"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "message", "content": "No role."},
    ]
    body = _response("completed")
    del body["usage"]
    env.server.enqueue(_final_only(body))
    respond(env, True, input=items, instructions="Be terse.")
    a = attrs(env)
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "developer", "parts": [{"type": "text", "content": "Dev."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Plain text."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Look:"},
                                   {"type": "input_image"}, {"type": "unknown"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "get_weather",
                                         "id": "call_1", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": "sunny",
                                    "id": "call_1"}]},
        {"role": "user", "parts": [{"type": "text", "content": "No role."}]},
    ]
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "Be terse."}]
    from tripwire._core.tools import prompt_hash

    assert a[sc.TRIPWIRE_PROMPT_HASH] == prompt_hash(["Be terse."])
    # The estimated prompt: the instructions, then the text of every item.
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == count_tokens(
        "Be terse.\nDev.\nPlain text.\nLook:\n\n\nNo role.", MODEL)[0]


def test_responses_string_input_without_instructions(env: Env, captured: None) -> None:
    body = _response("completed")
    del body["usage"]
    env.server.enqueue(_final_only(body))
    respond(env, True, input="Just a question here", instructions="")
    a = attrs(env)
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Just a question here"}]}]
    assert sc.GEN_AI_SYSTEM_INSTRUCTIONS not in a and sc.TRIPWIRE_PROMPT_HASH not in a
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == count_tokens("\nJust a question here", MODEL)[0]


def test_responses_declared_tools(env: Env) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {
                 "type": "object", "properties": {"city": {"type": "string"}},
                 "required": ["city"]}},
             {"type": "custom", "name": "run_sql"},
             {"type": "web_search"}]
    env.server.enqueue(responses_reply(tool_calls=[
        ("c1", "get_weather", '{"town": "x"}'), ("c2", "run_sql", '"select"'),
        ("c3", "nope", "{}")]))
    respond(env, tools=tools)
    a = attrs(env)
    assert a[sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] == ("nope",)
    assert a[sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] == ("get_weather",)
    env.exporter.clear()
    # Only hosted tools (and a function without a name): nothing to check the calls against.
    env.server.enqueue(responses_reply(tool_calls=[("c3", "nope", "{}")]))
    respond(env, tools=[{"type": "web_search"}, {"type": "function", "parameters": {}}])
    assert sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES not in attrs(env)


def test_responses_instructions_that_are_no_text(env: Env, captured: None) -> None:
    respond(env, instructions=["not", "text"])
    a = attrs(env)
    assert sc.GEN_AI_SYSTEM_INSTRUCTIONS not in a and sc.TRIPWIRE_PROMPT_HASH not in a
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}]


# --- Embeddings ---------------------------------------------------------------------------


def test_embeddings_exactly(env: Env) -> None:
    env.server.enqueue(embeddings_reply(usage=7, model="text-embedding-3-small-v9"))
    env.client().embeddings.create(model="text-embedding-3-small", input=["a b", "c"],
                                   dimensions=4, encoding_format="base64")
    a = attrs(env)
    assert a[sc.GEN_AI_REQUEST_MODEL] == "text-embedding-3-small"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "text-embedding-3-small-v9"
    assert a[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 4
    assert a[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("base64",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in a
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1" and a[sc.SERVER_PORT] == env.server.port


def test_embeddings_without_a_model(env: Env) -> None:
    import openai

    env.server.enqueue(embeddings_reply(usage=1))
    env.client().embeddings.create(model=openai.NOT_GIVEN, input="x")  # type: ignore[arg-type]
    a = attrs(env)
    assert sc.GEN_AI_REQUEST_MODEL not in a
    assert env.span().name == "embeddings"


def test_a_raw_streamed_response_is_left_unread(env: Env, captured: None) -> None:
    raw = env.client().chat.completions.with_raw_response.create(model=MODEL, messages=ASK,
                                                                 stream=True)
    for _ in raw.parse():
        pass
    a = attrs(env)
    assert FINISH not in a and sc.GEN_AI_OUTPUT_MESSAGES not in a
    assert sc.GEN_AI_RESPONSE_ID not in a and sc.OPENAI_RESPONSE_SERVICE_TIER not in a


def test_chat_without_a_model(env: Env) -> None:
    import openai

    env.server.enqueue(chat_reply("ok", usage=(1, 1)))
    env.client().chat.completions.create(model=openai.NOT_GIVEN,  # type: ignore[arg-type]
                                         messages=ASK)
    assert sc.GEN_AI_REQUEST_MODEL not in attrs(env)
    assert env.span().name == "chat"


# --- Accumulators fed what the SDK could not type ------------------------------------------


def test_chat_accumulator_reads_odd_chunks_as_empty() -> None:
    from types import SimpleNamespace

    from tripwire.instrumentation.openai.chat import ChatStreamAccumulator, build_request

    request = build_request(SimpleNamespace(), (), {"model": MODEL, "messages": ASK})
    acc = ChatStreamAccumulator(request)
    acc.add(SimpleNamespace())  # no usage, no choices, no id
    acc.add(SimpleNamespace(choices="not a list"))
    acc.add(SimpleNamespace(choices=[SimpleNamespace(), SimpleNamespace(index=1, delta=None),
                                     SimpleNamespace(index=2, delta=SimpleNamespace())]))
    acc.add(SimpleNamespace(choices=[SimpleNamespace(index=3, delta=SimpleNamespace(
        content=5, refusal=6, tool_calls="not a list"))]))
    result = acc.result()
    assert result.response_id is None and result.input_tokens is None
    assert result.finish_reasons == [] and result.tool_calls == []
    assert result.output_text is not None and result.output_text() == ""


def test_chat_accumulator_reads_a_choice_without_a_usable_index_as_the_first() -> None:
    from types import SimpleNamespace

    from tripwire.instrumentation.openai.chat import ChatStreamAccumulator, build_request

    def choice(position: Any, text: str) -> Any:
        return SimpleNamespace(index=position, delta=SimpleNamespace(content=text),
                               finish_reason=None)

    request = build_request(SimpleNamespace(), (), {"model": MODEL, "messages": ASK})
    acc = ChatStreamAccumulator(request)
    acc.add(SimpleNamespace(choices=[choice(1, "b")]))
    acc.add(SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content="a"))]))
    for odd in ("1", 1.0, None, True):  # not an int: the first choice's
        acc.add(SimpleNamespace(choices=[choice(odd, "+")]))
    acc.add(SimpleNamespace(choices=[choice(0, "!"), choice(-1, "<")]))  # an int is an int
    result = acc.result()
    assert result.output_text is not None and result.output_text() == "<a++++!b"


def test_responses_accumulator_reads_odd_events_as_empty() -> None:
    from types import SimpleNamespace

    from tripwire.instrumentation.openai.responses import (
        ResponsesStreamAccumulator,
        build_request,
    )

    request = build_request(SimpleNamespace(), (), {"model": MODEL, "input": "hi"})
    acc = ResponsesStreamAccumulator(request)
    for kind in ("response.created", "response.in_progress", "response.completed",
                 "response.output_text.delta", None):
        acc.add(SimpleNamespace(type=kind) if kind else SimpleNamespace())
    acc.add(SimpleNamespace(type="response.output_text.delta", delta="kept"))
    result = acc.result()
    assert result.response_id is None and result.response_model is None
    assert result.output_text is not None and result.output_text() == "kept"


# --- Provider names -----------------------------------------------------------------------


@pytest.mark.parametrize(("host", "provider"), [
    ("api.openai.com", "openai"), ("api.groq.com", "groq"), ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral_ai"), ("api.x.ai", "x_ai"), ("api.perplexity.ai", "perplexity"),
    ("generativelanguage.googleapis.com", "gcp.gemini"), ("api.cohere.ai", "cohere"),
    ("api.cohere.com", "cohere"), ("API.GROQ.COM", "groq"),
    ("res.openai.azure.com", "azure.ai.openai"),
    ("res.cognitiveservices.azure.com", "azure.ai.openai"),
    ("res.services.ai.azure.com", "azure.ai.inference"),
    ("Res.Models.AI.Azure.com", "azure.ai.inference"),
    ("openai.azure.com", "openai"),  # the suffix needs its dot
    ("api.groq.com.example.org", "openai"), ("localhost", "openai"), ("", "openai"),
    (None, "openai"),
])
def test_provider_for_every_known_host(host: str | None, provider: str) -> None:
    from tripwire.instrumentation.openai.common import provider_for

    assert provider_for(object(), host) == provider


@pytest.mark.parametrize("name", ["AzureOpenAI", "AsyncAzureOpenAI"])
def test_azure_clients_whatever_their_host(name: str) -> None:
    from tripwire.instrumentation.openai.common import provider_for

    client = type(name, (), {})()
    assert provider_for(client, "api.groq.com") == "azure.ai.openai"
    assert provider_for(client, None) == "azure.ai.openai"


async def test_async_azure_client(env: Env) -> None:
    import openai

    client = openai.AsyncAzureOpenAI(azure_endpoint=env.server.url, api_key="k",
                                     api_version="2024-10-21", max_retries=0)
    await client.chat.completions.create(model="my-deployment", messages=ASK)
    assert attrs(env)[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"


def test_a_resource_without_a_client_is_openai() -> None:
    from tripwire.instrumentation.openai.common import start_attributes

    assert start_attributes(object()) == ("openai", {})


# --- More of the request and the stream ---------------------------------------------------


def test_tool_definitions_only_when_tools_are_sent(env: Env, captured: None) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    chat(env, tools=tools)
    assert json.loads(attrs(env)[sc.GEN_AI_TOOL_DEFINITIONS]) == tools
    env.exporter.clear()
    chat(env)
    assert sc.GEN_AI_TOOL_DEFINITIONS not in attrs(env)
    env.exporter.clear()
    respond(env, tools=[{"type": "web_search"}])
    assert json.loads(attrs(env)[sc.GEN_AI_TOOL_DEFINITIONS]) == [{"type": "web_search"}]


def test_system_content_that_is_no_text(env: Env, captured: None) -> None:
    from tripwire._core.tools import prompt_hash

    chat(env, messages=[{"role": "system", "content": 42}, {"role": "system", "content": None},
                        {"role": "user", "content": "hi"}])
    a = attrs(env)
    assert a[sc.TRIPWIRE_PROMPT_HASH] == prompt_hash(["42"])
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES])[:2] == [
        {"role": "system", "parts": []}, {"role": "system", "parts": []}]


def test_responses_stream_with_only_a_created_event(env: Env) -> None:
    pending = _response("in_progress", id="resp_created", model="m-created", usage=None)
    env.server.enqueue(StreamReply([
        _event("response.created", response=pending),
        _event("response.output_text.delta", item_id="m", output_index=0, content_index=0,
               delta=7, logprobs=[]),  # no text: skipped
        _event("response.output_text.delta", item_id="m", output_index=0, content_index=0,
               delta="word", logprobs=[])]))
    respond(env, True)
    a = attrs(env)
    assert a[sc.GEN_AI_RESPONSE_ID] == "resp_created"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "m-created"
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == count_tokens("word", MODEL)[0]
