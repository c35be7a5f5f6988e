"""Responses API (``responses.create`` / ``parse`` and the ``stream()`` helper) onto the core."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import get, given, items, put, put_number, sequence, text
from tripwire._core.invocation import Request, Result
from tripwire._core.stainless import is_stream_result, unwrap_raw
from tripwire._core.tools import RequestedToolCall
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.openai.common import (
    chat_request,
    served_tier,
    start_attributes,
    usage_numbers,
)

# Responses have a status, not finish reasons; map it onto the chat vocabulary.
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
_TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def build_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    provider, attrs = start_attributes(instance)
    put_number(attrs, semconv.GEN_AI_REQUEST_MAX_TOKENS, kwargs.get("max_output_tokens"))
    put_number(attrs, semconv.GEN_AI_REQUEST_TEMPERATURE, kwargs.get("temperature"))
    put_number(attrs, semconv.GEN_AI_REQUEST_TOP_P, kwargs.get("top_p"))
    text = kwargs.get("text")
    fmt_type = get(get(text, "format"), "type")  # (get reads None and sentinels as absent)
    if given(kwargs.get("text_format")) or fmt_type in ("json_schema", "json_object"):
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = "json"
    elif fmt_type == "text":
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = "text"
    conversation = kwargs.get("conversation")
    if given(conversation):
        put(attrs, semconv.GEN_AI_CONVERSATION_ID,
            conversation if isinstance(conversation, str) else get(conversation, "id"))
    instructions = kwargs.get("instructions")
    items = kwargs.get("input")
    if not isinstance(items, str):
        items = sequence(items)  # a generator must reach the SDK unconsumed
    tools = sequence(kwargs.get("tools"))
    system = instructions if isinstance(instructions, str) and instructions else None
    system_texts = [system] if system else []
    return chat_request(
        provider, attrs, kwargs, tools, declared_tools(tools),
        system_texts=system_texts,
        input_messages=lambda: _input_messages(items),
        system_instructions=content.system_instructions(system_texts),
        prompt_text=lambda: (system or "") + "\n" + _plain_text(items),
    )


def declared_tools(tools: list[Any]) -> dict[str, Any] | None:
    if not tools:  # (a list: build_request passes fields.sequence())
        return None
    declared: dict[str, Any] = {}
    for tool in tools:
        if get(tool, "type") in ("function", "custom") and get(tool, "name"):
            declared[get(tool, "name")] = get(tool, "parameters")
    # Only hosted tools (web search, file search…) declared: nothing to check against.
    return declared or None


def _plain_text(items: Any) -> str:
    if isinstance(items, str):
        return items
    out: list[str] = []
    for item in items or ():
        body = get(item, "content")
        if isinstance(body, str):
            out.append(body)
        elif isinstance(body, (list, tuple)):
            out.extend(get(p, "text") or "" for p in body)
    return "\n".join(out)


def _input_messages(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, str):
        return [content.message("user", [content.text_part(items)])]
    messages: list[dict[str, Any]] = []
    for item in items or ():
        kind = get(item, "type")
        if kind == "function_call":
            messages.append(content.message("assistant", [content.tool_call_part(
                get(item, "call_id"), get(item, "name"), get(item, "arguments"))]))
        elif kind == "function_call_output":
            messages.append(content.message("tool", [content.tool_response_part(
                get(item, "call_id"), get(item, "output"))]))
        else:
            body = get(item, "content")
            if isinstance(body, str):
                parts = [content.text_part(body)]
            else:
                parts = [content.text_part(get(p, "text")) if get(p, "text") is not None
                         else {"type": get(p, "type") or "unknown"} for p in body or ()]
            messages.append(content.message(get(item, "role") or "user", parts))
    return messages


def parse_response(response: Any, request: Request) -> Result:
    response = unwrap_raw(response, request.stream)
    if response is None:
        return Result()
    usage = usage_numbers(get(response, "usage"), "input_tokens", "output_tokens",
                          "input_tokens_details", "output_tokens_details")
    result = Result(response_id=get(response, "id"), response_model=get(response, "model"),
                    **usage)
    served_tier(result, response)
    # ("text" | "refusal", value) or ("tool_call", RequestedToolCall), in order: the message
    # JSON is built from them only if content is captured.
    pieces: list[tuple[str, Any]] = []
    for item in items(get(response, "output")):
        kind = get(item, "type")
        if kind == "message":
            for part in items(get(item, "content")):
                part_type = get(part, "type")
                if part_type == "output_text":
                    pieces.append(("text", get(part, "text")))
                elif part_type == "refusal":
                    result.refusal = True
                    result.refusal_source = semconv.REFUSAL_SOURCE_PROVIDER_FIELD
                    pieces.append(("refusal", get(part, "refusal")))
        elif kind == "function_call":
            call = RequestedToolCall(get(item, "call_id"), get(item, "name") or "",
                                     get(item, "arguments"))
            result.tool_calls.append(call)
            pieces.append(("tool_call", call))
        elif kind == "custom_tool_call":  # a custom tool's input is free text, not JSON
            call = RequestedToolCall(get(item, "call_id"), get(item, "name") or "",
                                     get(item, "input"), freeform=True)
            result.tool_calls.append(call)
            pieces.append(("tool_call", call))
    finish = _finish_reason(response, bool(result.tool_calls))
    if finish:
        result.finish_reasons.append(finish)
        if finish == "content_filter" and not result.refusal:
            result.refusal = True
            result.refusal_source = semconv.REFUSAL_SOURCE_FINISH_REASON
            result.refusal_category = "content_filter"
    result.output_messages = lambda: [content.message("assistant", _parts(pieces), finish)]
    result.output_text = lambda: "".join(v for kind, v in pieces
                                         if kind == "text" and type(v) is str)
    return result


def _parts(pieces: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for kind, value in pieces:
        if kind == "text":
            parts.append(content.text_part(value))
        elif kind == "refusal":
            parts.append({"type": "refusal", "content": value})
        elif kind == "tool_call":
            parts.append(content.tool_call_part(value.id, value.name, value.arguments))
    return parts


def _finish_reason(response: Any, has_tool_calls: bool) -> str | None:
    status = get(response, "status")
    if status == "completed":
        return "tool_calls" if has_tool_calls else "stop"
    if status == "incomplete":
        reason = text(get(get(response, "incomplete_details"), "reason"))
        return _INCOMPLETE_REASONS.get(reason, reason) if reason else "incomplete"
    if status in ("failed", "cancelled"):
        return "error" if status == "failed" else "cancelled"
    return None


class ResponsesStreamAccumulator:
    """Keeps the terminal event's full response; text deltas only as a fallback."""

    __slots__ = ("_final", "_latest", "_request", "_text")

    def __init__(self, request: Request) -> None:
        self._request = request
        self._final: Any = None
        self._latest: Any = None
        self._text: list[str] = []

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            delta = getattr(event, "delta", None)
            if type(delta) is str:  # a number here would fail the join, and the result
                self._text.append(delta)
        elif kind in _TERMINAL_EVENTS:
            self._final = getattr(event, "response", None)
        elif kind in ("response.created", "response.in_progress"):
            self._latest = getattr(event, "response", None)

    def result(self) -> Result:
        if self._final is not None:
            return parse_response(self._final, self._request)
        latest = self._latest
        result = Result(response_id=get(latest, "id"), response_model=get(latest, "model"))
        text = "".join(self._text)
        result.output_text = lambda: text
        result.output_messages = lambda: [content.message("assistant", [content.text_part(text)])]
        return result


MAPPING = CallMapping(build_request, parse_response, ResponsesStreamAccumulator,
                      is_stream=is_stream_result)
PARSE_MAPPING = CallMapping(build_request, parse_response, None)
