"""A fake OpenAI API on 127.0.0.1 that speaks the real wire format (JSON and SSE).

Point the real ``openai`` SDK at :attr:`FakeOpenAIServer.base_url` and it parses every
reply as it would parse OpenAI's: chat completions (JSON, and SSE ``chat.completion.chunk``
events ending with ``data: [DONE]``), the Responses API (JSON and the typed ``response.*``
event stream that ``client.responses.stream()`` accumulates) and embeddings (floats or
base64). Errors carry OpenAI's error body and rate-limit headers.

Scripting: queue reply specs with :meth:`FakeOpenAIServer.enqueue`; each is used by one
request, first in first out, and renders as JSON or SSE according to that request's
``stream`` flag::

    server.enqueue(rate_limited(retry_after_ms=1), chat_reply(content="Paris", usage=(12, 1)))

With nothing queued, each endpoint answers with a short deterministic reply.

Token counts are deterministic so tests can assert exact numbers. Unless a reply gives
``usage`` explicitly:

- input tokens = number of whitespace-separated words in the request's text: message
  contents (strings or the ``text`` of content parts), Responses ``input`` (string, item
  contents, tool ``output`` strings) and ``instructions``; for embeddings, words of each
  string input or the length of each token-id list;
- output tokens = words in the answer text + refusal + each tool call's name and arguments;
- cached and reasoning tokens = 0.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import itertools
import json
import math
import random
import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from tripwire.testing._http import (
    AnyReply,
    RecordedRequest,
    Reply,
    ReplyFactory,
    SnapshotModelServer,
    StreamReply,
    json_reply,
    sse_event,
)

if TYPE_CHECKING:
    import openai

__all__ = [
    "ChatReply",
    "EmbeddingsReply",
    "FakeOpenAIServer",
    "ResponsesReply",
    "ScriptedReply",
    "ToolCall",
    "Usage",
    "bad_request",
    "chat_reply",
    "context_length_exceeded",
    "count_words",
    "embeddings_reply",
    "error_reply",
    "rate_limited",
    "responses_reply",
    "server_error",
    "unauthorized",
]

#: ``(call_id, function name, arguments as a JSON string)`` — arguments are sent verbatim,
#: so invalid JSON can be scripted on purpose.
ToolCall = tuple[str, str, str]

ChatFinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
ResponseStatus = Literal["completed", "incomplete", "failed"]

# A fixed clock: replies are byte-for-byte reproducible across runs.
FIXED_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z

_EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_ids = itertools.count(1)  # used when a reply spec is rendered without a server


class _Unset(enum.Enum):
    UNSET = "UNSET"


UNSET = _Unset.UNSET


@dataclass(frozen=True)
class Usage:
    """Token usage of a scripted reply. ``input_tokens`` includes ``cached_tokens``;
    ``output_tokens`` includes ``reasoning_tokens`` (as OpenAI reports them)."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def of(cls, value: UsageLike) -> Usage:
        if isinstance(value, Usage):
            return value
        return cls(*value)


#: ``Usage`` or ``(input, output)`` / ``(input, output, cached)`` /
#: ``(input, output, cached, reasoning)``.
UsageLike = Usage | tuple[int, int] | tuple[int, int, int] | tuple[int, int, int, int]


def count_words(text: str | None) -> int:
    """The fake server's tokenizer: whitespace-separated words."""
    return len(text.split()) if text else 0


# --- request text extraction (deterministic usage) ----------------------------------------


def _content_text(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


def _request_texts(body: Mapping[str, Any]) -> list[str]:
    texts: list[str] = []
    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            texts.extend(_content_text(message.get("content")))
    if isinstance(body.get("instructions"), str):
        texts.append(body["instructions"])
    items = body.get("input")
    if isinstance(items, str):
        texts.append(items)
    elif isinstance(items, list):
        for item in items:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, Mapping):
                texts.extend(_content_text(item.get("content")))
                if isinstance(item.get("output"), str):  # function_call_output
                    texts.append(item["output"])
    return texts


