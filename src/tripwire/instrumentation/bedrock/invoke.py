"""``InvokeModel`` and ``InvokeModelWithResponseStream`` onto the core.

Two request mappings, chosen per call by the request body:

* the **Anthropic Messages body** (``anthropic_version`` + ``messages``): everything a
  Converse call gives — parameters, system prompt, messages, tools;
* **any other body** (Titan, Nova, Llama, Mistral, Cohere, AI21, Claude text completion,
  embeddings…): sampling parameters from the families' well-known request keys.

Responses are read by their shape, whatever the request was: the Anthropic Messages body
and its streamed events, or a model family's own body and chunks (``families``), on top of
Bedrock's ``x-amzn-bedrock-*-token-count`` headers / ``amazon-bedrock-invocationMetrics``
and its ``amazon-bedrock-guardrailAction``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from typing import Any

from tripwire import semconv
from tripwire._core.fields import plausible_count, put_number, string_list
from tripwire._core.invocation import Request, Result
from tripwire._core.stream import StreamAccumulator
from tripwire._core.wire.anthropic_messages import (
    MessageEvents,
    describe_request,
    parse_message,
)
from tripwire._core.wrapping import CallMapping
from tripwire.instrumentation.bedrock import families
from tripwire.instrumentation.bedrock.common import (
    GUARDRAIL_INTERVENED,
    PROVIDER,
    ResponseStreamAccumulator,
    call_args,
    error_code,
    guardrail_attributes,
    mark_refusal,
    request_id,
    request_result,
    response_headers,
    set_usage,
    start_attributes,
    wrap_member,
)

STREAM_OPERATION = "InvokeModelWithResponseStream"
# Larger request bodies are not parsed (model, server and usage are still recorded).
MAX_BODY_PARSE = 8 * 1024 * 1024
_HEADER_USAGE = ("x-amzn-bedrock-input-token-count", "x-amzn-bedrock-output-token-count",
                 "x-amzn-bedrock-cache-read-input-token-count",
                 "x-amzn-bedrock-cache-write-input-token-count")


def is_anthropic_body(body: Any) -> bool:
    """Cheap pre-check used to choose the mapping (a substring test, no JSON parsing)."""
    if isinstance(body, (bytes, bytearray)):
        return b'"anthropic_version"' in body
    return isinstance(body, str) and '"anthropic_version"' in body


def _parse_body(body: Any) -> dict[str, Any] | None:
    if isinstance(body, (bytes, bytearray, str)) and len(body) <= MAX_BODY_PARSE:
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None  # file-like bodies are left alone: reading them would consume them


def _start(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
           ) -> tuple[dict[str, Any], str | None, bool, dict[str, Any] | None]:
    operation, params = call_args(args, kwargs)
    attrs = start_attributes(client)
    guardrail_attributes(attrs, params)
    model = params.get("modelId")
    return (attrs, model if isinstance(model, str) and model else None,
            operation == STREAM_OPERATION, _parse_body(params.get("body")))


# --- any body --------------------------------------------------------------------------------
# (config object or None for the top level, key, attribute) for the model families' names.
_GENERIC_PARAMS: tuple[tuple[str | None, str, str], ...] = (
    (None, "max_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS),        # Mistral, Cohere, AI21
    (None, "max_gen_len", semconv.GEN_AI_REQUEST_MAX_TOKENS),       # Llama
    (None, "max_tokens_to_sample", semconv.GEN_AI_REQUEST_MAX_TOKENS),  # Claude text
    (None, "maxTokens", semconv.GEN_AI_REQUEST_MAX_TOKENS),         # AI21 Jurassic-2
    (None, "topP", semconv.GEN_AI_REQUEST_TOP_P),
    (None, "p", semconv.GEN_AI_REQUEST_TOP_P),                      # Cohere
    (None, "k", semconv.GEN_AI_REQUEST_TOP_K),
    (None, "temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    (None, "top_p", semconv.GEN_AI_REQUEST_TOP_P),
    (None, "top_k", semconv.GEN_AI_REQUEST_TOP_K),
    ("textGenerationConfig", "maxTokenCount", semconv.GEN_AI_REQUEST_MAX_TOKENS),  # Titan
    ("textGenerationConfig", "temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("textGenerationConfig", "topP", semconv.GEN_AI_REQUEST_TOP_P),
    ("inferenceConfig", "max_new_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS),     # Nova
    ("inferenceConfig", "temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("inferenceConfig", "top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("inferenceConfig", "top_k", semconv.GEN_AI_REQUEST_TOP_K),
)
_GENERIC_STOPS = ((None, "stop_sequences"), (None, "stop"), (None, "stopSequences"),
                  ("textGenerationConfig", "stopSequences"), ("inferenceConfig", "stopSequences"))


def build_generic_request(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    return _generic_request(*_start(client, args, kwargs))


def _generic_request(attrs: dict[str, Any], model: str | None, stream: bool,
                     body: dict[str, Any] | None) -> Request:
    embeddings = model is not None and "embed" in model.lower()
    if body is not None:
        if not embeddings:  # sampling parameters mean nothing for an embeddings model
            for section, key, attr in _GENERIC_PARAMS:
                source = body if section is None else body.get(section)
                if isinstance(source, Mapping) and attr not in attrs:
                    put_number(attrs, attr, source.get(key))
        for section, key in _GENERIC_STOPS:
            source = body if section is None else body.get(section)
            stops = string_list(source.get(key)) if isinstance(source, Mapping) else None
            if stops:
                attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
                break
        if embeddings:
            put_number(attrs, semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, body.get("dimensions"))
    operation = semconv.OP_EMBEDDINGS if embeddings else semconv.OP_CHAT
    return Request(operation, PROVIDER, model, attrs, stream=stream, error_type=error_code)


def _header_usage(result: Result, response: Any) -> None:
    headers = response_headers(response)
    if _HEADER_USAGE[0] in headers or _HEADER_USAGE[1] in headers:
        set_usage(result, *(headers.get(name) for name in _HEADER_USAGE))


def _metrics_usage(result: Result, metrics: Any) -> None:
    if isinstance(metrics, Mapping):
        set_usage(result, *(plausible_count(metrics.get(key)) for key in (
            "inputTokenCount", "outputTokenCount", "cacheReadInputTokenCount",
            "cacheWriteInputTokenCount")))


def _chunk_bytes(event: Any) -> Any:
    chunk = event.get("chunk") if isinstance(event, dict) else None
    return chunk.get("bytes") if isinstance(chunk, Mapping) else None


def _json_object(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_BODY_PARSE:
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def wrap_body_stream(response: Any, accumulator: StreamAccumulator,
                     make_proxy: Callable[[Any], Any]) -> Any:
    """``{"body": EventStream, "contentType": …, "ResponseMetadata": …}``: proxy ``body``."""
    return wrap_member(response, "body", accumulator, make_proxy)


# --- the Anthropic Messages body ---------------------------------------------------------------
# The format is mapped once, in tripwire._core.wire.anthropic_messages (shared with the
# anthropic instrumentor); what is here is Bedrock's: the body bytes, the chunk framing, the
# guardrail action, the invocation metrics, header usage and request ids.

def build_anthropic_request(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                            ) -> Request:
    attrs, model, stream, body = _start(client, args, kwargs)
    if body is None or not isinstance(body.get("messages"), list):
        # The substring pre-check matched something else: read what any body gives.
        return _generic_request(attrs, model, stream, body)
    return Request(
        operation=semconv.OP_CHAT,
        provider=PROVIDER,
        model=model,
        attributes=attrs,
        stream=stream,
        error_type=error_code,
        **describe_request(attrs, body),
    )


class _FailedBody:
    """Stands in for a response body whose reading failed: the app's own read raises what
    ours did, as it would have without us."""

    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def _raise(self, *args: Any, **kwargs: Any) -> Any:
        raise self._exc

    read = readlines = iter_lines = iter_chunks = __iter__ = _raise

    def close(self) -> None:
        pass


def _take_body(response: Any) -> Any:
    """Read the JSON response body and put an equivalent unread body back in its place."""
    # (no content type: "None", not JSON)
    if not isinstance(response, dict) or "json" not in str(response.get("contentType")):
        return None
    body = response.get("body")
    if body is None or not hasattr(body, "read"):
        return None
    try:
        data = body.read()
    except Exception as exc:
        response["body"] = _FailedBody(exc)
        raise
    # botocore is imported once a Bedrock call is made, never with tripwire: it is optional.
    from botocore.response import StreamingBody

    response["body"] = StreamingBody(io.BytesIO(data), len(data))
    return data  # (read as JSON only if it is bytes)


def parse_response(response: Any, request: Request) -> Result:
    """Any InvokeModel answer: Bedrock's token-count headers, then the JSON body read by its
    shape (the Anthropic Messages format, or a model family's own; see ``families``): the
    body's counts, where it has them, take over from the headers."""
    data = _take_body(response)  # first: whatever fails later, the app keeps its body
    result = request_result(request_id(response))
    _header_usage(result, response)
    payload = _json_object(data)
    if payload is None:
        return result
    if payload.get("type") == "message":
        # the message id is the response id; the request id stays in aws.request_id
        parse_message(result, payload)
        # A guardrail on InvokeModel says so in the body, not in the stop reason.
        if payload.get(families.GUARDRAIL_ACTION) == "INTERVENED" and not result.refusal:
            mark_refusal(result, GUARDRAIL_INTERVENED, payload.get(families.GUARDRAIL_TRACE))
        return result
    fold = families.FamilyFold()
    fold.add(payload)
    fold.apply(result)
    return result


# The event types of Anthropic's Messages stream (InvokeModel carries them in chunks).
_ANTHROPIC_EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta",
                               "content_block_stop", "message_delta", "message_stop", "ping"})


