"""``models.generate_content`` / ``generate_content_stream`` (sync and async) onto the core.

Decisions (see docs/google-genai.md):

- finish reasons are the SDK's enum names lower-cased (``STOP`` -> ``stop``);
- input tokens = ``prompt_token_count`` (cached tokens included) + ``tool_use_prompt_token_count``;
  output tokens = ``candidates_token_count`` + ``thoughts_token_count`` (thinking is billed
  as output), ``gen_ai.usage.reasoning.output_tokens`` = the thoughts alone; so input + output
  = ``total_token_count``; a count the wire JSON leaves out is 0 (proto3 drops zeros) once a
  response reported usage (docs/usage-sources.md);
- a call the SDK answers with several HTTP responses (automatic function calling,
  automatic continuation) is one span whose usage is the sum over those responses.
"""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import is_mapping, put_number, safe_text, sequence, string_list
from tripwire._core.invocation import Request, Result
from tripwire._core.tools import IdentityCache, RequestedToolCall, by_identity
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.google_genai.common import (
    client_info,
    enum_name,
    field,
    genai_part,
    input_messages,
    model_id,
    texts_of,
)

# Candidate finish reasons that mean the answer was withheld by a filter (lower case).
REFUSAL_FINISH_REASONS = frozenset({
    "safety", "prohibited_content", "blocklist", "spii", "recitation",
    "image_safety", "image_prohibited_content", "image_recitation",
})
# For these the blocked safety rating names the category; the others are their own category.
_RATED_REASONS = frozenset({"safety", "image_safety"})


# --- request ------------------------------------------------------------------------------

def _output_type(config: Any) -> str | None:
    mime = field(config, "response_mime_type")
    if isinstance(mime, str) and mime:
        if mime == "application/json" or mime.endswith("+json"):
            return "json"
        if mime.startswith("text/"):
            return "text"
    modalities = [enum_name(m) for m in field(config, "response_modalities") or ()]
    if modalities == ["image"]:
        return "image"
    if modalities == ["audio"]:
        return "speech"
    return None


_json_schemas: IdentityCache = {}


def _json_schema(schema: Any) -> Any:
    """A declaration's ``parameters`` (the SDK's OpenAPI ``Schema``) as JSON schema,
    converted once per schema object (apps pass the same tools on every call)."""
    if schema is None:
        return None
    return by_identity(_json_schemas, schema, _convert_schema)


def _convert_schema(schema: Any) -> Any:
    try:
        from google.genai import types

        if isinstance(schema, dict):
            schema = types.Schema.model_validate(schema)
        return schema.json_schema.model_dump(mode="json", exclude_none=True, by_alias=True)
    except Exception:
        return None  # unreadable schema: the name is still checked


def _declarations(tools: Any) -> list[tuple[str, Any, Any]]:
    """(kind or name, declaration, callable) for every tool; kind for built-in tools."""
    out: list[tuple[str, Any, Any]] = []
    for tool in tools or ():
        if callable(tool) and not hasattr(tool, "function_declarations"):
            out.append((getattr(tool, "__name__", "function"), None, tool))
            continue
        declarations = field(tool, "function_declarations")
        for declaration in declarations or ():
            out.append((field(declaration, "name") or "", declaration, None))
        if not declarations:
            if isinstance(tool, dict):
                kinds = [k for k, v in tool.items() if v is not None]
            elif hasattr(type(tool), "model_fields"):  # a types.Tool: its built-in tools
                kinds = [k for k, v in tool if v is not None]
            else:  # an MCP session or something newer: its type only
                kinds = [type(tool).__name__]
            out.extend((k, None, None) for k in kinds)
    return out