def _input_words(body: Mapping[str, Any]) -> int:
    return sum(count_words(text) for text in _request_texts(body))


def _pieces(text: str) -> list[str]:
    """Stream pieces: one per word, keeping the leading whitespace (as tokens do)."""
    return re.findall(r"\s*\S+|\s+$", text) or ([text] if text else [])


def _fragments(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def served_tier(body: Mapping[str, Any] | None) -> str:
    """The ``service_tier`` an answer reports, as the API does: the tier requested, and
    ``default`` for ``auto`` or none."""
    tier = body.get("service_tier") if isinstance(body, Mapping) else None
    return tier if tier in ("default", "flex", "priority", "scale") else "default"


def _common_headers(n: int) -> dict[str, str]:
    return {"x-request-id": f"req_fake{n:06d}", "openai-processing-ms": "1",
            "openai-version": "2020-10-01"}


# --- reply specs -------------------------------------------------------------------------


@dataclass
class ScriptedReply:
    """Base of the reply specs: rendered against the request (JSON or SSE), so one spec
    serves ``stream=True`` and ``stream=False`` calls alike.

    ``abort_after``: for streamed requests, drop the connection after that many SSE events
    (no ``[DONE]``). ``error_after``: for streamed requests, send an SSE error payload after
    that many events and end the stream. ``delay``: seconds before the JSON reply;
    ``chunk_delay``: seconds before each SSE event. ``headers``: extra response headers.
    """

    model: str | None = None
    id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    abort_after: int | None = None
    error_after: int | None = None
    error_message: str = "The server had an error while processing your request."
    delay: float = 0.0
    chunk_delay: float = 0.0

    endpoint: ClassVar[str] = ""
    streams: ClassVar[bool] = True

    def __call__(self, request: RecordedRequest) -> AnyReply:
        return self.render(request, None)

    def render(self, request: RecordedRequest, server: FakeOpenAIServer | None) -> AnyReply:
        body = request.json
        if not isinstance(body, Mapping):
            return bad_request("We could not parse the JSON body of your request.")
        if not request.path.endswith(self.endpoint):
            return bad_request(
                f"fake server: a {type(self).__name__} was queued but the request went to "
                f"{request.path}", should_retry=False)
        n = server._next_id() if server is not None else next(_ids)
        model = str(self.model or body.get("model") or "")
        resolved = server.resolve_model(model) if server is not None else \
            FakeOpenAIServer.MODEL_SNAPSHOTS.get(model, model)
        headers = {**_common_headers(n), **self.headers}
        if self.streams and body.get("stream"):
            events = list(self._events(body, resolved, n))
            if self.error_after is not None:
                events = [*events[: self.error_after], self._error_event(len(events))]
            return StreamReply(events, headers=headers, abort_after=self.abort_after,
                               chunk_delay=self.chunk_delay)
        return Reply(200, json.dumps(self._json(body, resolved, n)).encode(), headers,
                     "application/json", self.delay)

    # subclasses
    def _json(self, body: Mapping[str, Any], model: str, n: int) -> dict[str, Any]:
        raise NotImplementedError

    def _events(self, body: Mapping[str, Any], model: str, n: int) -> Iterator[bytes]:
        raise NotImplementedError

    def _error_event(self, sequence_number: int) -> bytes:
        # Chat completions: a bare error object in a data line, which the SDK raises as
        # ``openai.APIError``.
        return sse_event({"error": {"message": self.error_message, "type": "server_error",
                                    "param": None, "code": None}})


@dataclass
class _Completion(ScriptedReply):
    """Shared answer fields of chat and responses replies."""

    content: str | _Unset | None = UNSET
    tool_calls: Sequence[ToolCall] = ()
    refusal: str | None = None
    usage: UsageLike | None = None

    def _text(self, default: str) -> str | None:
        if self.content is not UNSET:
            return self.content  # type: ignore[return-value]
        # Only a plain answer gets the default text; tool calls/refusals/filters come bare.
        if self.tool_calls or self.refusal is not None or self._filtered():
            return None
        return default

    def _filtered(self) -> bool:
        return False

    def _usage(self, body: Mapping[str, Any], text: str | None) -> Usage:
        if self.usage is not None:
            return Usage.of(self.usage)
        output = count_words(text) + count_words(self.refusal) + sum(
            count_words(name) + count_words(arguments) for _, name, arguments in self.tool_calls)
        return Usage(_input_words(body), output)


@dataclass
class ChatReply(_Completion):
    """A ``chat.completion`` (or its ``chat.completion.chunk`` stream). Build with
    :func:`chat_reply`."""

    finish_reason: ChatFinishReason | None = None
    system_fingerprint: str = "fp_fake"

    endpoint: ClassVar[str] = "/chat/completions"
    default_text: ClassVar[str] = "Hello from the fake OpenAI server."

    def _filtered(self) -> bool:
        return self.finish_reason == "content_filter"

    def _finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")

    @staticmethod
    def _usage_json(usage: Usage) -> dict[str, Any]:
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": usage.reasoning_tokens, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }

    def _base(self, model: str, n: int, obj: str,
              body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"id": self.id or f"chatcmpl-fake{n:06d}", "object": obj,
                "created": FIXED_CREATED, "model": model, "service_tier": served_tier(body),
                "system_fingerprint": self.system_fingerprint}

    def _json(self, body: Mapping[str, Any], model: str, n: int) -> dict[str, Any]:
        text = self._text(self.default_text)
        message: dict[str, Any] = {"role": "assistant", "content": text,
                                   "refusal": self.refusal, "annotations": []}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function",
                 "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments in self.tool_calls]
        return {**self._base(model, n, "chat.completion", body),
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": self._finish()}],
                "usage": self._usage_json(self._usage(body, text))}

    def _events(self, body: Mapping[str, Any], model: str, n: int) -> Iterator[bytes]:
        text = self._text(self.default_text)
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
        base = self._base(model, n, "chat.completion.chunk", body)
        if include_usage:
            base["usage"] = None  # every chunk but the last carries "usage": null

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            return sse_event({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                   "finish_reason": finish_reason}]})

        yield chunk({"role": "assistant", "content": "" if text is not None else None,
                     "refusal": "" if self.refusal is not None else None})
        for piece in _pieces(text or ""):
            yield chunk({"content": piece})
        for piece in _pieces(self.refusal or ""):
            yield chunk({"refusal": piece})
        for index, (call_id, name, arguments) in enumerate(self.tool_calls):
            # First the call's identity with empty arguments, then argument fragments.
            yield chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                         "function": {"name": name, "arguments": ""}}]})
            for fragment in _fragments(arguments):
                yield chunk({"tool_calls": [{"index": index,
                                             "function": {"arguments": fragment}}]})
        yield chunk({}, self._finish())
        if include_usage:
            yield sse_event({**base, "choices": [],
                             "usage": self._usage_json(self._usage(body, text))})
        yield b"data: [DONE]\n\n"


