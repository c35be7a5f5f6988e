"""A fake Amazon Bedrock Runtime speaking the real wire formats.

Routes (the model id arrives URL-encoded: ``anthropic.claude-...-v1%3A0``)::

    POST /model/{modelId}/converse                      JSON ConverseResponse
    POST /model/{modelId}/converse-stream               AWS event stream (binary framing)
    POST /model/{modelId}/invoke                        Anthropic Messages JSON body
    POST /model/{modelId}/invoke-with-response-stream   event stream of ``chunk`` events
                                                        (base64 Anthropic SSE event JSON)

Point boto3 at it (offline, dummy credentials)::

    import boto3
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test", aws_session_token="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )

Token counts are fixed by the builder (``usage=BedrockUsage(...)``, default
:data:`DEFAULT_USAGE`), never derived from text.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tripwire.testing._eventstream import CONTENT_TYPE as EVENTSTREAM_CONTENT_TYPE
from tripwire.testing._eventstream import event_message, exception_message
from tripwire.testing._http import (
    AnyReply,
    FakeServer,
    RecordedRequest,
    Reply,
    ReplyFactory,
    StreamReply,
    json_reply,
    refresh_header,
)
from tripwire.testing._wire import WORD_RE, PrefixedIds, split_json
from tripwire.testing.anthropic_server import AnthropicMessage, resolve_anthropic_model

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = [
    "DEFAULT_USAGE",
    "BedrockConverse",
    "BedrockInvokeAnthropic",
    "BedrockUsage",
    "FakeBedrockServer",
    "bedrock_content_filtered",
    "bedrock_converse",
    "bedrock_error",
    "bedrock_guardrail_intervened",
    "bedrock_invoke_anthropic",
    "bedrock_reasoning",
    "bedrock_text",
    "bedrock_throttled",
    "bedrock_tool_use",
    "guardrail_trace",
    "parse_bedrock_path",
]

_next_id = PrefixedIds()
_PATH_RE = re.compile(
    r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke|invoke-with-response-stream)/?$"
)

DEFAULT_TEXT = "Hello from the fake Bedrock server."
GUARDRAIL_TEXT = "Sorry, the model cannot answer this question."


def parse_bedrock_path(path: str) -> tuple[str, str] | None:
    """``(model id, operation)`` with the model id URL-decoded, or None."""
    match = _PATH_RE.match(path)
    return (unquote(match["model"]), match["op"]) if match else None


# --- content blocks (wire JSON) ---------------------------------------------------------
def bedrock_text(text: str) -> dict[str, Any]:
    return {"text": text}


def bedrock_tool_use(name: str, input: dict[str, Any], tool_use_id: str | None = None
                     ) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": tool_use_id or _next_id("tooluse"), "name": name,
                        "input": input}}


def bedrock_reasoning(text: str, signature: str = "fake-signature") -> dict[str, Any]:
    return {"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}}


@dataclass(frozen=True)
class BedrockUsage:
    """Converse ``usage``: ``input_tokens`` *excludes* cache reads and writes;
    ``totalTokens`` = input + output + cache read + cache write."""

    input_tokens: int = 18
    output_tokens: int = 9
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + (self.cache_read_input_tokens or 0)
                + (self.cache_write_input_tokens or 0))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"inputTokens": self.input_tokens,
                               "outputTokens": self.output_tokens,
                               "totalTokens": self.total_tokens}
        if self.cache_read_input_tokens is not None:
            out["cacheReadInputTokens"] = self.cache_read_input_tokens
        if self.cache_write_input_tokens is not None:
            out["cacheWriteInputTokens"] = self.cache_write_input_tokens
        return out


DEFAULT_USAGE = BedrockUsage()


def _request_headers() -> dict[str, str]:
    return {"x-amzn-requestid": _next_id("req")}


class BedrockConverse:
    """A scripted Converse result; call it with the request to get the reply.

    JSON for ``/converse``; for ``/converse-stream`` the event stream ``messageStart``,
    per block (``contentBlockStart`` for tool use, ``contentBlockDelta`` word by word for
    text, JSON pieces for tool input, ``contentBlockStop``), ``messageStop``, ``metadata``
    (usage, metrics, trace). ``abort_after`` drops the connection after that many event
    messages; ``exception_after`` sends an ``exception`` message (``exception_type`` is the
    stream member, e.g. ``modelStreamErrorException``, ``throttlingException``) after that
    many events and ends the stream.
    """

    def __init__(
        self,
        content: str | Sequence[dict[str, Any]] = DEFAULT_TEXT,
        *,
        stop_reason: str | None = None,
        usage: BedrockUsage | None = None,
        latency_ms: int = 321,
        trace: dict[str, Any] | None = None,
        additional_model_response_fields: dict[str, Any] | None = None,
        abort_after: int | None = None,
        exception_after: int | None = None,
        exception_type: str = "modelStreamErrorException",
        exception_message: str = "The model stream failed.",
        headers: dict[str, str] | None = None,
        chunk_delay: float = 0.0,
        with_usage: bool = True,
    ) -> None:
        self.content: list[dict[str, Any]] = (
            [bedrock_text(content)] if isinstance(content, str) else [dict(b) for b in content]
        )
        if stop_reason is None:
            has_tool = any("toolUse" in block for block in self.content)
            stop_reason = "tool_use" if has_tool else "end_turn"
        self.stop_reason = stop_reason
        self.usage = usage or DEFAULT_USAGE
        self.latency_ms = latency_ms
        self.trace = trace
        self.additional_model_response_fields = additional_model_response_fields
        self.abort_after = abort_after
        self.exception_after = exception_after
        self.exception_type = exception_type
        self.exception_message = exception_message
        self.headers = dict(headers or {})
        self.chunk_delay = chunk_delay
        # False: no ``usage`` at all (Bedrock always sends it; a compatible gateway may not).
        self.with_usage = with_usage

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "output": {"message": {"role": "assistant",
                                   "content": [dict(b) for b in self.content]}},
            "stopReason": self.stop_reason,
            "metrics": {"latencyMs": self.latency_ms},
        }
        if self.with_usage:
            body["usage"] = self.usage.to_json()
        if self.additional_model_response_fields is not None:
            body["additionalModelResponseFields"] = self.additional_model_response_fields
        if self.trace is not None:
            body["trace"] = self.trace
        return body

    def stream_events(self) -> list[tuple[str, dict[str, Any]]]:
        """``(event type, payload)`` pairs of the converse stream, in order."""
        events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
        for index, block in enumerate(self.content):
            events += _block_events(index, block)
        stop: dict[str, Any] = {"stopReason": self.stop_reason}
        if self.additional_model_response_fields is not None:
            stop["additionalModelResponseFields"] = self.additional_model_response_fields
        events.append(("messageStop", stop))
        metadata: dict[str, Any] = {"metrics": {"latencyMs": self.latency_ms}}
        if self.with_usage:
            metadata["usage"] = self.usage.to_json()
        if self.trace is not None:
            metadata["trace"] = self.trace
        events.append(("metadata", metadata))
        return events

    def stream_chunks(self) -> list[bytes]:
        chunks = [event_message(name, payload) for name, payload in self.stream_events()]
        if self.exception_after is not None:
            chunks = [*chunks[: self.exception_after],
                      exception_message(self.exception_type, self.exception_message)]
        return chunks

    def __call__(self, request: RecordedRequest) -> AnyReply:
        route = parse_bedrock_path(request.path)
        headers = {**_request_headers(), **self.headers}
        if route and route[1] == "converse-stream":
            return StreamReply(self.stream_chunks(), headers=headers,
                               content_type=EVENTSTREAM_CONTENT_TYPE,
                               abort_after=self.abort_after, chunk_delay=self.chunk_delay)
        return json_reply(self.payload(), headers=headers)


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    deltas: list[dict[str, Any]] = []
    if "text" in block:
        deltas = [{"text": t} for t in (WORD_RE.findall(block["text"]) or [""])]
    elif "toolUse" in block:
        tool = block["toolUse"]
        events.append(("contentBlockStart", {
            "start": {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}},
            "contentBlockIndex": index}))
        deltas = [{"toolUse": {"input": p}} for p in split_json(json.dumps(tool["input"]))]
    elif "reasoningContent" in block:
        reasoning = block["reasoningContent"]["reasoningText"]
        deltas = [{"reasoningContent": {"text": t}} for t in WORD_RE.findall(reasoning["text"])]
        if reasoning.get("signature"):
            deltas.append({"reasoningContent": {"signature": reasoning["signature"]}})
    events += [("contentBlockDelta", {"delta": d, "contentBlockIndex": index}) for d in deltas]
    events.append(("contentBlockStop", {"contentBlockIndex": index}))
    return events


def bedrock_converse(content: str | Sequence[dict[str, Any]] = DEFAULT_TEXT,
                     **options: Any) -> BedrockConverse:
    """A Converse result (JSON or event stream by route); see :class:`BedrockConverse`.

    ``stop_reason`` defaults to ``tool_use`` when a ``toolUse`` block is present, else
    ``end_turn``; pass ``max_tokens``, ``stop_sequence``, ``content_filtered``,
    ``guardrail_intervened``, ``model_context_window_exceeded`` ... to script others.
    """
    return BedrockConverse(content, **options)


def guardrail_trace(guardrail_id: str = "fake-guardrail", *, source: str = "input",
                    filter_type: str = "VIOLENCE", action_reason: str | None = None
                    ) -> dict[str, Any]:
    """A ``trace.guardrail`` assessment blocking a content filter on the input or output."""
    assessment = {"contentPolicy": {"filters": [{
        "type": filter_type, "confidence": "HIGH", "filterStrength": "HIGH",
        "action": "BLOCKED", "detected": True}]}}
    guardrail: dict[str, Any] = {}
    if source == "input":
        guardrail["inputAssessment"] = {guardrail_id: assessment}
    else:
        guardrail["outputAssessments"] = {guardrail_id: [assessment]}
    guardrail["actionReason"] = action_reason or f"Guardrail blocked. Policy: {filter_type}"
    return {"guardrail": guardrail}


def bedrock_guardrail_intervened(text: str = GUARDRAIL_TEXT, *, source: str = "input",
                                 filter_type: str = "VIOLENCE",
                                 guardrail_id: str = "fake-guardrail",
                                 **options: Any) -> BedrockConverse:
    """``stopReason: guardrail_intervened``, the guardrail's canned ``text`` as the message,
    and ``trace.guardrail`` with a blocked content filter (on ``source`` input or output)."""
    options.setdefault("usage", BedrockUsage(output_tokens=0))
    options.setdefault("trace", guardrail_trace(guardrail_id, source=source,
                                                filter_type=filter_type))
    return BedrockConverse([bedrock_text(text)], stop_reason="guardrail_intervened", **options)


def bedrock_content_filtered(text: str = "", **options: Any) -> BedrockConverse:
    """``stopReason: content_filtered`` (the model provider's own filter)."""
    content = [bedrock_text(text)] if text else []
    return BedrockConverse(content, stop_reason="content_filtered", **options)


# --- InvokeModel with the Anthropic body ---------------------------------------------------
_VERSION_SUFFIX = re.compile(r"-v\d+(:\d+)?$")


def _anthropic_model_from_id(model_id: str) -> str:
    """``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` -> ``claude-sonnet-4-5-20250929``."""
    name = model_id.rsplit("/", 1)[-1]
    if "anthropic." in name:
        name = name.split("anthropic.", 1)[1]
    return resolve_anthropic_model(_VERSION_SUFFIX.sub("", name))


class BedrockInvokeAnthropic:
    """``InvokeModel`` / ``InvokeModelWithResponseStream`` for Anthropic models: wraps an
    :class:`AnthropicMessage`; the reply body is Anthropic's message JSON (the model named
    after the model id), or ``chunk`` events carrying its SSE events base64-encoded.
    The ``x-amzn-bedrock-*-token-count`` headers and, on the stream's ``message_stop``,
    ``amazon-bedrock-invocationMetrics`` mirror the usage."""

    def __init__(self, message: AnthropicMessage | None = None, *, latency_ms: int = 321
                 ) -> None:
        self.message = message or AnthropicMessage(DEFAULT_TEXT)
        self.latency_ms = latency_ms

    def _headers(self) -> dict[str, str]:
        usage = self.message.usage
        headers = {
            **_request_headers(),
            "x-amzn-bedrock-input-token-count": str(usage.input_tokens),
            "x-amzn-bedrock-output-token-count": str(usage.output_tokens),
            "x-amzn-bedrock-invocation-latency": str(self.latency_ms),
        }
        if usage.cache_read_input_tokens:
            headers["x-amzn-bedrock-cache-read-input-token-count"] = str(
                usage.cache_read_input_tokens)
        if usage.cache_creation_input_tokens:
            headers["x-amzn-bedrock-cache-write-input-token-count"] = str(
                usage.cache_creation_input_tokens)
        return {**headers, **self.message.headers}

    def __call__(self, request: RecordedRequest) -> AnyReply:
        route = parse_bedrock_path(request.path)
        model_id, op = route if route else ("", "invoke")
        model = self.message.model or _anthropic_model_from_id(model_id)
        if op == "invoke-with-response-stream":
            usage = self.message.usage
            chunks = []
            for _name, data in self.message.stream_events(model):
                if data["type"] == "message_stop":
                    data = {**data, "amazon-bedrock-invocationMetrics": {
                        "inputTokenCount": usage.input_tokens,
                        "outputTokenCount": usage.output_tokens,
                        "invocationLatency": self.latency_ms,
                        "firstByteLatency": max(1, self.latency_ms // 3)}}
                raw = base64.b64encode(json.dumps(data).encode()).decode()
                chunks.append(event_message("chunk", {"bytes": raw}))
            if self.message.error_after is not None:
                chunks = [*chunks[: self.message.error_after],
                          exception_message("modelStreamErrorException",
                                            self.message.error_message)]
            return StreamReply(chunks, headers={**_request_headers(), **self.message.headers},
                               content_type=EVENTSTREAM_CONTENT_TYPE,
                               abort_after=self.message.abort_after,
                               chunk_delay=self.message.chunk_delay)
        return json_reply(self.message.payload(model), headers=self._headers())


def bedrock_invoke_anthropic(message: AnthropicMessage | str | None = None,
                             **anthropic_options: Any) -> BedrockInvokeAnthropic:
    """An InvokeModel reply in Anthropic's format. ``message`` is an
    :func:`~tripwire.testing.anthropic_server.anthropic_message` (or its text); other
    keyword arguments build one (``stop_reason=``, ``usage=AnthropicUsage(...)`` ...)."""
    if not isinstance(message, AnthropicMessage):
        message = AnthropicMessage(message if message is not None else DEFAULT_TEXT,
                                   **anthropic_options)
    return BedrockInvokeAnthropic(message)


# --- errors -------------------------------------------------------------------------------
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def bedrock_error(status: int, error_type: str | None = None, message: str | None = None, *,
                  headers: dict[str, str] | None = None) -> Reply:
    """A REST-JSON error: ``x-amzn-ErrorType`` header and ``{"message": ...}`` body; botocore
    raises ``ClientError`` with ``response["Error"]["Code"] == error_type``."""
    kind = error_type or _ERROR_TYPES.get(status, "InternalServerException")
    out = {**_request_headers(),
           "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
           **(headers or {})}
    return json_reply({"message": message or kind}, status, out)


def bedrock_throttled(message: str = "Too many requests, please wait before trying again."
                      ) -> Reply:
    """429 ``ThrottlingException``."""
    return bedrock_error(429, "ThrottlingException", message)


class FakeBedrockServer(FakeServer):
    """Fake ``bedrock-runtime.<region>.amazonaws.com``. Unscripted Converse requests get
    :data:`DEFAULT_TEXT` with :data:`DEFAULT_USAGE`; unscripted InvokeModel requests with
    an Anthropic body (``anthropic_version``) get an Anthropic message; other bodies get a
    400 ``ValidationException``.

    InvokeModel replies report the Anthropic model from the model id through
    :attr:`FakeAnthropicServer.MODEL_SNAPSHOTS` (the class table).
    """

    def client(self, *, max_attempts: int = 1, region_name: str = "us-east-1",
               **config: Any) -> BaseClient:
        """A boto3 ``bedrock-runtime`` client for this server with dummy credentials and
        ``max_attempts`` total attempts (standard retry mode); extra keyword arguments go to
        ``botocore.config.Config``."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "bedrock-runtime", endpoint_url=self.url, region_name=region_name,
            aws_access_key_id="test", aws_secret_access_key="test", aws_session_token="test",
            config=Config(retries={"total_max_attempts": max_attempts, "mode": "standard"},
                          **config),
        )

    def render_queued(self, queued: AnyReply | ReplyFactory, request: RecordedRequest
                      ) -> AnyReply:
        reply = super().render_queued(queued, request)
        return refresh_header(reply, "x-amzn-requestid", lambda: _next_id("req"))

    def default_reply(self, request: RecordedRequest) -> AnyReply:
        route = parse_bedrock_path(request.path)
        if request.method != "POST" or route is None:
            return bedrock_error(404, "ResourceNotFoundException",
                                 f"no route {request.method} {request.path}")
        if route[1] in ("converse", "converse-stream"):
            return bedrock_converse()(request)
        body = request.json
        if not (isinstance(body, dict) and "anthropic_version" in body):
            return bedrock_error(400, "ValidationException",
                                 "the fake InvokeModel only speaks the Anthropic body")
        return bedrock_invoke_anthropic()(request)
