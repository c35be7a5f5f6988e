"""models.generate_content through the real google-genai SDK: span, attributes, metrics."""

from __future__ import annotations

import pytest
from google.genai import errors, types
from opentelemetry.trace import SpanKind, StatusCode

from tripwire import semconv as sc
from tripwire.testing._http import json_reply
from tripwire.testing.gemini_server import (
    GeminiUsage,
    gemini_error,
    gemini_function_call,
    gemini_prompt_blocked,
    gemini_response,
    gemini_safety_block,
    gemini_text,
)

from .conftest import Env, get_weather

FULL_USAGE = GeminiUsage(prompt_token_count=100, candidates_token_count=20,
                         cached_content_token_count=30, thoughts_token_count=12,
                         tool_use_prompt_token_count=5)
FULL_CONFIG = types.GenerateContentConfig(
    temperature=0.3, top_p=0.9, top_k=40, max_output_tokens=256, stop_sequences=["END"],
    seed=7, candidate_count=1, presence_penalty=0.5, frequency_penalty=0.25,
    response_mime_type="application/json", system_instruction="Answer in JSON.")


def _assert_full_span(env: Env, provider: str) -> None:
    span = env.span()
    assert span.name == "generate_content gemini-1.5-flash"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = span.attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "generate_content"
    assert a[sc.GEN_AI_PROVIDER_NAME] == provider
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gemini-1.5-flash"
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert a[sc.GEN_AI_REQUEST_TOP_K] == 40
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[sc.GEN_AI_REQUEST_SEED] == 7
    assert a[sc.GEN_AI_REQUEST_PRESENCE_PENALTY] == 0.5
    assert a[sc.GEN_AI_REQUEST_FREQUENCY_PENALTY] == 0.25
    assert a[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert sc.GEN_AI_REQUEST_CHOICE_COUNT not in a  # 1 is the default
    assert a[sc.GEN_AI_RESPONSE_ID] == "resp-1"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gemini-1.5-flash-002"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    # input = prompt (cached included) + tool-use prompt; output = candidates + thoughts
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 105
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 32
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 30
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 12
    assert sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS not in a
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert a[sc.SERVER_PORT] == env.server.port
    assert len(a[sc.TRIPWIRE_PROMPT_HASH]) == 16
    assert sc.TRIPWIRE_REFUSAL not in a
    for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                sc.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert key not in a

    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1
    assert list(duration.explicit_bounds) == list(sc.DURATION_BUCKETS)
    assert dict(duration.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "generate_content", sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: "gemini-1.5-flash",
        sc.GEN_AI_RESPONSE_MODEL: "gemini-1.5-flash-002",
        sc.SERVER_ADDRESS: "127.0.0.1", sc.SERVER_PORT: env.server.port}
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p
              for p in env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens["input"].sum == 105 and tokens["output"].sum == 32
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK) == []


def test_generate_content_developer_api(env: Env) -> None:
    env.server.enqueue(gemini_response('{"a": 1}', usage=FULL_USAGE, response_id="resp-1"))
    response = env.client().models.generate_content(
        model="gemini-1.5-flash", contents="hi", config=FULL_CONFIG)
    assert response.text == '{"a": 1}'
    _assert_full_span(env, "gcp.gemini")


async def test_async_generate_content_vertex_express(env: Env) -> None:
    env.server.enqueue(gemini_response('{"a": 1}', usage=FULL_USAGE, response_id="resp-1"))
    response = await env.aio(vertexai=True).models.generate_content(
        model="gemini-1.5-flash", contents="hi", config=FULL_CONFIG)
    assert response.text == '{"a": 1}'
    _assert_full_span(env, "gcp.vertex_ai")
    assert "/publishers/google/models/gemini-1.5-flash:generateContent" in \
        env.server.last_request.path


def test_vertex_project_location_and_resource_names(env: Env) -> None:
    from google import genai
    from google.oauth2.credentials import Credentials

    client = genai.Client(vertexai=True, project="p", location="us-central1",
                          credentials=Credentials(token="test-token"),
                          http_options=types.HttpOptions(base_url=env.server.url))
    env.clients.append(client)
    client.models.generate_content(
        model="projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash",
        contents="hi")
    span = env.span()
    assert span.name == "generate_content gemini-2.0-flash"
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert "test-token" not in str(dict(span.attributes))