@dataclass
class ResponsesReply(_Completion):
    """A Responses API ``response`` (or its ``response.*`` event stream). Build with
    :func:`responses_reply`."""

    status: ResponseStatus = "completed"
    incomplete_reason: str | None = None

    endpoint: ClassVar[str] = "/responses"
    default_text: ClassVar[str] = "Hello from the fake OpenAI server."

    def _filtered(self) -> bool:
        return self.incomplete_reason == "content_filter"

    @staticmethod
    def _usage_json(usage: Usage) -> dict[str, Any]:
        return {"input_tokens": usage.input_tokens,
                "input_tokens_details": {"cached_tokens": usage.cached_tokens},
                "output_tokens": usage.output_tokens,
                "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
                "total_tokens": usage.total_tokens}

    def _response(self, body: Mapping[str, Any], model: str, n: int, *, status: str,
                  output: list[dict[str, Any]], usage: Usage | None) -> dict[str, Any]:
        incomplete = None
        if status == "incomplete":
            incomplete = {"reason": self.incomplete_reason or "max_output_tokens"}
        error = None
        if status == "failed":
            error = {"code": "server_error", "message": self.error_message}
        return {
            "id": self.id or f"resp_fake{n:06d}", "object": "response",
            "created_at": FIXED_CREATED, "status": status,
            "completed_at": FIXED_CREATED + 1 if status == "completed" else None,
            "background": False, "error": error, "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None, "model": model, "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None}, "service_tier": served_tier(body),
            "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "top_logprobs": 0, "top_p": body.get("top_p", 1.0), "truncation": "disabled",
            "usage": self._usage_json(usage) if usage is not None else None,
            "user": None, "metadata": body.get("metadata") or {},
        }

    def _items(self, n: int, text: str | None) -> list[dict[str, Any]]:
        """Final output items: a message (text and/or refusal parts), then function calls."""
        item_status = "incomplete" if self.status == "incomplete" else "completed"
        items: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        if text is not None:
            parts.append({"type": "output_text", "text": text, "annotations": [],
                          "logprobs": []})
        if self.refusal is not None:
            parts.append({"type": "refusal", "refusal": self.refusal})
        if parts:
            items.append({"id": f"msg_fake{n:06d}", "type": "message", "status": item_status,
                          "role": "assistant", "content": parts})
        for index, (call_id, name, arguments) in enumerate(self.tool_calls):
            items.append({"id": f"fc_fake{n:06d}_{index}", "type": "function_call",
                          "status": "completed", "call_id": call_id, "name": name,
                          "arguments": arguments})
        return items

    def _json(self, body: Mapping[str, Any], model: str, n: int) -> dict[str, Any]:
        text = self._text(self.default_text)
        return self._response(body, model, n, status=self.status,
                              output=self._items(n, text), usage=self._usage(body, text))

    def _events(self, body: Mapping[str, Any], model: str, n: int) -> Iterator[bytes]:
        text = self._text(self.default_text)
        items = self._items(n, text)
        seq = itertools.count()

        def event(kind: str, **payload: Any) -> bytes:
            # Real servers name the event twice: the SSE ``event:`` line and ``type``.
            return sse_event({"type": kind, "sequence_number": next(seq), **payload}, kind)

        pending = self._response(body, model, n, status="in_progress", output=[], usage=None)
        yield event("response.created", response=pending)
        yield event("response.in_progress", response=pending)
        for out_index, item in enumerate(items):
            if item["type"] == "message":
                yield event("response.output_item.added", output_index=out_index,
                            item={**item, "status": "in_progress", "content": []})
                for c_index, part in enumerate(item["content"]):
                    ids = {"item_id": item["id"], "output_index": out_index,
                           "content_index": c_index}
                    if part["type"] == "output_text":
                        yield event("response.content_part.added", **ids,
                                    part={**part, "text": ""})
                        for piece in _pieces(part["text"]):
                            yield event("response.output_text.delta", **ids, delta=piece,
                                        logprobs=[])
                        yield event("response.output_text.done", **ids, text=part["text"],
                                    logprobs=[])
                    else:
                        yield event("response.content_part.added", **ids,
                                    part={**part, "refusal": ""})
                        for piece in _pieces(part["refusal"]):
                            yield event("response.refusal.delta", **ids, delta=piece)
                        yield event("response.refusal.done", **ids, refusal=part["refusal"])
                    yield event("response.content_part.done", **ids, part=part)
            else:
                ids = {"item_id": item["id"], "output_index": out_index}
                yield event("response.output_item.added", output_index=out_index,
                            item={**item, "status": "in_progress", "arguments": ""})
                for fragment in _fragments(item["arguments"]):
                    yield event("response.function_call_arguments.delta", **ids,
                                delta=fragment)
                yield event("response.function_call_arguments.done", **ids,
                            name=item["name"], arguments=item["arguments"])
            yield event("response.output_item.done", output_index=out_index, item=item)
        final = self._response(body, model, n, status=self.status, output=items,
                               usage=self._usage(body, text))
        yield event(f"response.{self.status}", response=final)

    def _error_event(self, sequence_number: int) -> bytes:
        # The Responses API reports mid-stream failures as a typed ``error`` event.
        return sse_event({"type": "error", "code": "server_error", "message": self.error_message,
                          "param": None, "sequence_number": sequence_number}, "error")