def declared_tools(tools: Any) -> dict[str, Any] | None:
    declared: dict[str, Any] = {}
    for name, declaration, function in _declarations(tools):
        if declaration is not None:
            schema = field(declaration, "parameters_json_schema")
            declared[name] = schema if schema is not None else _json_schema(
                field(declaration, "parameters"))
        elif function is not None:
            declared[name] = None  # automatic function calling: the SDK derives the schema
    # Only built-in tools (search, code execution): nothing to check calls against.
    return declared or None


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    definitions: list[dict[str, Any]] = []
    for name, declaration, function in _declarations(tools):
        if declaration is not None:
            definition = {"type": "function", "name": name,
                          "description": field(declaration, "description")}
            schema = field(declaration, "parameters_json_schema")
            definition["parameters"] = (schema if schema is not None
                                        else _json_schema(field(declaration, "parameters")))
            definitions.append(definition)
        elif function is not None:
            definitions.append({"type": "function", "name": name})
        else:
            definitions.append({"type": name})
    return definitions


def _request_attributes(attrs: dict[str, Any], config: Any) -> None:
    for key, attr in (
        ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
        ("top_k", semconv.GEN_AI_REQUEST_TOP_K),
        ("max_output_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS),
        ("seed", semconv.GEN_AI_REQUEST_SEED),
        ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
        ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ):
        put_number(attrs, attr, field(config, key))
    count = field(config, "candidate_count")
    if isinstance(count, int) and count != 1:
        attrs[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = count
    stops = string_list(field(config, "stop_sequences"))
    if stops:
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
    output_type = _output_type(config)
    if output_type:
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = output_type
    tier = enum_name(field(config, "service_tier"))
    if tier and tier != "unspecified":
        attrs[semconv.TRIPWIRE_REQUEST_SERVICE_TIER] = safe_text(tier)


def _build(instance: Any, kwargs: dict[str, Any], stream: bool) -> Request:
    provider, attrs = client_info.start(instance)
    config = kwargs.get("config")
    _request_attributes(attrs, config)
    contents = kwargs.get("contents")
    system = field(config, "system_instruction")
    system_texts = texts_of(system)
    tools = sequence(field(config, "tools"))  # a generator reaches the SDK unconsumed
    return Request(
        operation=semconv.OP_GENERATE_CONTENT,
        provider=provider,
        model=model_id(kwargs.get("model")),
        attributes=attrs,
        stream=stream,
        declared_tools=declared_tools(tools),
        system_texts=system_texts,
        input_messages=lambda: input_messages(contents),
        system_instructions=content.system_instructions(system_texts),
        tool_definitions=(lambda: tool_definitions(tools)) if tools else None,
        prompt_text=lambda: "\n".join(system_texts + texts_of(contents)),
        # The usage of the SDK's internal responses (see _hop_hook) lands here; a stream
        # never goes through them.
        state=None if stream else [],
    )


def build_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    return _build(instance, kwargs, stream=False)


def build_stream_request(instance: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Request:
    return _build(instance, kwargs, stream=True)


def record_hop(request: Request, response: Any) -> None:
    """Keep the usage of one of the SDK's internal HTTP responses for ``request``."""
    hops = request.state
    if isinstance(hops, list) and len(hops) < 1000:
        hops.append(field(response, "usage_metadata"))


# --- response -----------------------------------------------------------------------------

_COUNTS = ("prompt_token_count", "tool_use_prompt_token_count", "candidates_token_count",
           "thoughts_token_count", "cached_content_token_count")


def _counts(usage: Any, into: dict[str, int] | None = None) -> dict[str, int]:
    """The counts a ``usage_metadata`` carries (``into`` updated: a later report of a count
    replaces an earlier one, a count it leaves out keeps the earlier value)."""
    counts = into if into is not None else {}
    for key in _COUNTS:
        value = field(usage, key)
        if isinstance(value, int) and not isinstance(value, bool):
            counts[key] = value
    return counts


def _usage(result: Result, usages: list[Any], complete: bool) -> None:
    """Sum ``usage_metadata`` over the responses of one call into ``result``.

    The API leaves zero counts out of the wire JSON (proto3): once a response reported its
    usage, a missing prompt count is 0, and a missing output count is 0 when the answer is
    complete; on a stream cut short the output stays unknown (and is estimated)."""
    reports = [usage for usage in usages if usage is not None]
    if not reports:
        return
    totals: dict[str, int] = {}
    for usage in reports:
        for key, value in _counts(usage).items():
            totals[key] = totals.get(key, 0) + value
    get_total = totals.get
    result.input_tokens = get_total("prompt_token_count", 0) + get_total(
        "tool_use_prompt_token_count", 0)
    candidates, thoughts = get_total("candidates_token_count"), get_total("thoughts_token_count")
    if candidates is not None or thoughts is not None or complete:
        result.output_tokens = (candidates or 0) + (thoughts or 0)
    result.reasoning_tokens = thoughts
    result.cache_read_tokens = get_total("cached_content_token_count")


# Vertex AI's usageMetadata.trafficType (the Gemini API sends a header instead) -> tier.
_TRAFFIC_TIERS = {"on_demand": "standard", "on_demand_priority": "priority",
                  "on_demand_flex": "flex"}


def _served_tier(result: Result, response: Any) -> None:
    """The tier that served the call: the Gemini API's ``x-gemini-service-tier`` response
    header (a priority request may be served at standard), else Vertex AI's
    ``usageMetadata.trafficType``."""
    tier: Any = None
    headers = field(field(response, "sdk_http_response"), "headers")
    if is_mapping(headers):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == "x-gemini-service-tier":
                tier = value
                break
    if not isinstance(tier, str) or not tier:
        traffic = enum_name(field(field(response, "usage_metadata"), "traffic_type"))
        tier = (_TRAFFIC_TIERS.get(traffic, traffic)
                if traffic and traffic != "traffic_type_unspecified" else None)
    if tier:  # (text by now: the header's, or the traffic type's name)
        result.attributes[semconv.TRIPWIRE_RESPONSE_SERVICE_TIER] = safe_text(tier.lower())


def _blocked_category(ratings: Any) -> str | None:
    for rating in ratings or ():
        if field(rating, "blocked"):
            category = enum_name(field(rating, "category"))
            if category:
                return category.removeprefix("harm_category_")
    return None


def _refusal(result: Result, finish: str | None, candidate: Any, prompt_feedback: Any) -> None:
    if result.refusal:
        return
    if finish in REFUSAL_FINISH_REASONS:
        result.refusal = True
        result.refusal_source = semconv.REFUSAL_SOURCE_FINISH_REASON
        result.refusal_category = (
            _blocked_category(field(candidate, "safety_ratings")) if finish in _RATED_REASONS
            else None) or finish
        return
    reason = enum_name(field(prompt_feedback, "block_reason"))
    if reason and reason != "blocked_reason_unspecified":
        result.refusal = True
        result.refusal_source = semconv.REFUSAL_SOURCE_PROVIDER_FIELD
        result.refusal_category = (
            _blocked_category(field(prompt_feedback, "safety_ratings")) if reason == "safety"
            else None) or reason


class _Candidate:
    """What one candidate said, folded from a response or from stream chunks."""

    __slots__ = ("calls", "finish", "parts", "raw")

    def __init__(self) -> None:
        # SDK parts, converted only when content is captured; a run of answer text (a
        # stream's chunks) is kept as one list of strings, so it becomes one text part.
        self.parts: list[Any] = []
        self.calls: list[RequestedToolCall] = []
        self.finish: str | None = None
        self.raw: Any = None  # the candidate carrying the finish reason (safety ratings)

    def add(self, candidate: Any) -> None:
        parts = self.parts
        for part in field(field(candidate, "content"), "parts") or ():
            text = field(part, "text")
            if isinstance(text, str) and not field(part, "thought"):
                if parts and type(parts[-1]) is list:
                    parts[-1].append(text)
                else:
                    parts.append([text])
                continue
            parts.append(part)
            call = field(part, "function_call")
            if call is not None:
                args = field(call, "args")  # already parsed: checked as is
                self.calls.append(RequestedToolCall(
                    field(call, "id"), field(call, "name") or "", args if args is not None else {}))
        finish = enum_name(field(candidate, "finish_reason"))
        if finish:
            self.finish = finish
            self.raw = candidate

    def text(self) -> str:
        return "".join(t for part in self.parts if type(part) is list for t in part)


def _message_part(part: Any) -> dict[str, Any]:
    return content.text_part("".join(part)) if type(part) is list else genai_part(part)


def _result(candidates: dict[int, _Candidate], last: Any, usages: list[Any],
            prompt_feedback: Any, complete: bool) -> Result:
    result = Result(response_id=field(last, "response_id"),
                    response_model=field(last, "model_version"))
    _usage(result, usages, complete)
    _served_tier(result, last)
    ordered = [state for _, state in sorted(candidates.items())]
    for state in ordered:
        if state.finish:
            result.finish_reasons.append(state.finish)
        _refusal(result, state.finish, state.raw, None)
        result.tool_calls.extend(state.calls)
    if not candidates:
        _refusal(result, None, None, prompt_feedback)
    result.output_messages = lambda: [
        content.message("assistant", [_message_part(p) for p in state.parts], state.finish)
        for state in ordered]
    result.output_text = lambda: "".join(state.text() for state in ordered)
    return result


def parse_response(response: Any, request: Request) -> Result:
    candidates: dict[int, _Candidate] = {}
    for position, candidate in enumerate(field(response, "candidates") or ()):
        index = field(candidate, "index")
        state = candidates.setdefault(index if isinstance(index, int) else position,
                                      _Candidate())
        state.add(candidate)
    hops = request.state if isinstance(request.state, list) else None
    usages = hops if hops else [field(response, "usage_metadata")]
    return _result(candidates, response, usages, field(response, "prompt_feedback"), True)


class GenerateContentStreamAccumulator:
    """Folds ``GenerateContentResponse`` chunks.

    Usage arrives complete on the last chunk of each HTTP response (earlier ones carry the
    prompt count only); the latest usage per ``response_id`` is kept and summed, so a stream
    spanning several requests (automatic function calling) is counted whole.
    """

    __slots__ = ("_candidates", "_feedback", "_last", "_usage")

    def __init__(self, request: Request) -> None:
        self._candidates: dict[int, _Candidate] = {}
        self._usage: dict[Any, Any] = {}
        self._last: Any = None
        self._feedback: Any = None

    def add(self, chunk: Any) -> None:
        self._last = chunk
        usage = field(chunk, "usage_metadata")
        if usage is not None:
            # Counts per HTTP response, each the latest reported: a chunk that leaves one
            # out (a zero, or not known yet) keeps the one an earlier chunk gave.
            key = field(chunk, "response_id")
            counts = self._usage.get(key)
            if counts is not None:
                _counts(usage, counts)
            elif len(self._usage) < 1000:
                self._usage[key] = _counts(usage)
        feedback = field(chunk, "prompt_feedback")
        if feedback is not None:
            self._feedback = feedback
        for position, candidate in enumerate(field(chunk, "candidates") or ()):
            index = field(candidate, "index")
            key = index if isinstance(index, int) else position
            state = self._candidates.get(key)
            if state is None:
                state = self._candidates[key] = _Candidate()
            state.add(candidate)

    def result(self) -> Result:
        complete = self._feedback is not None or any(
            state.finish for state in self._candidates.values())
        return _result(self._candidates, self._last, list(self._usage.values()), self._feedback,
                       complete)


MAPPING = CallMapping(build_request, parse_response)
STREAM_MAPPING = CallMapping(build_stream_request, parse_response,
                             GenerateContentStreamAccumulator)
