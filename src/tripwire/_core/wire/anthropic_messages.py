"""The Anthropic Messages wire format onto the core, independent of any SDK.

One mapping of requests, responses and stream events, read with
:func:`tripwire._core.fields.get` so that it takes the ``anthropic`` SDK's objects and plain
dicts alike: the Anthropic instrumentor (``messages.create`` and friends) and the Bedrock one
(``InvokeModel`` with an Anthropic body, JSON) both use it. Importing this module never
imports the ``anthropic`` SDK.
"""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import get, given, plausible_count, put_number, safe_text, string_list
from tripwire._core.invocation import Result
from tripwire._core.tools import RequestedToolCall
from tripwire._core.wire.usage import apply_usage, token_count, usage_counts

REFUSAL = "refusal"
# stop_reason -> the finish reasons of the GenAI output-message schema (message JSON only;
# gen_ai.response.finish_reasons keeps Anthropic's own values).
_SCHEMA_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    REFUSAL: "content_filter",
}
_SCALARS = (str, bytes, int, float, bool)


def schema_finish(stop_reason: Any) -> str | None:
    """The GenAI output-message ``finish_reason`` for a stop reason (the span's
    ``gen_ai.response.finish_reasons`` keep the provider's own value)."""
    if not isinstance(stop_reason, str) or not stop_reason:
        return None
    return _SCHEMA_FINISH.get(stop_reason, stop_reason)


# --- request ------------------------------------------------------------------------------