@dataclass
class EmbeddingsReply(ScriptedReply):
    """A ``list`` of ``embedding`` objects. Build with :func:`embeddings_reply`."""

    vectors: Sequence[Sequence[float]] | None = None
    usage: int | None = None  # prompt tokens (= total tokens)

    endpoint: ClassVar[str] = "/embeddings"
    streams: ClassVar[bool] = False  # the endpoint has no stream mode

    @staticmethod
    def _inputs(body: Mapping[str, Any]) -> list[Any]:
        raw = body.get("input")
        if isinstance(raw, str):
            return [raw]
        if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            return [raw]  # a single token-id list
        return list(raw) if isinstance(raw, list) else []

    @staticmethod
    def _vector(value: Any, dimensions: int) -> list[float]:
        # Deterministic per input: seeded by the input's hash; unit length like OpenAI's.
        seed = hashlib.sha256(json.dumps(value).encode()).digest()
        rng = random.Random(seed)
        vector = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        # Round-trip through float32 so floats and base64 carry the same numbers.
        return [struct.unpack("<f", struct.pack("<f", x / norm))[0] for x in vector]

    def _json(self, body: Mapping[str, Any], model: str, n: int) -> dict[str, Any]:
        inputs = self._inputs(body)
        dimensions = body.get("dimensions") or _EMBEDDING_DIMENSIONS.get(model, 1536)
        if self.vectors is not None:
            vectors = [list(v) for v in self.vectors]
        else:
            vectors = [self._vector(value, int(dimensions)) for value in inputs]
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, vector in enumerate(vectors):
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = self.usage
        if tokens is None:
            tokens = sum(len(v) if isinstance(v, list) else count_words(str(v)) for v in inputs)
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}