class InvokeStreamAccumulator(ResponseStreamAccumulator):
    """Folds the JSON carried base64-encoded in ``chunk`` events: Anthropic Messages events,
    or a model family's chunks (``families``); Bedrock's ``amazon-bedrock-invocationMetrics``
    and guardrail action ride on either."""

    __slots__ = ("_events", "_family")

    def __init__(self, request: Request) -> None:
        super().__init__()
        self._events: MessageEvents | None = None
        self._family = families.FamilyFold()  # also keeps the metrics and guardrail action

    def add(self, event: Any) -> None:
        payload = _json_object(_chunk_bytes(event))
        if payload is None:
            return
        if payload.get("type") in _ANTHROPIC_EVENTS:
            if self._events is None:
                self._events = MessageEvents()
            self._events.add(payload)
            self._family.add_bedrock_keys(payload)
            return
        self._family.add(payload)

    def result(self) -> Result:
        result = self.new_result()
        family = self._family
        _metrics_usage(result, family.metrics)  # the events' own usage, when sent, wins
        if self._events is None:
            family.apply(result)
            return result
        self._events.apply(result)
        if family.guardrail and not result.refusal:
            mark_refusal(result, GUARDRAIL_INTERVENED, family.trace)
        return result


GENERIC_MAPPING = CallMapping(build_generic_request, parse_response, InvokeStreamAccumulator,
                              wrap_stream=wrap_body_stream)
ANTHROPIC_MAPPING = CallMapping(build_anthropic_request, parse_response,
                                InvokeStreamAccumulator, wrap_stream=wrap_body_stream)