def describe_request(attrs: dict[str, Any], params: Any, sampling: Any = None) -> dict[str, Any]:
    """Add the request attributes of a Messages request to ``attrs``; return the
    :class:`Request` fields that describe it (tools, system prompt, content builders).

    ``params`` holds ``messages``, ``system``, ``tools`` and the output format; ``sampling``
    (default ``params``) the sampling parameters.
    """
    sent = params if sampling is None else sampling
    for key, attr in (
        ("max_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS),
        ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
        ("top_k", semconv.GEN_AI_REQUEST_TOP_K),
    ):
        put_number(attrs, attr, get(sent, key))
    stops = string_list(get(sent, "stop_sequences"))
    if stops:
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
    _put_terms(attrs, sent, semconv.TRIPWIRE_REQUEST_SERVICE_TIER, semconv.TRIPWIRE_REQUEST_SPEED)
    if json_output(params):
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = "json"
    messages = _blocks(get(params, "messages"))
    system = system_texts(get(params, "system"))
    tools = _blocks(get(params, "tools"))
    return {
        "declared_tools": declared_tools(tools),
        "system_texts": system,
        "input_messages": lambda: [input_message(m) for m in messages],
        "system_instructions": content.system_instructions(system),
        "tool_definitions": (lambda: [tool_definition(t) for t in tools]) if tools else None,
        "prompt_text": lambda: "\n".join([*system, *(_plain_text(get(m, "content"))
                                                     for m in messages)]),
    }


def json_output(params: Any) -> bool:
    if given(get(params, "output_format")):  # parse()/stream() with a type, or the beta dict
        return True
    fmt = get(get(params, "output_config"), "format")
    return get(fmt, "type") == "json_schema"


def system_texts(system: Any) -> list[str]:
    """``system`` is a string or a list of text blocks: one text per block."""
    if not given(system) or not system:
        return []
    if isinstance(system, str):
        return [system]
    return [text for block in _blocks(system) if isinstance(text := get(block, "text"), str)
            and text]


def declared_tools(tools: list[Any] | None) -> dict[str, Any] | None:
    """Name -> input schema. Server tools (``web_search``, ``bash``…) have a name but no
    schema: declared, so never 'unknown', and not schema-checked."""
    if not tools:
        return None
    declared: dict[str, Any] = {}
    for tool in tools:
        name = get(tool, "name")
        if isinstance(name, str) and name:
            declared[name] = get(tool, "input_schema")
    return declared or None


def tool_definition(tool: Any) -> dict[str, Any]:
    """A tool as the GenAI tool-definition schema has it: a custom tool (one with an
    ``input_schema``) is a ``function``; a server tool keeps its own type."""
    schema = get(tool, "input_schema")
    definition: dict[str, Any] = {"type": "function" if schema is not None
                                  else str(get(tool, "type") or "function"),
                                  "name": get(tool, "name")}
    description = get(tool, "description")
    if description:
        definition["description"] = description
    if schema is not None:
        definition["parameters"] = schema
    return definition


def _blocks(value: Any) -> list[Any]:
    """The items of a list or tuple that can be blocks (not scalars left by a bad body)."""
    items = value if isinstance(value, (list, tuple)) else ()  # a generator stays unread
    return [item for item in items if item is not None and not isinstance(item, _SCALARS)]


def _plain_text(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, (list, tuple)):
        return "\n".join(text for block in _blocks(body)
                         if isinstance(text := get(block, "text"), str))
    return ""


def _tool_result(body: Any) -> Any:
    # tool_result content: a string or a list of blocks (text, images); keep text only.
    if isinstance(body, (list, tuple)):
        return _text_of(body)
    return body


def _text_of(blocks: Any) -> str:
    """The text of the ``text`` blocks, joined."""
    return "".join(text for block in _blocks(blocks)
                   if get(block, "type") == "text" and isinstance(text := get(block, "text"),
                                                                   str))


def part(block: Any) -> dict[str, Any]:
    """One content block (request param or response) as a GenAI message part."""
    kind = get(block, "type")
    if kind == "text":
        return content.text_part(get(block, "text"))
    if kind == "tool_use":
        return content.tool_call_part(get(block, "id"), get(block, "name"), get(block, "input"))
    if kind == "tool_result":
        return content.tool_response_part(get(block, "tool_use_id"),
                                          _tool_result(get(block, "content")))
    if kind == "thinking":
        return {"type": "reasoning", "content": get(block, "thinking")}
    # images, documents, redacted thinking, server tools: the type only, never the data
    return {"type": kind or "unknown"}


def parts(body: Any) -> list[dict[str, Any]]:
    """A message's ``content``: a string, or a list of blocks. Any other iterable is left
    alone (reading a generator would consume what the SDK is about to send)."""
    if isinstance(body, str):
        return [content.text_part(body)]
    return [part(block) for block in _blocks(body)]


def input_message(msg: Any) -> dict[str, Any]:
    return content.message(get(msg, "role") or "user", parts(get(msg, "content")))


# --- response -----------------------------------------------------------------------------

def usage_numbers(usage: Any, start_usage: Any = None) -> dict[str, Any]:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; semconv's includes them.

    ``start_usage`` (streams: ``message_start``) fills what ``usage`` (``message_delta``)
    leaves out — older API versions sent only ``output_tokens`` there.
    """
    if usage is None and start_usage is None:
        return {}

    def pick(key: str) -> Any:
        value = get(usage, key)
        return value if value is not None else get(start_usage, key)

    counts = usage_counts(pick("input_tokens"), pick("output_tokens"),
                          pick("cache_read_input_tokens"), pick("cache_creation_input_tokens"))
    # recent API versions break thinking tokens out of output_tokens (included there)
    counts["reasoning_tokens"] = token_count(get(pick("output_tokens_details"),
                                                "thinking_tokens"))
    # The terms the call was served and billed at: tier (batch results say "batch"), speed,
    # and the cache writes kept for an hour (priced above five-minute ones).
    terms: dict[str, Any] = {}
    _put_terms(terms, pick, semconv.TRIPWIRE_RESPONSE_SERVICE_TIER,
               semconv.TRIPWIRE_RESPONSE_SPEED)
    one_hour = plausible_count(token_count(get(pick("cache_creation"),
                                               "ephemeral_1h_input_tokens")))
    if one_hour:
        terms[semconv.TRIPWIRE_USAGE_CACHE_CREATION_1H_INPUT_TOKENS] = one_hour
    if terms:
        counts["attributes"] = terms
    return counts


def _put_terms(attrs: dict[str, Any], source: Any, tier_key: str, speed_key: str) -> None:
    """``service_tier`` and ``speed`` of a request's params or a usage (``source``: an
    object, a dict, or a function of the field name)."""
    for field, key in (("service_tier", tier_key), ("speed", speed_key)):
        value = source(field) if callable(source) else get(source, field)
        if isinstance(value, str) and value:
            attrs[key] = safe_text(value)


def stop_details(obj: Any) -> Any:
    details = get(obj, "stop_details")
    if details is None:  # SDKs older than the field keep it among the model's extras
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, dict):
            details = extra.get("stop_details")
    return details


def _apply_stop(result: Result, stop_reason: Any, details: Any) -> str | None:
    if stop_reason is None or stop_reason == "":
        return None
    result.finish_reasons.append(stop_reason)  # not text: dropped and flagged by the core
    if not isinstance(stop_reason, str):
        return None
    if stop_reason == REFUSAL:
        result.refusal = True
        if details is not None:
            result.refusal_source = semconv.REFUSAL_SOURCE_PROVIDER_FIELD
            category = get(details, "category")
            if isinstance(category, str) and category:
                result.refusal_category = category
        else:
            result.refusal_source = semconv.REFUSAL_SOURCE_FINISH_REASON
    return schema_finish(stop_reason)


def apply_message(result: Result, message: Any, usage: dict[str, Any], blocks: list[Any],
                  stop_reason: Any, details: Any) -> None:
    """Fill ``result`` from a message: ``message`` for its id and model, ``usage`` from
    :func:`usage_numbers` (only the counts it has replace what ``result`` holds), ``blocks``
    its content blocks (a ``tool_use`` input parsed, or its JSON text as streamed)."""
    message_id, model = get(message, "id"), get(message, "model")
    # Whatever stands there replaces what ``result`` holds; the core drops and flags a value
    # that is not text.
    if message_id is not None and message_id != "":
        result.response_id = message_id
    if model is not None and model != "":
        result.response_model = model
    apply_usage(result, usage)
    texts: list[str] = []
    for block in blocks:
        kind = get(block, "type")
        if kind == "tool_use":
            result.tool_calls.append(RequestedToolCall(get(block, "id"), get(block, "name") or "",
                                                       get(block, "input")))
        elif kind == "text":
            text = get(block, "text")
            texts.append(text if isinstance(text, str) else "")
    finish = _apply_stop(result, stop_reason, details)
    result.output_messages = lambda: [content.message("assistant", [part(b) for b in blocks],
                                                      finish)]
    result.output_text = lambda: "".join(texts)


def parse_message(result: Result, message: Any) -> None:
    """A whole message (``messages.create`` without a stream, InvokeModel's body)."""
    apply_message(result, message, usage_numbers(get(message, "usage")),
                  _blocks(get(message, "content")),
                  get(message, "stop_reason"), stop_details(message))


# --- stream -------------------------------------------------------------------------------

class MessageEvents:
    """Folds the events of a message stream (``message_start`` … ``message_stop``), SDK
    objects or dicts."""

    __slots__ = ("_blocks", "_details", "_stop", "delta_usage", "message")

    def __init__(self) -> None:
        self.message: Any = None  # message_start's message: id, model, first usage
        self.delta_usage: Any = None  # message_delta's usage: cumulative
        self._stop: Any = None
        self._details: Any = None
        self._blocks: dict[int, _Block] = {}

    def add(self, event: Any) -> None:
        kind = get(event, "type")
        if kind == "content_block_delta":
            index = _index(event)
            block = self._blocks.get(index)
            if block is None:  # no content_block_start seen: keep the text that follows
                block = self._blocks[index] = _Block({"type": "text", "text": ""})
            block.add(get(event, "delta"))
        elif kind == "content_block_start":
            self._blocks[_index(event)] = _Block(get(event, "content_block"))
        elif kind == "message_start":
            self.message = get(event, "message")
        elif kind == "message_delta":
            delta = get(event, "delta")
            self._stop = get(delta, "stop_reason") or self._stop
            details = stop_details(delta)
            if details is not None:
                self._details = details
            usage = get(event, "usage")
            if usage is not None:
                self.delta_usage = usage

    def apply(self, result: Result) -> None:
        """Fill ``result`` from what the stream carried."""
        blocks = [block.whole() for _, block in sorted(self._blocks.items())]
        usage = usage_numbers(self.delta_usage, get(self.message, "usage"))
        apply_message(result, self.message, usage, blocks, self._stop, self._details)


def _index(event: Any) -> int:
    index = get(event, "index")
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def _piece(value: Any) -> str:
    return value if isinstance(value, str) else ""


class _Block:
    __slots__ = ("id", "kind", "name", "pieces", "start")

    def __init__(self, start: Any) -> None:
        self.start = start
        self.kind: str | None = get(start, "type")
        self.id: str | None = get(start, "id")
        self.name: str | None = get(start, "name")
        self.pieces: list[str] = []

    def add(self, delta: Any) -> None:
        kind = get(delta, "type")
        if kind == "text_delta":
            self.pieces.append(_piece(get(delta, "text")))
        elif kind == "input_json_delta":
            self.pieces.append(_piece(get(delta, "partial_json")))
        elif kind == "thinking_delta":
            self.pieces.append(_piece(get(delta, "thinking")))

    def arguments(self) -> Any:
        """The streamed JSON text; without fragments, the input as it came whole in
        content_block_start (already parsed, as in a whole message)."""
        return "".join(self.pieces) or get(self.start, "input") or {}

    def whole(self) -> dict[str, Any]:
        """The block as a whole message has it; a tool's input is the raw JSON text as
        streamed (broken fragments are flagged as invalid)."""
        kind = self.kind
        if kind == "text":
            return {"type": kind, "text": _piece(get(self.start, "text")) + "".join(self.pieces)}
        if kind == "tool_use":
            return {"type": kind, "id": self.id, "name": self.name, "input": self.arguments()}
        if kind == "thinking":
            return {"type": kind,
                    "thinking": _piece(get(self.start, "thinking")) + "".join(self.pieces)}
        return {"type": kind}