# --- builders ----------------------------------------------------------------------------


def chat_reply(
    content: str | _Unset | None = UNSET,
    *,
    tool_calls: Sequence[ToolCall] = (),
    refusal: str | None = None,
    finish_reason: ChatFinishReason | None = None,
    usage: UsageLike | None = None,
    model: str | None = None,
    id: str | None = None,
    headers: Mapping[str, str] | None = None,
    abort_after: int | None = None,
    error_after: int | None = None,
    error_message: str = "The server had an error while processing your request.",
    delay: float = 0.0,
    chunk_delay: float = 0.0,
) -> ChatReply:
    """The next chat completion. ``content`` defaults to the server's default text unless the
    reply has tool calls, a refusal or ``finish_reason="content_filter"`` (then ``null``);
    ``finish_reason`` defaults to ``tool_calls`` with tool calls, else ``stop``; ``usage``
    defaults to word counts; ``model`` overrides the (snapshot-resolved) response model."""
    return ChatReply(model=model, id=id, headers=dict(headers or {}), abort_after=abort_after,
                     error_after=error_after, error_message=error_message, delay=delay,
                     chunk_delay=chunk_delay, content=content, tool_calls=tuple(tool_calls),
                     refusal=refusal, usage=usage, finish_reason=finish_reason)


def responses_reply(
    text: str | _Unset | None = UNSET,
    *,
    tool_calls: Sequence[ToolCall] = (),
    refusal: str | None = None,
    status: ResponseStatus = "completed",
    incomplete_reason: str | None = None,
    usage: UsageLike | None = None,
    model: str | None = None,
    id: str | None = None,
    headers: Mapping[str, str] | None = None,
    abort_after: int | None = None,
    error_after: int | None = None,
    error_message: str = "The server had an error while processing your request.",
    delay: float = 0.0,
    chunk_delay: float = 0.0,
) -> ResponsesReply:
    """The next Responses API answer: a ``message`` item (``output_text`` and/or ``refusal``
    parts) followed by one ``function_call`` item per tool call. ``status="incomplete"``
    sets ``incomplete_details.reason`` (default ``max_output_tokens``) and streams end with
    ``response.incomplete``; ``status="failed"`` ends with ``response.failed``."""
    return ResponsesReply(model=model, id=id, headers=dict(headers or {}),
                          abort_after=abort_after, error_after=error_after,
                          error_message=error_message, delay=delay, chunk_delay=chunk_delay,
                          content=text, tool_calls=tuple(tool_calls), refusal=refusal,
                          usage=usage, status=status, incomplete_reason=incomplete_reason)


