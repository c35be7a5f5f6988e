"""``Converse`` and ``ConverseStream`` onto the core.

Requests, responses and stream events are the plain dicts boto3 takes and returns
(``toolUse``, ``toolResult``, ``reasoningContent`` … content blocks; one-key event dicts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import put_number, string_list
from tripwire._core.invocation import Request, Result
from tripwire._core.stream import StreamAccumulator
from tripwire._core.tools import RequestedToolCall
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.bedrock.common import (
    PROVIDER,
    ResponseStreamAccumulator,
    call_args,
    converse_usage,
    error_code,
    guardrail_attributes,
    mark_refusal,
    request_id,
    request_result,
    schema_finish,
    start_attributes,
    wrap_member,
)

STREAM_OPERATION = "ConverseStream"
# stopReason -> the finish reason of the GenAI output-message schema (message JSON only;
# gen_ai.response.finish_reasons keeps Bedrock's own values).
# Non-text blocks recorded by kind only: their bytes or sources are not captured.
_MEDIA_BLOCKS = ("image", "document", "video", "audio", "citationsContent", "searchResult")


def build_request(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    operation, params = call_args(args, kwargs)
    attrs = start_attributes(client)
    config = params.get("inferenceConfig")
    if isinstance(config, Mapping):
        put_number(attrs, semconv.GEN_AI_REQUEST_MAX_TOKENS, config.get("maxTokens"))
        put_number(attrs, semconv.GEN_AI_REQUEST_TEMPERATURE, config.get("temperature"))
        put_number(attrs, semconv.GEN_AI_REQUEST_TOP_P, config.get("topP"))
        stops = string_list(config.get("stopSequences"))
        if stops:
            attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
    extra = params.get("additionalModelRequestFields")
    if isinstance(extra, Mapping):  # model-specific fields; top_k is the common one
        put_number(attrs, semconv.GEN_AI_REQUEST_TOP_K, extra.get("top_k", extra.get("topK")))
    guardrail_attributes(attrs, params)
    model = params.get("modelId")
    messages = params.get("messages")
    messages = messages if isinstance(messages, list) else []
    system = params.get("system")
    system = system if isinstance(system, list) else []
    system_texts = [b["text"] for b in system
                    if isinstance(b, Mapping) and isinstance(b.get("text"), str)]
    tool_config = params.get("toolConfig")
    tools = tool_config.get("tools") if isinstance(tool_config, Mapping) else None
    tools = tools if isinstance(tools, list) and tools else None
    return Request(
        operation=semconv.OP_CHAT,
        provider=PROVIDER,
        model=model if isinstance(model, str) and model else None,
        attributes=attrs,
        stream=operation == STREAM_OPERATION,
        declared_tools=declared_tools(tools),
        system_texts=system_texts,
        input_messages=lambda: input_messages(messages),
        system_instructions=content.system_instructions(system_texts),
        tool_definitions=(lambda: tool_definitions(tools)) if tools else None,
        prompt_text=lambda: "\n".join([*system_texts, *(_plain_text(m) for m in messages)]),
        error_type=error_code,
    )


def _tool_specs(tools: list[Any] | None) -> list[Mapping[str, Any]]:
    specs = []
    for tool in tools or ():
        spec = tool.get("toolSpec") if isinstance(tool, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            specs.append(spec)
    return specs


def _schema(spec: Mapping[str, Any]) -> Any:
    schema = spec.get("inputSchema")
    return schema.get("json") if isinstance(schema, Mapping) else None


def declared_tools(tools: list[Any] | None) -> dict[str, Any] | None:
    # Only cache points or system tools declared: nothing to check the calls against.
    return {spec["name"]: _schema(spec) for spec in _tool_specs(tools)} or None


def tool_definitions(tools: list[Any] | None) -> list[dict[str, Any]]:
    out = []
    for spec in _tool_specs(tools):
        definition: dict[str, Any] = {"type": "function", "name": spec["name"]}
        if spec.get("description"):
            definition["description"] = spec["description"]
        schema = _schema(spec)
        if schema is not None:
            definition["parameters"] = schema
        out.append(definition)
    return out


def _plain_text(message: Any) -> str:
    blocks = message.get("content") if isinstance(message, Mapping) else None
    return "".join(b["text"] for b in blocks or ()
                   if isinstance(b, Mapping) and isinstance(b.get("text"), str))


def _tool_result(items: Any) -> Any:
    """A ``toolResult``'s content: its text when it is all text, else the items by kind."""
    if not isinstance(items, list):
        return items
    if all(isinstance(i, Mapping) and "text" in i for i in items):
        return "".join(str(i["text"]) for i in items)
    out: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and "text" in item:
            out.append(item["text"])
        elif isinstance(item, Mapping) and "json" in item:
            out.append(item["json"])
        elif isinstance(item, Mapping):
            out.append({"type": next(iter(item), "unknown")})
    return out


