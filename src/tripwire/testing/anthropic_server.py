"""A fake Anthropic Messages API (``POST /v1/messages``) speaking the real wire format.

JSON ``message`` objects for ordinary calls; with ``"stream": true`` in the request, the real
SSE event sequence (``message_start``, ``ping``, ``content_block_start``,
``content_block_delta`` (``text_delta`` / ``input_json_delta`` / ``thinking_delta`` /
``signature_delta``), ``content_block_stop``, ``message_delta``, ``message_stop``, and
``error`` when scripted), so that ``messages.create(stream=True)`` and the
``messages.stream(...)`` helper both work.

Usage::

    with FakeAnthropicServer() as server:
        client = anthropic.Anthropic(api_key="test", base_url=server.url, max_retries=0)
        server.enqueue(anthropic_message([anthropic_tool_use("get_weather", {"city": "Paris"})]))
        server.enqueue(anthropic_refusal(category="cyber"))
        server.enqueue(anthropic_error(429, retry_after=0.01), anthropic_overloaded())
        server.enqueue(anthropic_message("partial answer", abort_after=3))   # truncated stream

Token counts are fixed by the builder (``usage=AnthropicUsage(...)``, default
:data:`DEFAULT_USAGE`), never derived from text, so tests can assert exact numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tripwire.testing._http import (
    AnyReply,
    RecordedRequest,
    Reply,
    ReplyFactory,
    SnapshotModelServer,
    StreamReply,
    json_reply,
    refresh_header,
    sse_event,
)
from tripwire.testing._wire import WORD_RE, PrefixedIds, split_json

if TYPE_CHECKING:
    import anthropic

__all__ = [
    "DEFAULT_USAGE",
    "AnthropicMessage",
    "AnthropicUsage",
    "FakeAnthropicServer",
    "anthropic_error",
    "anthropic_message",
    "anthropic_overloaded",
    "anthropic_rate_limited",
    "anthropic_refusal",
    "anthropic_text",
    "anthropic_thinking",
    "anthropic_tool_use",
    "resolve_anthropic_model",
]

_next_id = PrefixedIds()


# --- content blocks (wire JSON) ---------------------------------------------------------
def anthropic_text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def anthropic_tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """A ``tool_use`` block (the model asking to call ``name`` with ``input``)."""
    return {"type": "tool_use", "id": id or _next_id("toolu"), "name": name, "input": input}


def anthropic_thinking(thinking: str, signature: str = "fake-signature") -> dict[str, Any]:
    """An extended-thinking block."""
    return {"type": "thinking", "thinking": thinking, "signature": signature}


@dataclass(frozen=True)
class AnthropicUsage:
    """Usage as Anthropic reports it: ``input_tokens`` *excludes* the cached tokens."""

    input_tokens: int = 25
    output_tokens: int = 12
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    # the part of cache_creation_input_tokens written with a one-hour ``ttl``
    cache_creation_1h_input_tokens: int = 0
    service_tier: str = "standard"  # "priority", or "batch" in Message Batches results
    speed: str | None = None  # "fast" for fast mode

    def to_json(self) -> dict[str, Any]:
        one_hour = self.cache_creation_1h_input_tokens
        body: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens - one_hour,
                "ephemeral_1h_input_tokens": one_hour,
            },
            "output_tokens": self.output_tokens,
            "service_tier": self.service_tier,
        }
        if self.speed is not None:
            body["speed"] = self.speed
        return body


DEFAULT_USAGE = AnthropicUsage()
DEFAULT_TEXT = "Hello from the fake Anthropic server."


def resolve_anthropic_model(requested: str | None,
                            server: FakeAnthropicServer | None = None) -> str:
    """The dated snapshot the fake reports for a requested model name: the server's
    ``model_snapshots`` when given, else the class table."""
    if not requested:
        return "claude-sonnet-4-5-20250929"
    if server is not None:
        return server.resolve_model(requested)
    return FakeAnthropicServer.MODEL_SNAPSHOTS.get(requested, requested)


def _split_text(text: str) -> list[str]:
    """Word-sized deltas, as the API streams them (at least one, possibly empty)."""
    return WORD_RE.findall(text) or [""]


class AnthropicMessage:
    """A scripted assistant message; call it with the request to get the reply.

    JSON for ordinary requests, the SSE event sequence when the request body has
    ``"stream": true``. ``model=None`` reports the snapshot of the requested model
    (the server's ``model_snapshots``, :attr:`FakeAnthropicServer.MODEL_SNAPSHOTS`).

    Stream options: ``abort_after`` drops the connection after that many SSE events;
    ``error_after`` sends an ``error`` event (``error_type`` / ``error_message``) after that
    many events and ends the stream; ``ping`` adds the ``ping`` event after
    ``message_start``; ``delta_usage="output_only"`` makes ``message_delta`` carry only
    ``output_tokens`` (as older API versions did) instead of all cumulative counts;
    ``with_usage=False`` sends no usage at all (as some Anthropic-compatible servers do).
    """

    def __init__(
        self,
        content: str | Sequence[dict[str, Any]] = DEFAULT_TEXT,
        *,
        stop_reason: str | None = None,
        stop_sequence: str | None = None,
        stop_details: dict[str, Any] | None = None,
        usage: AnthropicUsage | None = None,
        model: str | None = None,
        message_id: str | None = None,
        abort_after: int | None = None,
        error_after: int | None = None,
        error_type: str = "overloaded_error",
        error_message: str = "Overloaded",
        ping: bool = True,
        delta_usage: str = "full",
        with_usage: bool = True,
        headers: dict[str, str] | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        self.content: list[dict[str, Any]] = (
            [anthropic_text(content)] if isinstance(content, str) else [dict(b) for b in content]
        )
        if stop_reason is None:
            has_tool = any(block.get("type") == "tool_use" for block in self.content)
            stop_reason = "tool_use" if has_tool else "end_turn"
        self.stop_reason = stop_reason
        self.stop_sequence = stop_sequence
        self.stop_details = stop_details
        self.usage = usage or DEFAULT_USAGE
        self.model = model
        self.message_id = message_id
        self.abort_after = abort_after
        self.error_after = error_after
        self.error_type = error_type
        self.error_message = error_message
        self.ping = ping
        if delta_usage not in ("full", "output_only"):
            raise ValueError("delta_usage must be 'full' or 'output_only'")
        self.delta_usage = delta_usage
        self.with_usage = with_usage
        self.headers = dict(headers or {})
        self.chunk_delay = chunk_delay

    # --- wire shapes ------------------------------------------------------------------
    def payload(self, requested_model: str | None, message_id: str | None = None, *,
                server: FakeAnthropicServer | None = None) -> dict[str, Any]:
        """The complete ``message`` JSON object."""
        body: dict[str, Any] = {
            "id": message_id or self.message_id or _next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": self.model or resolve_anthropic_model(requested_model, server),
            "content": [dict(block) for block in self.content],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage.to_json(),
        }
        if self.stop_details is not None:
            body["stop_details"] = self.stop_details
        if not self.with_usage:
            del body["usage"]
        return body

    def stream_events(
        self, requested_model: str | None, message_id: str | None = None, *,
        server: FakeAnthropicServer | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """The ``(event name, data)`` pairs of the SSE stream, in order (no error/abort)."""
        full = self.payload(requested_model, message_id, server=server)
        start = {**full, "content": [], "stop_reason": None, "stop_sequence": None}
        if self.with_usage:
            start["usage"] = {**full["usage"], "output_tokens": min(1, self.usage.output_tokens)}
        start.pop("stop_details", None)
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        if self.ping:
            events.append(("ping", {"type": "ping"}))
        for index, block in enumerate(self.content):
            events.extend(_block_events(index, block))
        delta_usage: dict[str, Any] = {"output_tokens": self.usage.output_tokens}
        if self.delta_usage == "full":
            delta_usage = {
                "input_tokens": self.usage.input_tokens,
                "cache_creation_input_tokens": self.usage.cache_creation_input_tokens,
                "cache_read_input_tokens": self.usage.cache_read_input_tokens,
                "output_tokens": self.usage.output_tokens,
            }
        delta: dict[str, Any] = {
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
        }
        if self.stop_details is not None:
            delta["stop_details"] = self.stop_details
        delta_event: dict[str, Any] = {"type": "message_delta", "delta": delta}
        if self.with_usage:
            delta_event["usage"] = delta_usage
        events.append(("message_delta", delta_event))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def sse_chunks(self, requested_model: str | None, *,
                   server: FakeAnthropicServer | None = None) -> list[bytes]:
        events = [sse_event(data, name)
                  for name, data in self.stream_events(requested_model, server=server)]
        if self.error_after is not None:
            error = {"type": "error",
                     "error": {"type": self.error_type, "message": self.error_message}}
            events = [*events[: self.error_after], sse_event(error, "error")]
        return events

    def __call__(self, request: RecordedRequest) -> AnyReply:
        return self.render(request, None)

    def render(self, request: RecordedRequest, server: FakeAnthropicServer | None) -> AnyReply:
        body = request.json if isinstance(request.json, dict) else {}
        requested = body.get("model")
        headers = {"request-id": _next_id("req"), **self.headers}
        if body.get("stream") is True:
            return StreamReply(self.sse_chunks(requested, server=server), headers=headers,
                               abort_after=self.abort_after, chunk_delay=self.chunk_delay)
        return json_reply(self.payload(requested, server=server), headers=headers)


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    kind = block.get("type")
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        start = {**block, "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in _split_text(block["text"])]
    elif kind == "tool_use":
        start = {**block, "input": {}}
        raw = json.dumps(block.get("input", {}))
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [{"type": "input_json_delta", "partial_json": p} for p in split_json(raw)]
    elif kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in _split_text(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
    else:  # other block kinds arrive whole in content_block_start
        start = dict(block)
    events: list[tuple[str, dict[str, Any]]] = [
        ("content_block_start", {"type": "content_block_start", "index": index,
                                 "content_block": start})
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": delta}) for delta in deltas]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


# --- builders ---------------------------------------------------------------------------
def anthropic_message(
    content: str | Sequence[dict[str, Any]] = DEFAULT_TEXT, **options: Any
) -> AnthropicMessage:
    """A message reply (JSON or SSE by request); see :class:`AnthropicMessage` for options.

    ``stop_reason`` defaults to ``tool_use`` when a ``tool_use`` block is present, else
    ``end_turn``; pass ``max_tokens``, ``stop_sequence`` (with ``stop_sequence=...``),
    ``pause_turn`` or ``model_context_window_exceeded`` to script the others.
    """
    return AnthropicMessage(content, **options)


def anthropic_refusal(
    category: str | None = "general_harms",
    explanation: str | None = None,
    text: str = "",
    *,
    with_details: bool = True,
    **options: Any,
) -> AnthropicMessage:
    """``stop_reason="refusal"``, with ``stop_details = {"type": "refusal", "category": ...}``
    unless ``with_details=False`` (as API versions before stop_details sent it)."""
    details = (
        {"type": "refusal", "category": category, "explanation": explanation}
        if with_details else None
    )
    content = [anthropic_text(text)] if text else []
    return AnthropicMessage(content, stop_reason="refusal", stop_details=details, **options)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error(
    status: int,
    error_type: str | None = None,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    should_retry: bool | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error in Anthropic's body format ``{"type": "error", "error": {...}}``.

    ``retry_after`` (seconds) sets both ``retry-after`` and ``retry-after-ms``;
    ``should_retry`` sets ``x-should-retry``, which the SDK obeys over the status code.
    """
    kind = error_type or _ERROR_TYPES.get(status, "api_error")
    request_id = _next_id("req")
    out = {"request-id": request_id}
    if retry_after is not None:
        out["retry-after"] = str(max(0, math.ceil(retry_after)))
        out["retry-after-ms"] = str(max(0, round(retry_after * 1000)))
    if should_retry is not None:
        out["x-should-retry"] = "true" if should_retry else "false"
    out.update(headers or {})
    body = {
        "type": "error",
        "error": {"type": kind, "message": message or kind.replace("_", " ")},
        "request_id": request_id,
    }
    return json_reply(body, status, out)


def anthropic_rate_limited(retry_after: float = 0.01, message: str = "Rate limited") -> Reply:
    """429 ``rate_limit_error`` with retry headers."""
    return anthropic_error(429, "rate_limit_error", message, retry_after=retry_after)


def anthropic_overloaded(message: str = "Overloaded", *, retry_after: float | None = None
                         ) -> Reply:
    """529 ``overloaded_error`` (the SDK retries it; ``retry_after`` shortens its backoff)."""
    return anthropic_error(529, "overloaded_error", message, retry_after=retry_after)


class FakeAnthropicServer(SnapshotModelServer):
    """Fake ``api.anthropic.com``: ``POST /v1/messages`` (JSON and SSE).

    Point the SDK at it with ``anthropic.Anthropic(api_key="test", base_url=server.url)``
    (or :meth:`client` / :meth:`async_client`). Unscripted requests get
    :data:`DEFAULT_TEXT` with :data:`DEFAULT_USAGE`.

    ``MODEL_SNAPSHOTS`` maps requested aliases to the dated snapshot reported in the response
    ``model``; change one server with ``server.model_snapshots[alias] = snapshot``
    (instance-level, on top of the class table) or every server by patching the class
    table (``monkeypatch.setitem``) -- to simulate a snapshot moving behind an alias.
    """

    MODEL_SNAPSHOTS: ClassVar[dict[str, str]] = {
        "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
        "claude-opus-4-5": "claude-opus-4-5-20251101",
        "claude-haiku-4-5": "claude-haiku-4-5-20251001",
        "claude-opus-4-1": "claude-opus-4-1-20250805",
        "claude-sonnet-4-0": "claude-sonnet-4-20250514",
        "claude-opus-4-0": "claude-opus-4-20250514",
        "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
        "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    }

    def client(self, *, max_retries: int = 0, api_key: str = "test-key",
               **kwargs: Any) -> anthropic.Anthropic:
        """A sync ``anthropic.Anthropic`` for this server (``max_retries=0`` unless given)."""
        import anthropic

        return anthropic.Anthropic(base_url=self.url, api_key=api_key, max_retries=max_retries,
                                   **kwargs)

    def async_client(self, *, max_retries: int = 0, api_key: str = "test-key",
                     **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` for this server (``max_retries=0`` unless given)."""
        import anthropic

        return anthropic.AsyncAnthropic(base_url=self.url, api_key=api_key,
                                        max_retries=max_retries, **kwargs)

    def render_queued(self, queued: AnyReply | ReplyFactory, request: RecordedRequest
                      ) -> AnyReply:
        if isinstance(queued, AnthropicMessage):
            return queued.render(request, self)
        reply = super().render_queued(queued, request)
        return refresh_header(reply, "request-id", lambda: _next_id("req"))

    def default_reply(self, request: RecordedRequest) -> AnyReply:
        if request.method == "POST" and request.path.rstrip("/") == "/v1/messages":
            return anthropic_message().render(request, self)
        return anthropic_error(404, "not_found_error", f"no route {request.method} {request.path}")
