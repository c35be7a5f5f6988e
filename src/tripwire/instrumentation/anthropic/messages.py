"""Messages API (``messages.create`` / ``parse`` / ``stream``, and their ``beta`` twins) onto
the core."""

from __future__ import annotations

import json
from typing import Any

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import get, given, put_number, sequence, string_list
from tripwire._core.invocation import Request, Result
from tripwire._core.stainless import is_raw, unwrap_raw
from tripwire._core.tools import RequestedToolCall
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.anthropic.common import client_info

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


# --- request ------------------------------------------------------------------------------

def build_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    provider, server = client_info(instance)
    attrs: dict[str, Any] = dict(server)
    # Recent SDKs dropped the sampling parameters from the signature: they are sent through
    # extra_body, whose values win over the keyword arguments.
    extra = kwargs.get("extra_body")
    sent = {**kwargs, **extra} if isinstance(extra, dict) else kwargs
    for key, attr in (
        ("max_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS),
        ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
        ("top_k", semconv.GEN_AI_REQUEST_TOP_K),
    ):
        put_number(attrs, attr, sent.get(key))
    stops = string_list(sent.get("stop_sequences"))
    if stops:
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
    if _json_output(kwargs):
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = "json"
    messages = sequence(kwargs.get("messages"))
    system = _system_texts(kwargs.get("system"))
    tools = sequence(kwargs.get("tools")) or None
    stream = kwargs.get("stream")
    model = kwargs.get("model")
    return Request(
        operation=semconv.OP_CHAT,
        provider=provider,
        model=model if given(model) and model else None,
        attributes=attrs,
        stream=bool(stream) if given(stream) else False,
        declared_tools=declared_tools(tools),
        system_texts=system,
        input_messages=lambda: [_input_message(m) for m in messages],
        system_instructions=(lambda: [content.text_part(t) for t in system]) if system else None,
        tool_definitions=(lambda: tools) if tools else None,
        prompt_text=lambda: "\n".join([*system, *(_plain_text(get(m, "content"))
                                                  for m in messages)]),
    )


def _json_output(kwargs: dict[str, Any]) -> bool:
    if given(kwargs.get("output_format")):  # parse()/stream() with a type, or the beta dict
        return True
    fmt = get(kwargs.get("output_config"), "format")
    return get(fmt, "type") == "json_schema"


def _system_texts(system: Any) -> list[str]:
    """``system`` is a string or a list of text blocks."""
    if not given(system) or not system:
        return []
    if isinstance(system, str):
        return [system]
    return [text for block in sequence(system) if (text := get(block, "text"))]


def declared_tools(tools: list[Any] | None) -> dict[str, Any] | None:
    """Name -> input schema. Server tools (``web_search``, ``bash``…) have a name but no
    schema: declared, so never 'unknown', and not schema-checked."""
    if not tools:
        return None
    declared: dict[str, Any] = {}
    for tool in tools:
        name = get(tool, "name")
        if name:
            declared[name] = get(tool, "input_schema")
    return declared


def _plain_text(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, (list, tuple)):
        return "\n".join(get(block, "text") or "" for block in body)
    return ""


def _tool_result(body: Any) -> Any:
    # tool_result content: a string or a list of blocks (text, images); keep text only.
    if isinstance(body, (list, tuple)):
        texts = [get(block, "text") for block in body if get(block, "type") == "text"]
        return "".join(t for t in texts if t)
    return body


def _part(block: Any) -> dict[str, Any]:
    """One content block (request param or response model) as a GenAI message part."""
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


def _input_message(msg: Any) -> dict[str, Any]:
    role = get(msg, "role") or "user"
    body = get(msg, "content")
    if isinstance(body, str):
        return content.message(role, [content.text_part(body)])
    return content.message(role, [_part(block) for block in body or ()])


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

    fresh = pick("input_tokens")
    cache_read = pick("cache_read_input_tokens")
    cache_write = pick("cache_creation_input_tokens")
    total = None
    if fresh is not None:
        total = fresh + (cache_read or 0) + (cache_write or 0)
    return {"input_tokens": total, "output_tokens": pick("output_tokens"),
            "cache_read_tokens": cache_read, "cache_creation_tokens": cache_write,
            # recent API versions break thinking tokens out of output_tokens (included there)
            "reasoning_tokens": get(pick("output_tokens_details"), "thinking_tokens")}


def _apply_stop(result: Result, stop_reason: Any, stop_details: Any) -> str | None:
    if not stop_reason:
        return None
    result.finish_reasons.append(stop_reason)
    if stop_reason == REFUSAL:
        result.refusal = True
        if stop_details is not None:
            result.refusal_source = semconv.REFUSAL_SOURCE_PROVIDER_FIELD
            category = get(stop_details, "category")
            if category:
                result.refusal_category = str(category)
        else:
            result.refusal_source = semconv.REFUSAL_SOURCE_FINISH_REASON
    return str(_SCHEMA_FINISH.get(stop_reason, stop_reason))


def _outputs(result: Result, parts: list[dict[str, Any]], texts: list[str],
             finish: str | None) -> None:
    result.output_messages = lambda: [content.message("assistant", parts, finish)]
    result.output_text = lambda: "".join(texts)


def parse_response(response: Any, request: Request) -> Result:
    if request.stream and is_raw(response):
        return Result()  # a raw streamed body: the events are the application's to read
    message = unwrap_raw(response)
    if message is None:
        return Result()
    result = Result(response_id=get(message, "id"), response_model=get(message, "model"),
                    **usage_numbers(get(message, "usage")))
    parts: list[dict[str, Any]] = []
    texts: list[str] = []
    for block in get(message, "content") or ():
        kind = get(block, "type")
        if kind == "tool_use":
            # input arrives parsed (a dict): schema-checked as is
            result.tool_calls.append(RequestedToolCall(get(block, "id"), get(block, "name") or "",
                                                       get(block, "input")))
        elif kind == "text":
            texts.append(get(block, "text") or "")
        parts.append(_part(block))
    finish = _apply_stop(result, get(message, "stop_reason"), _stop_details(message))
    _outputs(result, parts, texts, finish)
    return result


def _stop_details(obj: Any) -> Any:
    details = get(obj, "stop_details")
    if details is None:  # SDKs older than the field keep it among the model's extras
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, dict):
            details = extra.get("stop_details")
    return details