def content_parts(blocks: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, Mapping):
            continue
        if "text" in block:
            parts.append(content.text_part(block["text"]))
        elif "toolUse" in block:
            tool = block["toolUse"] or {}
            parts.append(content.tool_call_part(tool.get("toolUseId"), tool.get("name"),
                                                tool.get("input")))
        elif "toolResult" in block:
            tool = block["toolResult"] or {}
            parts.append(content.tool_response_part(tool.get("toolUseId"),
                                                    _tool_result(tool.get("content"))))
        elif "reasoningContent" in block:
            reasoning = (block["reasoningContent"] or {}).get("reasoningText") or {}
            parts.append({"type": "reasoning", "content": reasoning.get("text")})
        elif "guardContent" in block:
            text = ((block["guardContent"] or {}).get("text") or {}).get("text")
            parts.append(content.text_part(text))
        elif "cachePoint" not in block:
            kind = next((k for k in _MEDIA_BLOCKS if k in block), None)
            parts.append({"type": kind or next(iter(block), "unknown")})
    return parts


def input_messages(messages: list[Any]) -> list[dict[str, Any]]:
    return [content.message(m.get("role") or "user", content_parts(m.get("content")))
            for m in messages if isinstance(m, Mapping)]


def parse_response(response: Any, request: Request) -> Result:
    output = response.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    blocks = message.get("content") if isinstance(message, Mapping) else None
    return _result(request_result(request_id(response)),
                   blocks if isinstance(blocks, list) else [], response.get("stopReason"),
                   response.get("usage"), response.get("trace"))


def _result(result: Result, blocks: list[Any], stop: Any, usage: Any, trace: Any) -> Result:
    """Fill ``result`` with a Converse answer: its content blocks (Converse's shape), stop
    reason, usage and guardrail trace, from a response or folded from a stream."""
    stop = stop if isinstance(stop, str) and stop else None
    if stop:
        result.finish_reasons.append(stop)
    converse_usage(result, usage)
    for block in blocks:
        tool = block.get("toolUse") if isinstance(block, Mapping) else None
        if isinstance(tool, Mapping):
            result.tool_calls.append(RequestedToolCall(tool.get("toolUseId"),
                                                       tool.get("name") or "", tool.get("input")))
    mark_refusal(result, stop, trace)
    finish = schema_finish(stop)  # (None stays None)
    result.output_messages = lambda: [content.message("assistant", content_parts(blocks),
                                                      finish)]
    result.output_text = lambda: "".join(b["text"] for b in blocks
                                         if isinstance(b, Mapping) and isinstance(b.get("text"), str))
    return result


# Nova's InvokeModel body has the Converse answer's shape (read by the families module).
fill_result = _result


class _Block:
    __slots__ = ("fragments", "name", "reasoning", "text", "tool_id")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.fragments: list[str] = []  # tool input JSON pieces
        self.tool_id: str | None = None
        self.name: str | None = None


class ConverseStreamAccumulator(ResponseStreamAccumulator):
    """Folds ConverseStream events: text and tool-input deltas per content block,
    ``messageStop`` (stop reason), ``metadata`` (usage, guardrail trace)."""

    __slots__ = ("_blocks", "_stop", "_trace", "_usage")

    def __init__(self, request: Request) -> None:
        super().__init__()
        self._blocks: dict[int, _Block] = {}
        self._stop: str | None = None
        self._usage: Any = None
        self._trace: Any = None

    def _block(self, index: Any) -> _Block:
        key = index if isinstance(index, int) else 0
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = _Block()
        return block

    def add(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        delta = event.get("contentBlockDelta")
        if delta is not None:  # by far the most frequent event: checked first
            body = delta.get("delta") or {}
            text = body.get("text")
            if text is not None:
                self._block(delta.get("contentBlockIndex")).text.append(text)
            elif "toolUse" in body:
                piece = (body["toolUse"] or {}).get("input")
                if piece:
                    self._block(delta.get("contentBlockIndex")).fragments.append(piece)
            elif "reasoningContent" in body:
                piece = (body["reasoningContent"] or {}).get("text")
                if piece:
                    self._block(delta.get("contentBlockIndex")).reasoning.append(piece)
            return
        start = event.get("contentBlockStart")
        if start is not None:
            tool = (start.get("start") or {}).get("toolUse")
            if isinstance(tool, Mapping):
                block = self._block(start.get("contentBlockIndex"))
                block.tool_id = tool.get("toolUseId")
                block.name = tool.get("name")
            return
        stop = event.get("messageStop")
        if stop is not None:
            self._stop = stop.get("stopReason")
            return
        metadata = event.get("metadata")
        if metadata is not None:
            self._usage = metadata.get("usage")
            self._trace = metadata.get("trace")

    def result(self) -> Result:
        # The stream's blocks in a response's shape (a tool's input as its streamed JSON).
        blocks: list[dict[str, Any]] = []
        for _, block in sorted(self._blocks.items()):
            if block.reasoning:
                blocks.append({"reasoningContent": {"reasoningText": {
                    "text": "".join(block.reasoning)}}})
            if block.text:
                blocks.append({"text": "".join(block.text)})
            if block.name is not None:
                blocks.append({"toolUse": {"toolUseId": block.tool_id, "name": block.name,
                                           "input": "".join(block.fragments) or "{}"}})
        return _result(self.new_result(), blocks, self._stop, self._usage, self._trace)


def wrap_stream(response: Any, accumulator: StreamAccumulator,
                make_proxy: Callable[[Any], Any]) -> Any:
    """``{"stream": EventStream, "ResponseMetadata": …}``: proxy the ``stream`` member."""
    return wrap_member(response, "stream", accumulator, make_proxy)


MAPPING = CallMapping(build_request, parse_response, ConverseStreamAccumulator,
                      wrap_stream=wrap_stream)