def test_only_sent_parameters_are_recorded(env: Env) -> None:
    env.client().models.generate_content(model="models/gemini-2.0-flash", contents="hi")
    span = env.span()
    assert span.name == "generate_content gemini-2.0-flash"  # the "models/" prefix is dropped
    a = span.attributes
    for key in (sc.GEN_AI_REQUEST_TEMPERATURE, sc.GEN_AI_REQUEST_TOP_P, sc.GEN_AI_REQUEST_TOP_K,
                sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_REQUEST_STOP_SEQUENCES,
                sc.GEN_AI_REQUEST_SEED, sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
                sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, sc.GEN_AI_REQUEST_CHOICE_COUNT,
                sc.GEN_AI_OUTPUT_TYPE, sc.TRIPWIRE_PROMPT_HASH,
                sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS):
        assert key not in a
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 20 and a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 10


@pytest.mark.parametrize("config", [
    {"max_output_tokens": 64, "temperature": 0.5, "candidate_count": 2,
     "response_mime_type": "text/plain", "system_instruction": "Be brief."},
    {"maxOutputTokens": 64, "temperature": 0.5, "candidateCount": 2,
     "responseMimeType": "text/plain", "systemInstruction": "Be brief."},
], ids=["snake_case", "camelCase"])
def test_dict_config(env: Env, config: dict) -> None:
    env.client().models.generate_content(model="gemini-2.0-flash", contents="hi", config=config)
    a = env.span().attributes
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert a[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert a[sc.GEN_AI_OUTPUT_TYPE] == "text"
    assert len(a[sc.TRIPWIRE_PROMPT_HASH]) == 16


def test_prompt_hash_follows_the_system_instruction(env: Env) -> None:
    client = env.client()
    for system in ("Be brief.", types.Content(parts=[types.Part(text="Be brief.")]),
                   "Be verbose."):
        client.models.generate_content(model="gemini-2.0-flash", contents="hi",
                                       config={"system_instruction": system})
    hashes = [s.attributes[sc.TRIPWIRE_PROMPT_HASH] for s in env.spans()]
    assert hashes[0] == hashes[1] != hashes[2]


def test_max_tokens_finish_reason(env: Env) -> None:
    env.server.enqueue(gemini_response("cut", finish_reason="MAX_TOKENS"))
    env.client().models.generate_content(model="gemini-2.0-flash", contents="hi")
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert sc.TRIPWIRE_REFUSAL not in a


# --- errors -----------------------------------------------------------------------------

def test_http_error_marks_span_and_reraises(env: Env) -> None:
    env.server.enqueue(gemini_error(400, "Invalid argument: bad"))
    with pytest.raises(errors.ClientError) as raised:
        env.client().models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert raised.value.code == 400
    assert "Invalid argument: bad" in str(raised.value)
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ClientError"
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    (duration,) = env.points(sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == "ClientError"
    assert env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE) == []


async def test_async_server_error(env: Env) -> None:
    env.server.enqueue(gemini_error(503))
    with pytest.raises(errors.ServerError) as raised:
        await env.aio().models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert raised.value.code == 503
    span = env.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ServerError"


# --- refusals / safety ------------------------------------------------------------------

def test_safety_block_is_a_refusal(env: Env) -> None:
    env.server.enqueue(gemini_safety_block("HARM_CATEGORY_HARASSMENT"))
    response = env.client().models.generate_content(model="gemini-2.0-flash", contents="x")
    assert response.candidates[0].finish_reason == types.FinishReason.SAFETY
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("safety",)
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "finish_reason"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "harassment"
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 0  # zero counts are omitted on the wire


@pytest.mark.parametrize(("reason", "category"), [
    ("RECITATION", "recitation"), ("PROHIBITED_CONTENT", "prohibited_content"),
    ("SPII", "spii"), ("BLOCKLIST", "blocklist")])
def test_other_filter_finish_reasons_are_refusals(env: Env, reason: str, category: str) -> None:
    env.server.enqueue(gemini_response("", finish_reason=reason))
    env.client().models.generate_content(model="gemini-2.0-flash", contents="x")
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (category,)
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == category


@pytest.mark.parametrize(("reason", "category"), [
    ("SAFETY", "dangerous_content"), ("PROHIBITED_CONTENT", "prohibited_content"),
    ("BLOCKLIST", "blocklist")])
def test_blocked_prompt_is_a_refusal(env: Env, reason: str, category: str) -> None:
    env.server.enqueue(gemini_prompt_blocked(reason))
    response = env.client().models.generate_content(model="gemini-2.0-flash", contents="x")
    assert not response.candidates
    a = env.span().attributes
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in a
    assert a[sc.TRIPWIRE_REFUSAL] is True
    assert a[sc.TRIPWIRE_REFUSAL_SOURCE] == "provider_field"
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == category
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 20 and a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 0


# --- tool calls -------------------------------------------------------------------------

WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Weather in a city",
    parameters=types.Schema(type=types.Type.OBJECT,
                            properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]))