# --- stream -------------------------------------------------------------------------------

class MessageStreamAccumulator:
    """Folds raw message stream events (``message_start`` … ``message_stop``)."""

    __slots__ = ("_blocks", "_delta_usage", "_details", "_message", "_stop")

    def __init__(self, request: Request) -> None:
        self._message: Any = None  # message_start's message: id, model, first usage
        self._delta_usage: Any = None  # message_delta's usage: cumulative
        self._stop: Any = None
        self._details: Any = None
        self._blocks: dict[int, _Block] = {}

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            block = self._blocks.get(event.index)
            if block is not None:
                block.add(event.delta)
        elif kind == "content_block_start":
            self._blocks[event.index] = _Block(event.content_block)
        elif kind == "message_start":
            self._message = event.message
        elif kind == "message_delta":
            delta = event.delta
            self._stop = getattr(delta, "stop_reason", None) or self._stop
            details = _stop_details(delta)
            if details is not None:
                self._details = details
            usage = getattr(event, "usage", None)
            if usage is not None:
                self._delta_usage = usage

    def result(self) -> Result:
        message = self._message
        result = Result(response_id=get(message, "id"), response_model=get(message, "model"),
                        **usage_numbers(self._delta_usage, get(message, "usage")))
        parts: list[dict[str, Any]] = []
        texts: list[str] = []
        for _, block in sorted(self._blocks.items()):
            part = block.part()
            parts.append(part)
            if block.kind == "tool_use":
                # the raw JSON text as streamed: broken fragments are flagged as invalid
                result.tool_calls.append(RequestedToolCall(block.id, block.name or "",
                                                           block.arguments()))
            elif block.kind == "text":
                texts.append(part["content"])
        finish = _apply_stop(result, self._stop, self._details)
        _outputs(result, parts, texts, finish)
        return result


class _Block:
    __slots__ = ("id", "kind", "name", "pieces", "start")

    def __init__(self, start: Any) -> None:
        self.start = start
        self.kind: str | None = getattr(start, "type", None)
        self.id: str | None = getattr(start, "id", None)
        self.name: str | None = getattr(start, "name", None)
        self.pieces: list[str] = []

    def add(self, delta: Any) -> None:
        kind = getattr(delta, "type", None)
        if kind == "text_delta":
            self.pieces.append(delta.text)
        elif kind == "input_json_delta":
            self.pieces.append(delta.partial_json)
        elif kind == "thinking_delta":
            self.pieces.append(delta.thinking)

    def arguments(self) -> str:
        text = "".join(self.pieces)
        if text:
            return text
        # no fragments: the input came whole in content_block_start (or is empty)
        try:
            return json.dumps(getattr(self.start, "input", None) or {})
        except (TypeError, ValueError):
            return "{}"

    def part(self) -> dict[str, Any]:
        kind = self.kind
        if kind == "text":
            return content.text_part((getattr(self.start, "text", None) or "")
                                     + "".join(self.pieces))
        if kind == "tool_use":
            return content.tool_call_part(self.id, self.name, self.arguments())
        if kind == "thinking":
            return {"type": "reasoning", "content": "".join(self.pieces)}
        return {"type": kind or "unknown"}


def _stream_result(result: Any, request: Request) -> bool:
    # with_raw_response / with_streaming_response return a wrapper, not the event stream
    return request.stream and not is_raw(result)


MAPPING = CallMapping(build_request, parse_response, MessageStreamAccumulator, _stream_result)
# parse() never streams.
PARSE_MAPPING = CallMapping(build_request, parse_response, None)
# The stream() helper's request (always a stream).
STREAM_MAPPING = CallMapping(build_request, parse_response, MessageStreamAccumulator)
