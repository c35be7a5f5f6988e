"""The google-genai mappings, exactly (docs/testing.md, "Mutation testing"): every finish
reason that means a filter withheld the answer and its category, usage as the API sends it
(omitted counts are 0 once usage was reported; across a stream's chunks the latest count
wins; summed over the SDK's internal responses), the served service tier from the header or
Vertex AI's traffic type, ids, request parameters, contents as GenAI messages. The same
mappings through the SDK against the fake server: tests/instrumentation/google_genai."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from google.genai import types

from tripwire import semconv as sc
from tripwire._core.invocation import Request, Result
from tripwire.instrumentation.google_genai import common, embeddings, generate


def usage(result: Result) -> tuple[Any, ...]:
    return (result.input_tokens, result.output_tokens, result.reasoning_tokens,
            result.cache_read_tokens)


def refusal(result: Result) -> tuple[Any, ...]:
    return result.refusal, result.refusal_source, result.refusal_category


NO_REFUSAL = (False, None, None)
BY_FINISH = sc.REFUSAL_SOURCE_FINISH_REASON
BY_FIELD = sc.REFUSAL_SOURCE_PROVIDER_FIELD


def request(stream: bool = False, state: Any = None) -> Request:
    return Request(sc.OP_GENERATE_CONTENT, sc.PROVIDER_GCP_GEMINI, "m", stream=stream,
                   state=state)


def answer(*candidates: dict[str, Any], **fields: Any) -> types.GenerateContentResponse:
    return types.GenerateContentResponse.model_validate(
        {"candidates": list(candidates), **fields})


def candidate(text: str | None = "x", finish: str | None = "STOP", **fields: Any
              ) -> dict[str, Any]:
    out: dict[str, Any] = {**fields}
    if text is not None:
        out["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish is not None:
        out["finish_reason"] = finish
    return out


def parse(response: Any, state: Any = None) -> Result:
    return generate.parse_response(response, request(state=state))


# --- common --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "expected"), [
    ("gemini-2.5-flash", "gemini-2.5-flash"),
    ("models/gemini-2.5-flash", "gemini-2.5-flash"),
    ("publishers/google/models/gemini-2.0", "gemini-2.0"),
    ("projects/p/locations/l/publishers/google/models/gemini-x", "gemini-x"),
    ("tunedModels/my-tuned", "tunedModels/my-tuned"),
    ("tunedModels/models/x", "tunedModels/models/x"),
    ("models/", "models/"),
    ("mymodels/x", "mymodels/x"),
    ("a/models/b/models/c", "c"),
    ("projects/p/endpoints/123", "projects/p/endpoints/123"),
    ("", None), (None, None), (5, None),
])
def test_model_id(model: Any, expected: Any) -> None:
    assert common.model_id(model) == expected


def test_field_reads_types_and_both_key_spellings() -> None:
    assert common.field({"max_output_tokens": 5}, "max_output_tokens") == 5
    assert common.field({"maxOutputTokens": 6}, "max_output_tokens") == 6
    assert common.field({"responseMimeType": 6}, "response_mime_type") == 6
    assert common.field({"max_output_tokens": 0, "maxOutputTokens": 6},
                        "max_output_tokens") == 0
    assert common.field(types.GenerateContentConfig(max_output_tokens=7),
                        "max_output_tokens") == 7
    assert common.field(SimpleNamespace(maxOutputTokens=1), "max_output_tokens") is None
    assert common.field(None, "x") is None


@pytest.mark.parametrize(("value", "expected"), [
    (types.FinishReason.SAFETY, "safety"), ("MAX_TOKENS", "max_tokens"),
    (types.TrafficType.ON_DEMAND, "on_demand"), ("", None), (None, None),
    (SimpleNamespace(name=3), "namespace(name=3)"), (SimpleNamespace(name="X_Y"), "x_y"),
])
def test_enum_name(value: Any, expected: Any) -> None:
    assert common.enum_name(value) == expected


@pytest.mark.parametrize(("part", "expected"), [
    ("hi", {"type": "text", "content": "hi"}),
    ({"text": "hi"}, {"type": "text", "content": "hi"}),
    ({"text": ""}, {"type": "text", "content": ""}),
    ({"text": "hm", "thought": True}, {"type": "reasoning", "content": "hm"}),
    (types.Part(text="hm", thought=True), {"type": "reasoning", "content": "hm"}),
    ({"function_call": {"id": "c1", "name": "get", "args": {"a": 1}}},
     {"type": "tool_call", "name": "get", "id": "c1", "arguments": {"a": 1}}),
    ({"functionCall": {"name": "get"}}, {"type": "tool_call", "name": "get", "arguments": {}}),
    ({"function_response": {"id": "c1", "name": "get", "response": {"r": 2}}},
     {"type": "tool_call_response", "response": {"r": 2}, "id": "c1"}),
    ({"inline_data": {"mime_type": "image/png", "data": b"\x89PNG"}},
     {"type": "blob", "mime_type": "image/png"}),
    ({"file_data": {"file_uri": "gs://b/f", "mime_type": "application/pdf"}},
     {"type": "uri", "uri": "gs://b/f", "mime_type": "application/pdf"}),
    ({"executable_code": {"code": "1"}}, {"type": "executable_code"}),
    ({"code_execution_result": {"output": "1"}}, {"type": "code_execution_result"}),
    ({"video_metadata": {}}, {"type": "unknown"}),
    (types.Part(video_metadata=types.VideoMetadata()), {"type": "Part"}),
])
def test_genai_part(part: Any, expected: dict[str, Any]) -> None:
    assert common.genai_part(part) == expected


def test_input_messages_groups_bare_parts_and_maps_roles() -> None:
    contents = [
        "a", {"text": "b"},
        {"role": "model", "parts": [{"text": "c"}]},
        {"role": "user", "parts": [{"function_response": {"id": "i", "response": {"r": 1}}}]},
        None,
        types.Content(role="user", parts=[types.Part(text="d")]),
        {"parts": [{"text": "e"}]},
        {"role": "function", "parts": [{"text": "f"}]},
        "g",
    ]
    assert common.input_messages(contents) == [
        {"role": "user", "parts": [{"type": "text", "content": "a"},
                                   {"type": "text", "content": "b"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "c"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": {"r": 1},
                                    "id": "i"}]},
        {"role": "user", "parts": [{"type": "text", "content": "d"}]},
        {"role": "user", "parts": [{"type": "text", "content": "e"}]},
        {"role": "function", "parts": [{"type": "text", "content": "f"}]},
        {"role": "user", "parts": [{"type": "text", "content": "g"}]},
    ]
    assert common.input_messages("only") == [
        {"role": "user", "parts": [{"type": "text", "content": "only"}]}]
    assert common.input_messages(("x", "y")) == [
        {"role": "user", "parts": [{"type": "text", "content": "x"},
                                   {"type": "text", "content": "y"}]}]
    assert common.input_messages([{"role": "model"}]) == [{"role": "assistant", "parts": []}]
    # bare tool responses: one tool message, before and after a content
    response = {"function_response": {"id": "i", "response": {"r": 1}}}
    tool = {"role": "tool", "parts": [{"type": "tool_call_response", "response": {"r": 1},
                                       "id": "i"}]}
    assert common.input_messages([response, {"role": "user", "parts": ["q"]}, response]) == [
        tool, {"role": "user", "parts": [{"type": "text", "content": "q"}]}, tool]
    assert common.input_messages([{"role": "user", "parts": []}]) == [
        {"role": "user", "parts": []}]
    # only some parts are tool responses: the role stays
    assert common.input_messages([{"role": "user", "parts": [
        {"text": "t"}, {"function_response": {"response": {}}}]}])[0]["role"] == "user"


def test_a_content_is_told_from_a_part() -> None:
    assert common._is_content({"role": "user"}) and common._is_content({"parts": []})
    assert not common._is_content({"text": "x"})
    assert common._is_content(types.Content())
    assert common._is_content(SimpleNamespace(parts=[], role="user"))
    assert not common._is_content(SimpleNamespace(parts=[]))
    assert not common._is_content(SimpleNamespace(role="user"))
    assert not common._is_content(types.Part(text="x"))

    class Content:  # an SDK Content without its fields set (say, a newer SDK's type)
        __slots__ = ()

    assert common._is_content(Content())
    assert common.input_messages([Content()]) == [{"role": "user", "parts": []}]


def test_texts_of() -> None:
    contents = ["a", {"text": "b"}, {"text": "t", "thought": True}, {"text": 5},
                {"role": "user", "parts": [{"text": "c"}, {"inline_data": {}}]},
                types.Content(role="model", parts=[types.Part(text="d")]),
                ("e", ["f"])]
    assert common.texts_of(contents) == ["a", "b", "c", "d", "e", "f"]
    assert common.texts_of(None) == []
    assert common.texts_of({"role": "user"}) == []


def test_texts_of_stops_past_the_depth_limit() -> None:
    from tripwire._core.fields import MAX_DEPTH

    nested: Any = "deep"
    for _ in range(MAX_DEPTH):
        nested = [nested]
    assert common.texts_of(nested) == ["deep"]
    assert common.texts_of([nested]) == []
    # a Content is a level too (its parts list below it)
    content: Any = {"role": "user", "parts": [{"text": "in content"}]}
    for _ in range(MAX_DEPTH - 2):
        content = [content]
    assert common.texts_of(content) == ["in content"]
    assert common.texts_of([content]) == []


# --- generate: request ---------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "expected"), [
    ({"response_mime_type": "application/json"}, "json"),
    ({"response_mime_type": "application/vnd.x+json"}, "json"),
    ({"response_mime_type": "text/x.enum"}, "text"),
    ({"response_mime_type": "text/plain", "response_modalities": ["IMAGE"]}, "text"),
    ({"response_mime_type": "application/xml"}, None),
    ({"response_mime_type": "", "response_modalities": ["IMAGE"]}, "image"),
    ({"response_mime_type": 5, "response_modalities": ["IMAGE"]}, "image"),
    ({"response_modalities": ["AUDIO"]}, "speech"),
    ({"response_modalities": ["TEXT"]}, None),
    ({"response_modalities": ["TEXT", "IMAGE"]}, None),
    ({"response_modalities": [types.Modality.IMAGE]}, "image"),
    ({}, None),
])
def test_output_type(config: dict[str, Any], expected: Any) -> None:
    assert generate._output_type(config) == expected


def test_request_attributes_every_parameter() -> None:
    attrs: dict[str, Any] = {}
    generate._request_attributes(attrs, types.GenerateContentConfig(
        temperature=0.5, top_p=0.9, top_k=40, max_output_tokens=100, seed=7,
        presence_penalty=0.1, frequency_penalty=0.2, candidate_count=2,
        stop_sequences=["END", "STOP"], response_mime_type="application/json",
        service_tier=types.ServiceTier.PRIORITY))
    assert attrs == {
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.5, sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 40, sc.GEN_AI_REQUEST_MAX_TOKENS: 100,
        sc.GEN_AI_REQUEST_SEED: 7, sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.1,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.2, sc.GEN_AI_REQUEST_CHOICE_COUNT: 2,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["END", "STOP"], sc.GEN_AI_OUTPUT_TYPE: "json",
        sc.TRIPWIRE_REQUEST_SERVICE_TIER: "priority",
    }


@pytest.mark.parametrize(("config", "expected"), [
    ({"candidate_count": 1}, {}),
    ({"candidate_count": 0}, {sc.GEN_AI_REQUEST_CHOICE_COUNT: 0}),
    ({"candidateCount": 3}, {sc.GEN_AI_REQUEST_CHOICE_COUNT: 3}),
    ({"candidate_count": "2"}, {}),
    ({"stop_sequences": []}, {}),
    ({"service_tier": "unspecified"}, {}),
    ({"service_tier": "UNSPECIFIED"}, {}),
    ({"service_tier": "flex"}, {sc.TRIPWIRE_REQUEST_SERVICE_TIER: "flex"}),
    ({"serviceTier": "STANDARD"}, {sc.TRIPWIRE_REQUEST_SERVICE_TIER: "standard"}),
    ({"service_tier": ""}, {}),
    (None, {}),
])
def test_request_attributes_edges(config: Any, expected: dict[str, Any]) -> None:
    attrs: dict[str, Any] = {}
    generate._request_attributes(attrs, config)
    assert attrs == expected


def _weather(city: str) -> str:
    return city


SCHEMA = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}
JSON_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


@pytest.fixture(autouse=True)
def _no_memoized_schemas() -> Any:
    """Schemas are converted once per object: a mutant of the conversion must not be hidden
    by a conversion the unmutated code memoized earlier in the same process."""
    generate._json_schemas.clear()
    yield
    generate._json_schemas.clear()


def test_a_schema_dict_converted_with_json_schema_names() -> None:
    schema = {"type": "ARRAY", "items": {"type": "STRING"}, "min_items": 1,
              "any_of": [{"type": "STRING"}]}
    expected = {"type": "array", "items": {"type": "string"}, "minItems": 1,
                "anyOf": [{"type": "string"}]}
    assert generate._json_schema(dict(schema)) == expected
    assert generate._json_schema(types.Schema.model_validate(schema)) == expected


def test_declared_tools_and_definitions() -> None:
    tools = [
        {"function_declarations": [
            {"name": "a", "description": "A", "parameters_json_schema": {"type": "object"}},
            {"name": "b", "parameters": SCHEMA},
            {"description": "no name"}]},
        types.Tool(function_declarations=[types.FunctionDeclaration(
            name="c", parameters=types.Schema.model_validate(SCHEMA))]),
        _weather,
        {"google_search": {}, "code_execution": None},
        types.Tool(code_execution=types.ToolCodeExecution()),
        SimpleNamespace(session=True),
    ]
    assert generate.declared_tools(tools) == {"a": {"type": "object"}, "b": JSON_SCHEMA,
                                              "": None, "c": JSON_SCHEMA, "_weather": None}
    assert generate.tool_definitions(tools) == [
        {"type": "function", "name": "a", "description": "A", "parameters": {"type": "object"}},
        {"type": "function", "name": "b", "description": None, "parameters": JSON_SCHEMA},
        {"type": "function", "name": "", "description": "no name", "parameters": None},
        {"type": "function", "name": "c", "description": None, "parameters": JSON_SCHEMA},
        {"type": "function", "name": "_weather"},
        {"type": "google_search"},
        {"type": "code_execution"},
        {"type": "SimpleNamespace"},
    ]


def test_callable_tools() -> None:
    import functools

    class Declared:  # callable, and declares its functions: read as a Tool
        function_declarations = [{"name": "declared"}]

        def __call__(self) -> None:
            pass

    tools = [functools.partial(_weather, "x"), Declared()]
    assert generate.declared_tools(tools) == {"function": None, "declared": None}
    assert generate.tool_definitions(tools) == [
        {"type": "function", "name": "function"},
        {"type": "function", "name": "declared", "description": None, "parameters": None}]


def test_only_built_in_tools_declare_nothing() -> None:
    assert generate.declared_tools([{"google_search": {}}]) is None
    assert generate.declared_tools(None) is None
    assert generate.tool_definitions(None) == []


def test_an_unreadable_schema_is_none() -> None:
    assert generate._json_schema({"type": "OBJECT", "properties": 5}) is None
    assert generate._json_schema(None) is None


def _instance(vertexai: bool = False) -> Any:
    from tripwire._compat import GENAI_CLIENT_ATTR

    api_client = SimpleNamespace(vertexai=vertexai, _http_options=SimpleNamespace(
        base_url="https://gen.example:444/"))
    return SimpleNamespace(**{GENAI_CLIENT_ATTR: api_client})


def test_build_request() -> None:
    config = {"system_instruction": "be brief", "temperature": 0.1,
              "tools": [{"function_declarations": [{"name": "a"}]}]}
    built = generate.build_request(None, (), {"model": "models/gemini-x", "contents": "hi",
                                              "config": config})
    assert (built.operation, built.provider, built.model, built.stream, built.state) == (
        sc.OP_GENERATE_CONTENT, sc.PROVIDER_GCP_GEMINI, "gemini-x", False, [])
    assert built.attributes == {sc.GEN_AI_REQUEST_TEMPERATURE: 0.1}
    assert built.declared_tools == {"a": None}
    assert built.system_texts == ["be brief"]
    assert built.input_messages and built.input_messages() == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert built.system_instructions and built.system_instructions() == [
        {"type": "text", "content": "be brief"}]
    assert built.tool_definitions and built.tool_definitions() == [
        {"type": "function", "name": "a", "description": None, "parameters": None}]
    assert built.prompt_text and built.prompt_text() == "be brief\nhi"
    streamed = generate.build_stream_request(_instance(vertexai=True), (),
                                             {"model": "m", "contents": ["a", "b"]})
    assert streamed.provider == sc.PROVIDER_GCP_VERTEX_AI
    assert streamed.attributes == {sc.SERVER_ADDRESS: "gen.example", sc.SERVER_PORT: 444}
    assert (streamed.stream, streamed.state, streamed.tool_definitions) == (True, None, None)
    assert streamed.system_instructions is None
    assert streamed.prompt_text and streamed.prompt_text() == "a\nb"


def test_build_request_server_and_vertex_provider() -> None:
    built = generate.build_request(_instance(vertexai=True), (), {"model": "m"})
    assert built.provider == sc.PROVIDER_GCP_VERTEX_AI
    built = generate.build_request(_instance(), (), {"model": "m"})
    assert built.provider == sc.PROVIDER_GCP_GEMINI
    # a client that does not say: the Developer API
    from tripwire._compat import GENAI_CLIENT_ATTR

    instance = SimpleNamespace(**{GENAI_CLIENT_ATTR: SimpleNamespace()})
    built = generate.build_request(instance, (), {"model": "m"})
    assert (built.provider, built.attributes) == (sc.PROVIDER_GCP_GEMINI, {})


def test_record_hop_keeps_each_usage_up_to_a_limit() -> None:
    r = request(state=[])
    generate.record_hop(r, {"usage_metadata": {"prompt_token_count": 1}})
    generate.record_hop(r, {})
    assert r.state == [{"prompt_token_count": 1}, None]
    r.state = [None] * 999
    generate.record_hop(r, {"usage_metadata": 1})
    generate.record_hop(r, {"usage_metadata": 2})
    assert len(r.state) == 1000 and r.state[-1] == 1
    r = request(state=None)
    generate.record_hop(r, {"usage_metadata": 1})
    assert r.state is None


# --- generate: usage -------------------------------------------------------------------------------

FULL = {"prompt_token_count": 100, "tool_use_prompt_token_count": 20,
        "candidates_token_count": 30, "thoughts_token_count": 40,
        "cached_content_token_count": 50, "total_token_count": 190}


@pytest.mark.parametrize(("metadata", "expected"), [
    (FULL, (120, 70, 40, 50)),
    ({"prompt_token_count": 100}, (100, 0, None, None)),
    ({"candidates_token_count": 30}, (0, 30, None, None)),
    ({"thoughts_token_count": 40}, (0, 40, 40, None)),
    ({"tool_use_prompt_token_count": 20}, (20, 0, None, None)),
    ({"cached_content_token_count": 50, "prompt_token_count": 60}, (60, 0, None, 50)),
    ({}, (0, 0, None, None)),
    ({"prompt_token_count": True, "candidates_token_count": 1.0}, (0, 0, None, None)),
    ({"promptTokenCount": 7, "candidatesTokenCount": 8}, (7, 8, None, None)),
])
def test_usage_of_one_response(metadata: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert usage(parse({"candidates": [candidate()], "usage_metadata": metadata})) == expected
    if "promptTokenCount" not in metadata and True not in metadata.values():
        assert usage(parse(answer(candidate(), usage_metadata=metadata))) == expected


def test_no_usage_reported_leaves_every_count_unknown() -> None:
    assert usage(parse(answer(candidate()))) == (None, None, None, None)
    assert usage(parse(answer(candidate()), state=[None, None])) == (None, None, None, None)


def test_usage_summed_over_the_sdks_internal_responses() -> None:
    hops = [{"prompt_token_count": 10, "candidates_token_count": 1},
            None,
            {"prompt_token_count": 30, "thoughts_token_count": 4,
             "cached_content_token_count": 5, "tool_use_prompt_token_count": 2}]
    # the hops win over the last response's own usage
    result = parse(answer(candidate(), usage_metadata={"prompt_token_count": 999}), state=hops)
    assert usage(result) == (42, 5, 4, 5)
    # no hops recorded: the response's own
    result = parse(answer(candidate(), usage_metadata={"prompt_token_count": 9}), state=[])
    assert usage(result) == (9, 0, None, None)
    # a state that is not the list of hops is not read
    result = parse(answer(candidate(), usage_metadata={"prompt_token_count": 9}),
                   state=({"prompt_token_count": 1},))
    assert usage(result) == (9, 0, None, None)


def test_usage_of_an_incomplete_stream_keeps_the_output_unknown() -> None:
    result = Result()
    generate._usage(result, [{"prompt_token_count": 10}], complete=False)
    assert usage(result) == (10, None, None, None)
    result = Result()
    generate._usage(result, [{"prompt_token_count": 10, "thoughts_token_count": 3}],
                    complete=False)
    assert usage(result) == (10, 3, 3, None)
    result = Result()
    generate._usage(result, [{"candidates_token_count": 2}], complete=False)
    assert usage(result) == (0, 2, None, None)
    result = Result()
    generate._usage(result, [], complete=True)
    assert usage(result) == (None, None, None, None)


def test_counts_update_keeps_what_a_later_report_leaves_out() -> None:
    counts = generate._counts({"prompt_token_count": 5, "candidates_token_count": 1})
    assert counts == {"prompt_token_count": 5, "candidates_token_count": 1}
    same = generate._counts({"candidates_token_count": 9, "thoughts_token_count": False},
                            counts)
    assert same is counts
    assert counts == {"prompt_token_count": 5, "candidates_token_count": 9}
    assert generate._counts(None) == {}


# --- generate: service tier -------------------------------------------------------------------------

def tier(response: Any) -> Any:
    return parse(response).attributes.get(sc.TRIPWIRE_RESPONSE_SERVICE_TIER)


@pytest.mark.parametrize(("traffic", "expected"), [
    ("ON_DEMAND", "standard"), ("ON_DEMAND_PRIORITY", "priority"),
    ("ON_DEMAND_FLEX", "flex"), ("PROVISIONED_THROUGHPUT", "provisioned_throughput"),
    ("ON_DEMAND_OFFPEAK", "on_demand_offpeak"), ("TRAFFIC_TYPE_UNSPECIFIED", None),
])
def test_vertex_traffic_type_as_tier(traffic: str, expected: Any) -> None:
    assert tier(answer(candidate(), usage_metadata={"traffic_type": traffic})) == expected


@pytest.mark.parametrize(("headers", "expected"), [
    ({"x-gemini-service-tier": "priority"}, "priority"),
    ({"X-Gemini-Service-Tier": "STANDARD"}, "standard"),
    ({"content-type": "x", "x-gemini-service-tier": "flex"}, "flex"),
    ({"x-gemini-service-tier": ""}, "standard"),  # empty: the traffic type
    ({"x-other": "flex"}, "standard"),
])
def test_tier_header_before_the_traffic_type(headers: dict[str, str], expected: str) -> None:
    response = answer(candidate(), usage_metadata={"traffic_type": "ON_DEMAND"},
                      sdk_http_response={"headers": headers})
    assert tier(response) == expected


def test_no_tier() -> None:
    assert tier(answer(candidate())) is None
    assert tier({"candidates": [], "sdk_http_response": {"headers": "x"}}) is None
    assert tier({"candidates": [], "sdk_http_response": {"headers": {5: "flex"}}}) is None


# --- generate: finish reasons and refusals -------------------------------------------------------------

REFUSING = {"SAFETY": "safety", "PROHIBITED_CONTENT": "prohibited_content",
            "BLOCKLIST": "blocklist", "SPII": "spii", "RECITATION": "recitation",
            "IMAGE_SAFETY": "image_safety",
            "IMAGE_PROHIBITED_CONTENT": "image_prohibited_content",
            "IMAGE_RECITATION": "image_recitation"}
NOT_REFUSING = [m.name for m in types.FinishReason if m.name not in REFUSING]


@pytest.mark.parametrize(("finish", "expected"), sorted(REFUSING.items()))
def test_every_refusing_finish_reason(finish: str, expected: str) -> None:
    result = parse(answer(candidate("", finish)))
    assert result.finish_reasons == [expected]
    assert refusal(result) == (True, BY_FINISH, expected)
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "parts": [{"type": "text", "content": ""}],
         "finish_reason": expected}]


@pytest.mark.parametrize("finish", NOT_REFUSING)
def test_every_other_finish_reason_lower_cased(finish: str) -> None:
    result = parse(answer(candidate("x", finish)))
    assert result.finish_reasons == [finish.lower()]
    assert refusal(result) == NO_REFUSAL


BLOCKED_RATINGS = [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "LOW"},
                   {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "blocked": False},
                   {"category": "HARM_CATEGORY_HARASSMENT", "blocked": True},
                   {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "blocked": True}]


@pytest.mark.parametrize("finish", ["SAFETY", "IMAGE_SAFETY"])
def test_a_safety_finish_takes_the_blocked_rating_category(finish: str) -> None:
    result = parse(answer(candidate(None, finish, safety_ratings=BLOCKED_RATINGS)))
    assert refusal(result) == (True, BY_FINISH, "harassment")


def test_other_refusing_finishes_ignore_the_ratings() -> None:
    result = parse(answer(candidate(None, "BLOCKLIST", safety_ratings=BLOCKED_RATINGS)))
    assert refusal(result) == (True, BY_FINISH, "blocklist")


def test_blocked_category_edges() -> None:
    assert generate._blocked_category([{"blocked": True}, {"blocked": True,
                                                           "category": "OTHER_KIND"}]) \
        == "other_kind"
    assert generate._blocked_category([{"blocked": False, "category": "X"}]) is None
    assert generate._blocked_category(None) is None


@pytest.mark.parametrize(("reason", "category"), [
    ("SAFETY", "harassment"), ("OTHER", "other"), ("BLOCKLIST", "blocklist"),
    ("PROHIBITED_CONTENT", "prohibited_content"), ("IMAGE_SAFETY", "image_safety"),
    ("MODEL_ARMOR", "model_armor"), ("JAILBREAK", "jailbreak"),
])
def test_a_blocked_prompt_is_a_refusal(reason: str, category: str) -> None:
    result = parse(answer(prompt_feedback={"block_reason": reason,
                                           "safety_ratings": BLOCKED_RATINGS}))
    assert refusal(result) == (True, BY_FIELD, category)
    assert result.finish_reasons == []
    assert result.output_messages and result.output_messages() == []


def test_a_blocked_prompt_with_safety_and_no_blocked_rating() -> None:
    result = parse(answer(prompt_feedback={"block_reason": "SAFETY"}))
    assert refusal(result) == (True, BY_FIELD, "safety")


def test_unspecified_block_reason_is_no_refusal() -> None:
    result = parse(answer(prompt_feedback={"block_reason": "BLOCKED_REASON_UNSPECIFIED"}))
    assert refusal(result) == NO_REFUSAL
    assert refusal(parse(answer(prompt_feedback={}))) == NO_REFUSAL


def test_prompt_feedback_is_not_read_when_there_are_candidates() -> None:
    result = parse(answer(candidate("x", "STOP"), prompt_feedback={"block_reason": "SAFETY"}))
    assert refusal(result) == NO_REFUSAL


def test_the_first_refusing_candidate_decides() -> None:
    result = parse(answer(candidate("a", "STOP", index=0),
                          candidate("", "RECITATION", index=1),
                          candidate("", "SAFETY", index=2)))
    assert result.finish_reasons == ["stop", "recitation", "safety"]
    assert refusal(result) == (True, BY_FINISH, "recitation")


# --- generate: candidates, ids, messages -------------------------------------------------------------

def test_response_id_model_and_candidates_by_index() -> None:
    result = parse(answer(
        candidate("second", "MAX_TOKENS", index=1),
        {"index": 0, "finish_reason": "STOP", "content": {"role": "model", "parts": [
            {"text": "thinking", "thought": True},
            {"text": "fir"}, {"text": "st"},
            {"function_call": {"id": "c1", "name": "get", "args": {"a": 1}}},
            {"function_call": {"name": None}},
            {"text": "after"}]}},
        response_id="resp-1", model_version="gemini-2.5-flash-001"))
    assert (result.response_id, result.response_model) == ("resp-1", "gemini-2.5-flash-001")
    assert result.finish_reasons == ["stop", "max_tokens"]
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("c1", "get", {"a": 1}), (None, "", {})]
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "reasoning", "content": "thinking"},
            {"type": "text", "content": "first"},
            {"type": "tool_call", "name": "get", "id": "c1", "arguments": {"a": 1}},
            {"type": "tool_call", "name": None, "arguments": {}},
            {"type": "text", "content": "after"}]},
        {"role": "assistant", "finish_reason": "max_tokens", "parts": [
            {"type": "text", "content": "second"}]}]
    assert result.output_text and result.output_text() == "firstaftersecond"


def test_candidates_without_an_index_by_position() -> None:
    result = parse({"candidates": [candidate("a", None), candidate("b", "STOP")]})
    assert result.finish_reasons == ["stop"]
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "parts": [{"type": "text", "content": "a"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "b"}],
         "finish_reason": "stop"}]


# --- generate: streams -----------------------------------------------------------------------------------

def stream(*chunks: Any) -> Result:
    accumulator = generate.GenerateContentStreamAccumulator(request(stream=True))
    for chunk in chunks:
        accumulator.add(chunk)
    return accumulator.result()


def chunk(text: str | None = None, finish: str | None = None, usage: Any = None,
          response_id: str = "r1", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"response_id": response_id, **fields}
    if text is not None or finish is not None:
        out["candidates"] = [candidate(text, finish)]
    if usage is not None:
        out["usage_metadata"] = usage
    return out


def test_stream_latest_count_wins_per_response() -> None:
    result = stream(chunk("He", usage={"prompt_token_count": 1200}),
                    chunk("llo", usage={"prompt_token_count": 1200, "candidates_token_count": 2}),
                    chunk("", "STOP", usage={"candidates_token_count": 9,
                                             "thoughts_token_count": 3},
                          model_version="gemini-v"))
    assert usage(result) == (1200, 12, 3, None)
    assert result.finish_reasons == ["stop"]
    assert result.response_model == "gemini-v" and result.response_id == "r1"
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}],
         "finish_reason": "stop"}]


def test_stream_sums_over_responses() -> None:
    result = stream(chunk("a", usage={"prompt_token_count": 10}, response_id="r1"),
                    chunk("", "STOP", usage={"prompt_token_count": 10,
                                             "candidates_token_count": 1}, response_id="r1"),
                    chunk("b", usage={"prompt_token_count": 20}, response_id="r2"),
                    chunk("", "STOP", usage={"candidates_token_count": 2,
                                             "cached_content_token_count": 5},
                          response_id="r2"))
    assert usage(result) == (30, 3, None, 5)
    assert result.response_id == "r2"


def test_stream_cut_short_keeps_the_output_unknown() -> None:
    result = stream(chunk("a", usage={"prompt_token_count": 10}))
    assert usage(result) == (10, None, None, None)
    # ended (a finish reason): an omitted output count is 0
    result = stream(chunk("a", usage={"prompt_token_count": 10}), chunk(None, "STOP"))
    assert usage(result) == (10, 0, None, None)
    # a prompt feedback ends it too
    result = stream(chunk(usage={"prompt_token_count": 10},
                          prompt_feedback={"block_reason": "SAFETY"}))
    assert usage(result) == (10, 0, None, None)
    assert refusal(result) == (True, BY_FIELD, "safety")


def test_stream_prompt_feedback_the_last_given() -> None:
    result = stream(chunk(prompt_feedback={"block_reason": "OTHER"}), chunk())
    assert refusal(result) == (True, BY_FIELD, "other")


def test_stream_keeps_usage_of_at_most_1000_responses() -> None:
    chunks = [chunk(usage={"prompt_token_count": 1}, response_id=f"r{i}") for i in range(1001)]
    result = stream(*chunks, chunk(usage={"prompt_token_count": 1}, response_id="r0"))
    assert result.input_tokens == 1000


def test_stream_candidates_by_index_and_position() -> None:
    result = stream({"candidates": [candidate("b", None), candidate("a", None, index=1)]},
                    {"candidates": [candidate("d", "MAX_TOKENS"),
                                    candidate("c", "STOP", index=1)]})
    assert result.finish_reasons == ["max_tokens", "stop"]
    assert result.output_text and result.output_text() == "bdac"
    assert result.output_messages and [m["finish_reason"] for m in
                                       result.output_messages()] == ["max_tokens", "stop"]


def test_stream_candidates_by_their_index_not_their_position() -> None:
    result = stream({"candidates": [candidate("a", "STOP", index=0)]},
                    {"candidates": [candidate("b", "MAX_TOKENS", index=1)]})
    assert result.finish_reasons == ["stop", "max_tokens"]
    assert result.output_messages and result.output_messages() == [
        {"role": "assistant", "parts": [{"type": "text", "content": "a"}],
         "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "text", "content": "b"}],
         "finish_reason": "max_tokens"}]


def test_stream_no_chunks() -> None:
    result = stream()
    assert usage(result) == (None, None, None, None)
    assert result.finish_reasons == [] and refusal(result) == NO_REFUSAL
    assert result.response_id is None


# --- embeddings ------------------------------------------------------------------------------------------

def test_embeddings_request() -> None:
    built = embeddings.build_request(
        _instance(), (), {"model": "models/text-embedding-004",
                          "config": {"output_dimensionality": 256}})
    assert (built.operation, built.provider, built.model) == (
        sc.OP_EMBEDDINGS, sc.PROVIDER_GCP_GEMINI, "text-embedding-004")
    assert built.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 256
    built = embeddings.build_request(_instance(vertexai=True), (), {"model": "e"})
    assert built.provider == sc.PROVIDER_GCP_VERTEX_AI
    assert sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT not in built.attributes


@pytest.mark.parametrize(("response", "expected"), [
    ({"usage_metadata": {"prompt_token_count": 12},
      "embeddings": [{"statistics": {"token_count": 5}}]}, 12),
    ({"embeddings": [{"statistics": {"token_count": 5}},
                     {"statistics": {"token_count": 7.0}}]}, 12),
    ({"embeddings": [{"statistics": {"token_count": 5}}, {"statistics": {}}]}, None),
    ({"embeddings": [{"statistics": {"token_count": 5}},
                     {"statistics": {"token_count": -1}}]}, None),
    ({"embeddings": [{"statistics": {"token_count": 0}}]}, 0),
    ({"embeddings": []}, None),
    ({"usage_metadata": {"prompt_token_count": "12"}}, None),
    ({}, None),
])
def test_embeddings_tokens(response: dict[str, Any], expected: Any) -> None:
    result = embeddings.parse_response(response, request())
    assert result.input_tokens == expected
    assert result.output_tokens is None