WEATHER_JSON = {"name": "get_weather", "parameters_json_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.mark.parametrize("declaration", [WEATHER, WEATHER_JSON], ids=["schema", "json_schema"])
@pytest.mark.parametrize(("call", "unknown", "invalid"), [
    (gemini_function_call("get_weather", {"city": "Paris"}, id="fc-1"), None, None),
    (gemini_function_call("drop_tables", {}), ("drop_tables",), None),
    (gemini_function_call("get_weather", {"city": 5}), None, ("get_weather",)),
    (gemini_function_call("get_weather", {}), None, ("get_weather",)),
], ids=["valid", "unknown", "wrong-type", "missing-required"])
def test_function_calls_checked_against_declarations(env: Env, declaration, call, unknown,
                                                      invalid) -> None:
    env.server.enqueue(gemini_response([gemini_text("Checking."), call]))
    response = env.client().models.generate_content(
        model="gemini-2.0-flash", contents="weather in Paris?",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[declaration])]))
    assert response.function_calls
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == (call["functionCall"]["name"],)
    assert a.get(sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES) == unknown
    assert a.get(sc.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS) == invalid
    if "id" in call["functionCall"]:
        assert a[sc.TRIPWIRE_TOOL_CALL_IDS] == ("fc-1",)
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_built_in_tools_only_flag_nothing(env: Env) -> None:
    env.server.enqueue(gemini_response([gemini_function_call("lookup", {})]))
    env.client().models.generate_content(
        model="gemini-2.0-flash", contents="x",
        config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]))
    a = env.span().attributes
    assert a[sc.TRIPWIRE_TOOL_CALL_NAMES] == ("lookup",)
    assert sc.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES not in a


# --- automatic function calling: one span per public call, usage summed -----------------

def test_automatic_function_calling_is_one_span_with_summed_usage(env: Env) -> None:
    env.server.enqueue(
        gemini_response([gemini_function_call("get_weather", {"city": "Paris"})],
                        usage=GeminiUsage(20, 5), response_id="hop-1"),
        gemini_response("Sunny in Paris.", usage=GeminiUsage(40, 8, thoughts_token_count=3),
                        response_id="hop-2"))
    response = env.client().models.generate_content(
        model="gemini-2.0-flash", contents="weather in Paris?",
        config=types.GenerateContentConfig(tools=[get_weather]))
    assert response.text == "Sunny in Paris."
    assert len(env.server.requests) == 2  # the SDK ran the function and asked again
    a = env.span().attributes
    assert a[sc.GEN_AI_RESPONSE_ID] == "hop-2"
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 60
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 16
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 3
    assert sc.TRIPWIRE_TOOL_CALL_NAMES not in a  # the final answer asks for no tool
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p
              for p in env.points(sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)}
    assert tokens["input"].sum == 60 and tokens["input"].count == 1


async def test_async_automatic_function_calling(env: Env) -> None:
    env.server.enqueue(
        gemini_response([gemini_function_call("get_weather", {"city": "Oslo"})],
                        usage=GeminiUsage(20, 5)),
        gemini_response("Sunny.", usage=GeminiUsage(40, 8)))
    response = await env.aio().models.generate_content(
        model="gemini-2.0-flash", contents="weather in Oslo?",
        config=types.GenerateContentConfig(tools=[get_weather]))
    assert response.text == "Sunny."
    a = env.span().attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 60 and a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 13


def test_chat_send_message_is_instrumented(env: Env) -> None:
    chat = env.client().chats.create(model="gemini-2.0-flash")
    chat.send_message("hello")
    chat.send_message("again")
    spans = env.spans()
    assert [s.name for s in spans] == ["generate_content gemini-2.0-flash"] * 2


# --- embeddings ---------------------------------------------------------------------------