def embeddings_reply(
    vectors: Sequence[Sequence[float]] | None = None,
    *,
    usage: int | None = None,
    model: str | None = None,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> EmbeddingsReply:
    """The next embeddings answer: explicit ``vectors`` (default: deterministic unit vectors
    per input, ``dimensions`` honored) and ``usage`` prompt tokens (default: word counts)."""
    return EmbeddingsReply(model=model, headers=dict(headers or {}), delay=delay,
                           vectors=vectors, usage=usage)


# --- errors ------------------------------------------------------------------------------


def error_reply(
    status: int,
    message: str,
    *,
    type: str,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
    retry_after_ms: int | None = None,
    should_retry: bool | None = None,
) -> Reply:
    """An OpenAI error reply: ``{"error": {"message", "type", "param", "code"}}``.

    ``retry_after`` / ``retry_after_ms`` set the headers the SDK honors for its back-off;
    ``should_retry`` sets ``x-should-retry``, which overrides the SDK's status-code rule.
    """
    extra = dict(headers or {})
    if retry_after is not None:
        extra["retry-after"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        extra["retry-after-ms"] = str(retry_after_ms)
    if should_retry is not None:
        extra["x-should-retry"] = "true" if should_retry else "false"
    return json_reply({"error": {"message": message, "type": type, "param": param,
                                 "code": code}}, status, extra)


def rate_limited(
    *,
    retry_after: float | None = None,
    retry_after_ms: int | None = None,
    message: str | None = None,
    code: str = "rate_limit_exceeded",
    limit_requests: int = 500,
    remaining_requests: int = 0,
    limit_tokens: int = 200_000,
    remaining_tokens: int = 0,
    reset_requests: str = "1s",
    reset_tokens: str = "1s",
) -> Reply:
    """429 with OpenAI's ``x-ratelimit-*`` headers. The SDK retries it (after
    ``retry-after-ms`` / ``retry-after`` when given, else exponential back-off from 0.5 s);
    pass ``retry_after_ms=1`` to keep tests fast. ``code="insufficient_quota"`` gives the
    quota variant."""
    headers = {
        "x-ratelimit-limit-requests": str(limit_requests),
        "x-ratelimit-remaining-requests": str(remaining_requests),
        "x-ratelimit-limit-tokens": str(limit_tokens),
        "x-ratelimit-remaining-tokens": str(remaining_tokens),
        "x-ratelimit-reset-requests": reset_requests,
        "x-ratelimit-reset-tokens": reset_tokens,
    }
    kind = "insufficient_quota" if code == "insufficient_quota" else "requests"
    text = message or ("You exceeded your current quota, please check your plan and billing "
                       "details." if kind == "insufficient_quota" else
                       f"Rate limit reached on requests per min (RPM): Limit {limit_requests}, "
                       f"Used {limit_requests}, Requested 1. Please try again later.")
    return error_reply(429, text, type=kind, code=code, headers=headers,
                       retry_after=retry_after, retry_after_ms=retry_after_ms)


def server_error(
    status: int = 500,
    *,
    message: str = "The server had an error while processing your request. Sorry about that!",
    retry_after_ms: int | None = None,
) -> Reply:
    """5xx ``server_error`` (retried by the SDK; pass ``retry_after_ms=1`` for speed)."""
    return error_reply(status, message, type="server_error", retry_after_ms=retry_after_ms)


def bad_request(
    message: str = "Invalid request.",
    *,
    param: str | None = None,
    code: str | None = None,
    should_retry: bool | None = None,
) -> Reply:
    """400 ``invalid_request_error`` (``openai.BadRequestError``; never retried)."""
    return error_reply(400, message, type="invalid_request_error", param=param, code=code,
                       should_retry=should_retry)


def context_length_exceeded(limit: int = 128_000, requested: int = 130_000) -> Reply:
    """400 ``context_length_exceeded`` as OpenAI words it."""
    return bad_request(
        f"This model's maximum context length is {limit} tokens. However, your messages "
        f"resulted in {requested} tokens. Please reduce the length of the messages.",
        param="messages", code="context_length_exceeded")


def unauthorized(message: str = "Incorrect API key provided: test-key.") -> Reply:
    """401 ``invalid_api_key`` (``openai.AuthenticationError``)."""
    return error_reply(401, message, type="invalid_request_error", code="invalid_api_key")


# --- server ------------------------------------------------------------------------------


class FakeOpenAIServer(SnapshotModelServer):
    """The OpenAI API (``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``) on
    127.0.0.1. Paths are matched by suffix, so Azure-style deployment URLs work too.

    ``MODEL_SNAPSHOTS`` maps floating aliases to the dated snapshot the response reports;
    change one server with ``server.model_snapshots[alias] = snapshot`` (instance-level
    overrides on top of the class table) or every server by patching the class table.
    """

    MODEL_SNAPSHOTS: ClassVar[dict[str, str]] = {
        "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
        "gpt-4o": "gpt-4o-2024-08-06",
        "gpt-4.1": "gpt-4.1-2025-04-14",
        "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
        "gpt-4-turbo": "gpt-4-turbo-2024-04-09",
        "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
        "o1": "o1-2024-12-17",
        "o3-mini": "o3-mini-2025-01-31",
        "o3": "o3-2025-04-16",
        "o4-mini": "o4-mini-2025-04-16",
        "gpt-5": "gpt-5-2025-08-07",
        "gpt-5-mini": "gpt-5-mini-2025-08-07",
    }

    def __init__(self) -> None:
        super().__init__()
        self._counter = itertools.count(1)

    # --- addresses and clients ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: pass as ``base_url`` to ``openai.OpenAI``."""
        return f"{self.url}/v1"

    def client(self, *, max_retries: int = 0, api_key: str = "test-key",
               **kwargs: Any) -> openai.OpenAI:
        """A sync ``openai.OpenAI`` for this server (``max_retries=0`` unless given)."""
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=max_retries,
                             **kwargs)

    def async_client(self, *, max_retries: int = 0, api_key: str = "test-key",
                     **kwargs: Any) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` for this server (``max_retries=0`` unless given)."""
        import openai

        return openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key,
                                  max_retries=max_retries, **kwargs)

    # --- replies -----------------------------------------------------------------------
    def _next_id(self) -> int:
        with self._lock:
            return next(self._counter)

    def render_queued(self, queued: AnyReply | ReplyFactory, request: RecordedRequest) -> AnyReply:
        if isinstance(queued, ScriptedReply):
            return queued.render(request, self)
        reply = super().render_queued(queued, request)
        # Static replies (errors) are shared objects: copy before adding the request id.
        headers = {**_common_headers(self._next_id()), **reply.headers}
        return dataclasses.replace(reply, headers=headers)

    def default_reply(self, request: RecordedRequest) -> AnyReply:
        spec: ScriptedReply
        if request.path.endswith(ChatReply.endpoint):
            spec = ChatReply()
        elif request.path.endswith(ResponsesReply.endpoint):
            spec = ResponsesReply()
        elif request.path.endswith(EmbeddingsReply.endpoint):
            spec = EmbeddingsReply()
        else:
            return error_reply(404, f"Invalid URL ({request.method} {request.path})",
                               type="invalid_request_error")
        body = request.json
        if isinstance(body, Mapping) and not body.get("model"):
            return bad_request("you must provide a model parameter", param="model")
        return spec.render(request, self)
