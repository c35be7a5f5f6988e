"""Chat Completions (``chat.completions.create`` / ``parse``) onto the core."""

from __future__ import annotations

from typing import Any

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import (
    get,
    given,
    index,
    items,
    put_number,
    sequence,
    string_list,
    text,
)
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

_SYSTEM_ROLES = ("system", "developer")
_NUMBER_PARAMS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", semconv.GEN_AI_REQUEST_SEED),
)


def build_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    provider, attrs = start_attributes(instance)
    put_number(attrs, semconv.GEN_AI_REQUEST_MAX_TOKENS,
               kwargs.get("max_completion_tokens", kwargs.get("max_tokens")))
    for key, attr in _NUMBER_PARAMS:
        value = kwargs.get(key)
        if value is not None:
            put_number(attrs, attr, value)
    n = kwargs.get("n")
    if given(n) and n != 1:
        attrs[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = n
    stops = string_list(kwargs.get("stop"))
    if stops:
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
    output_type = _output_type(kwargs.get("response_format"))
    if output_type:
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = output_type
    messages = sequence(kwargs.get("messages"))
    tools = sequence(kwargs.get("tools"))
    return chat_request(
        provider, attrs, kwargs, tools, declared_tools(tools),
        system_texts=[_text_of(get(m, "content")) for m in messages
                      if get(m, "role") in _SYSTEM_ROLES],
        input_messages=lambda: [_input_message(m) for m in messages],
        prompt_text=lambda: "\n".join(_text_of(get(m, "content")) for m in messages),
    )


def _output_type(response_format: Any) -> str | None:
    if not given(response_format):
        return None
    if isinstance(response_format, type):  # parse(response_format=PydanticModel)
        return "json"
    kind = get(response_format, "type")
    return "json" if kind in ("json_object", "json_schema") else ("text" if kind else None)


def declared_tools(tools: list[Any]) -> dict[str, Any] | None:
    if not tools:  # (a list: build_request passes fields.sequence())
        return None
    declared: dict[str, Any] = {}
    for tool in tools:
        function = get(tool, "function")
        if function is not None:
            name = get(function, "name")
            if name:
                declared[name] = get(function, "parameters")
        else:
            name = get(get(tool, "custom"), "name") or get(tool, "name")
            if name:
                declared[name] = None
    return declared


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "".join(get(p, "text") or "" for p in value)
    return str(value)


def _input_message(msg: Any) -> dict[str, Any]:
    role = get(msg, "role") or "user"
    parts: list[dict[str, Any]] = []
    body = get(msg, "content")
    if role == "tool":
        return content.message(role, [content.tool_response_part(get(msg, "tool_call_id"), body)])
    if isinstance(body, str):
        parts.append(content.text_part(body))
    elif isinstance(body, (list, tuple)):
        for part in body:
            kind = get(part, "type")
            if kind == "text":
                parts.append(content.text_part(get(part, "text")))
            else:
                parts.append({"type": kind or "unknown"})  # images, audio: type only
    for call in items(get(msg, "tool_calls")):
        fn = get(call, "function")
        parts.append(content.tool_call_part(get(call, "id"), get(fn, "name"), get(fn, "arguments")))
    return content.message(role, parts)


def _refusal_of(result: Result, refusal_text: Any, finish_reason: str | None,
                choice: Any) -> None:
    if refusal_text:
        result.refusal = True
        result.refusal_source = semconv.REFUSAL_SOURCE_PROVIDER_FIELD
    elif finish_reason == "content_filter":
        result.refusal = True
        result.refusal_source = semconv.REFUSAL_SOURCE_FINISH_REASON
        result.refusal_category = _azure_filter_category(choice) or "content_filter"



def _azure_filter_category(choice: Any) -> str | None:
    # Azure OpenAI adds content_filter_results {category: {filtered: bool, severity}} (an
    # extra field of the SDK's choice, read as an attribute like the others).
    results = get(choice, "content_filter_results")
    if isinstance(results, dict):
        for category, verdict in results.items():
            if isinstance(verdict, dict) and verdict.get("filtered") is True:
                return text(category)
    return None


def parse_response(response: Any, request: Request) -> Result:
    response = unwrap_raw(response, request.stream)
    if response is None:
        return Result()
    result = Result(response_id=get(response, "id"), response_model=get(response, "model"),
                    **usage_numbers(get(response, "usage"), "prompt_tokens", "completion_tokens",
                                    "prompt_tokens_details", "completion_tokens_details"))
    served_tier(result, response)
    choices = items(get(response, "choices"))
    # (text, refusal, tool calls, finish) per choice; message JSON only if content is captured
    answers: list[tuple[Any, Any, list[RequestedToolCall], Any]] = []
    for choice in choices:
        finish = get(choice, "finish_reason")
        message = get(choice, "message")
        if finish:
            result.finish_reasons.append(finish)
        refusal = text(get(message, "refusal"))
        _refusal_of(result, refusal, finish, choice)
        calls: list[RequestedToolCall] = []
        for call in items(get(message, "tool_calls")):
            fn = get(call, "function")
            if fn is not None:
                calls.append(RequestedToolCall(get(call, "id"), get(fn, "name") or "",
                                               get(fn, "arguments")))
            else:  # a custom tool: its input is free text, not JSON arguments
                custom = get(call, "custom")
                calls.append(RequestedToolCall(get(call, "id"), get(custom, "name") or "",
                                               get(custom, "input"), freeform=True))
        result.tool_calls.extend(calls)
        answers.append((get(message, "content"), refusal, calls, finish))
    result.output_messages = lambda: [_output_message(*answer) for answer in answers]
    return result


def _output_message(text: Any, refusal: Any, calls: list[RequestedToolCall],
                    finish: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if text:
        parts.append(content.text_part(text))
    if refusal:
        parts.append({"type": "refusal", "content": refusal})
    for call in calls:
        parts.append(content.tool_call_part(call.id, call.name, call.arguments))
    return content.message("assistant", parts, finish)


class ChatStreamAccumulator:
    """Folds ``chat.completion.chunk`` events; keeps only what the answer needs."""

    __slots__ = ("_choices", "_last", "_usage")

    def __init__(self, request: Request) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._last: Any = None
        self._usage: Any = None

    def add(self, chunk: Any) -> None:
        self._last = chunk
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = usage
        choices = getattr(chunk, "choices", None)
        # Fields of the wrong type (a chunk the SDK could not type) are read as absent: one
        # bad field costs that field, never the stream's usage (checks inlined: every chunk).
        for choice in choices if type(choices) is list else ():
            position = getattr(choice, "index", 0)
            if type(position) is not int:
                position = 0  # (what fields.index makes of anything but an int)
            state = self._choices.get(position)
            if state is None:
                state = self._choices[position] = _ChoiceState()
            delta = getattr(choice, "delta", None)
            if delta is not None:  # each field read once: this runs for every chunk
                # A field of the wrong type (a number where text belongs) is skipped: kept,
                # it would fail the join at the end and cost the stream's usage and cost.
                content_text = getattr(delta, "content", None)
                if content_text and type(content_text) is str:
                    state.text.append(content_text)
                refusal = getattr(delta, "refusal", None)
                if refusal and type(refusal) is str:
                    state.refusal.append(refusal)
                tool_calls = getattr(delta, "tool_calls", None)
                if tool_calls and type(tool_calls) is list:
                    state.add_tool_deltas(tool_calls)
            finish = getattr(choice, "finish_reason", None)
            if finish:
                state.finish = finish
                state.raw = choice  # Azure's filter verdicts ride on the final choice

    def result(self) -> Result:
        last = self._last
        result = Result(
            response_id=get(last, "id"), response_model=get(last, "model"),
            **usage_numbers(self._usage, "prompt_tokens", "completion_tokens",
                            "prompt_tokens_details", "completion_tokens_details"))
        served_tier(result, last)
        answers: list[tuple[Any, Any, list[RequestedToolCall], Any]] = []
        for _, state in sorted(self._choices.items()):
            text = "".join(state.text)
            refusal = "".join(state.refusal)
            if state.finish:
                result.finish_reasons.append(state.finish)
            _refusal_of(result, refusal, state.finish, state.raw)
            calls = [RequestedToolCall(call_id, name, args)
                     for call_id, name, args in state.tool_calls()]
            result.tool_calls.extend(calls)
            answers.append((text, refusal, calls, state.finish))
        # Message JSON only if content is captured; the text only to estimate missing usage.
        result.output_messages = lambda: [_output_message(*answer) for answer in answers]
        result.output_text = lambda: "".join(a[0] + a[1] for a in answers)
        return result


class _ChoiceState:
    __slots__ = ("finish", "raw", "refusal", "text", "tools")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.finish: str | None = None
        self.raw: Any = None
        self.tools: dict[int, list[Any]] = {}  # index -> [id, name, [argument fragments]]

    def add_tool_deltas(self, deltas: list[Any]) -> None:
        for delta in deltas:
            position = index(get(delta, "index"))
            entry = self.tools.get(position)
            if entry is None:
                entry = self.tools[position] = [None, "", []]
            call_id = get(delta, "id")
            if call_id and type(call_id) is str:
                entry[0] = call_id
            fn = get(delta, "function")
            name, arguments = get(fn, "name"), get(fn, "arguments")
            if name and type(name) is str:
                entry[1] += name
            if arguments and type(arguments) is str:
                entry[2].append(arguments)

    def tool_calls(self) -> list[tuple[str | None, str, str]]:
        return [(e[0], e[1], "".join(e[2])) for _, e in sorted(self.tools.items())]


MAPPING = CallMapping(build_request, parse_response, ChatStreamAccumulator,
                      is_stream=is_stream_result)
# parse() never streams; it is wrapped only where it does not call create() itself.
PARSE_MAPPING = CallMapping(build_request, parse_response, None)