def test_embed_content(env: Env) -> None:
    env.server.enqueue(json_reply({"embeddings": [{"values": [0.1, 0.2, 0.3]},
                                                  {"values": [0.3, 0.2, 0.1]}]}))
    response = env.client().models.embed_content(
        model="text-embedding-004", contents=["a", "b"],
        config=types.EmbedContentConfig(output_dimensionality=3))
    assert len(response.embeddings) == 2
    span = env.span()
    assert span.name == "embeddings text-embedding-004"
    a = span.attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "gcp.gemini"
    assert a[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 3
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a  # the Developer API reports none


async def test_async_embed_content_vertex_token_counts(env: Env) -> None:
    env.server.enqueue(json_reply({"predictions": [
        {"embeddings": {"values": [0.1], "statistics": {"token_count": 4, "truncated": False}}},
        {"embeddings": {"values": [0.2], "statistics": {"token_count": 6, "truncated": False}}},
    ]}))
    response = await env.aio(vertexai=True).models.embed_content(
        model="text-embedding-005", contents=["a", "b"])
    assert len(response.embeddings) == 2
    a = env.span().attributes
    assert a[sc.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 10


# --- the SDK's own retries (HttpOptions.retry_options) -----------------------------------

RETRY = types.HttpRetryOptions(attempts=3, initial_delay=0.001, max_delay=0.002, jitter=0.0)


def _assert_retries(env: Env, codes: list[int]) -> None:
    span = env.span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == len(codes)
    events = [e for e in span.events if e.name == sc.EVENT_RETRY]
    assert [e.attributes[sc.HTTP_RESPONSE_STATUS_CODE] for e in events] == codes
    assert [e.attributes[sc.TRIPWIRE_RETRY_ATTEMPT] for e in events] == [1, 2][:len(codes)]
    retries = env.points(sc.METRIC_RETRIES)  # one point per status code
    assert sorted(p.attributes[sc.HTTP_RESPONSE_STATUS_CODE] for p in retries) == sorted(codes)
    assert sum(p.value for p in retries) == len(codes)


def test_sdk_retries_are_events(env: Env) -> None:
    env.server.enqueue(gemini_error(429), gemini_error(503), gemini_response("ok"))
    response = env.client(retry_options=RETRY).models.generate_content(
        model="gemini-2.0-flash", contents="hi")
    assert response.text == "ok"
    assert len(env.server.requests) == 3
    _assert_retries(env, [429, 503])


async def test_async_sdk_retries_are_events(env: Env) -> None:
    env.server.enqueue(gemini_error(500), gemini_response("ok"))
    response = await env.client(retry_options=RETRY).aio.models.generate_content(
        model="gemini-2.0-flash", contents="hi")
    assert response.text == "ok"
    _assert_retries(env, [500])


def test_embed_content_retries_are_events(env: Env) -> None:
    env.server.enqueue(gemini_error(429), json_reply({"embeddings": [{"values": [0.1, 0.2]}]}))
    response = env.client(retry_options=RETRY).models.embed_content(
        model="text-embedding-004", contents="a")
    assert len(response.embeddings) == 1
    assert env.span().name == "embeddings text-embedding-004"
    _assert_retries(env, [429])


def test_last_failed_attempt_is_the_error_not_a_retry(env: Env) -> None:
    env.server.enqueue(gemini_error(503), gemini_error(503), gemini_error(503))
    with pytest.raises(errors.ServerError):
        env.client(retry_options=RETRY).models.generate_content(
            model="gemini-2.0-flash", contents="hi")
    span = env.span()
    assert span.attributes[sc.TRIPWIRE_RETRY_COUNT] == 2
    assert span.attributes[sc.ERROR_TYPE] == "ServerError"


def test_several_candidates(env: Env, capture) -> None:
    import json

    env.server.enqueue(json_reply({
        "candidates": [
            {"index": 0, "content": {"role": "model", "parts": [{"text": "one"}]},
             "finishReason": "STOP"},
            {"index": 1, "content": {"role": "model", "parts": [{"text": "two"}]},
             "finishReason": "SAFETY", "safetyRatings": [
                 {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH",
                  "blocked": True}]},
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 4,
                          "totalTokenCount": 9},
        "modelVersion": "gemini-2.0-flash-001", "responseId": "multi"}))
    env.client().models.generate_content(model="gemini-2.0-flash", contents="hi",
                                         config={"candidate_count": 2})
    a = env.span().attributes
    assert a[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "safety")
    assert a[sc.TRIPWIRE_REFUSAL_CATEGORY] == "harassment"
    outputs = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert [m["parts"][0]["content"] for m in outputs] == ["one", "two"]
    assert [m["finish_reason"] for m in outputs] == ["stop", "safety"]


def test_unknown_tool_objects_keep_the_span(env: Env, capture) -> None:
    import json

    class SessionLike:  # e.g. an MCP ClientSession: neither a Tool nor a callable
        pass

    from tripwire.instrumentation.google_genai import generate

    tools = [SessionLike(), {"google_search": {}}]
    assert generate.declared_tools(tools) is None
    assert generate.tool_definitions(tools) == [{"type": "SessionLike"},
                                                {"type": "google_search"}]
    env.client().models.generate_content(model="gemini-2.0-flash", contents="hi",
                                         config={"tools": [{"google_search": {}}]})
    a = env.span().attributes
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS]) == [{"type": "google_search"}]
