"""What every Bedrock mapping needs: server attributes, request ids, error codes, usage,
guardrail categories. Nothing here reads credentials, headers of the request or signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tripwire import semconv
from tripwire._compat import botocore_api_call_args
from tripwire._core.instrumentor import ClientInfos
from tripwire._core.invocation import Result
from tripwire._core.stream import StreamAccumulator
from tripwire._core.wire.usage import apply_usage, usage_counts

PROVIDER = semconv.PROVIDER_AWS_BEDROCK


# ``(operation_name, api_params)`` of ``BaseClient._make_api_call``.
call_args = botocore_api_call_args


_clients = ClientInfos(PROVIDER, lambda meta, host: PROVIDER, client_attr="meta",
                       base_url=lambda meta: getattr(meta, "endpoint_url", ""))


def start_attributes(client: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` of the client's endpoint (worked out once per
    client)."""
    return _clients.start(client)[1]


def guardrail_attributes(attrs: dict[str, Any], params: Mapping[str, Any]) -> None:
    # Converse names the guardrail in guardrailConfig, InvokeModel as a top-level parameter.
    config = params.get("guardrailConfig")
    guardrail = (config if isinstance(config, Mapping) else params).get("guardrailIdentifier")
    if isinstance(guardrail, str) and guardrail:
        attrs[semconv.AWS_BEDROCK_GUARDRAIL_ID] = guardrail


def request_id(response: Any) -> str | None:
    """``ResponseMetadata.RequestId`` (the ``x-amzn-requestid`` header)."""
    if not isinstance(response, Mapping):
        return None
    meta = response.get("ResponseMetadata")
    value = meta.get("RequestId") if isinstance(meta, Mapping) else None
    return value if isinstance(value, str) and value else None


def request_result(rid: str | None) -> Result:
    """A result named by the request id: ``aws.request_id``, and ``gen_ai.response.id``
    until the body names a better one (Anthropic's message id)."""
    result = Result(response_id=rid)
    if rid:
        result.attributes[semconv.AWS_REQUEST_ID] = rid
    return result


def response_headers(response: Any) -> Mapping[str, str]:
    meta = response.get("ResponseMetadata") if isinstance(response, Mapping) else None
    headers = meta.get("HTTPHeaders") if isinstance(meta, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``ThrottlingException``; for an
    ``EventStreamError`` mid-stream the stream member, ``modelStreamErrorException``)."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            code = error.get("Code")
            if isinstance(code, str) and code:
                return code
    return None


def set_usage(result: Result, inputs: Any, outputs: Any, cache_read: Any,
              cache_write: Any) -> None:
    """Bedrock (like Anthropic) counts input tokens *without* the cache reads and writes."""
    apply_usage(result, usage_counts(inputs, outputs, cache_read, cache_write))


def converse_usage(result: Result, usage: Any) -> None:
    if isinstance(usage, Mapping):
        set_usage(result, usage.get("inputTokens"), usage.get("outputTokens"),
                  usage.get("cacheReadInputTokens"), usage.get("cacheWriteInputTokens"))


# stopReason values that mean a safety system, not the model's own answer, ended the reply.
GUARDRAIL_INTERVENED = "guardrail_intervened"
CONTENT_FILTERED = "content_filtered"
_POLICY_CATEGORIES = (
    # (assessment policy, list key, category when it is not a content filter)
    ("contentPolicy", "filters", None),
    ("topicPolicy", "topics", "denied_topic"),
    ("wordPolicy", "customWords", "word_filter"),
    ("wordPolicy", "managedWordLists", "profanity"),
    ("sensitiveInformationPolicy", "piiEntities", "sensitive_information"),
    ("sensitiveInformationPolicy", "regexes", "sensitive_information"),
    ("contextualGroundingPolicy", "filters", "grounding"),
    ("automatedReasoningPolicy", "findings", "automated_reasoning"),
)


def mark_refusal(result: Result, stop_reason: Any, trace: Any) -> None:
    """``guardrail_intervened`` / ``content_filtered`` -> ``tripwire.refusal``; the category
    is the first blocking policy in the guardrail trace (present when the request enabled
    ``guardrailConfig.trace``): a content filter type in lower case (``violence``,
    ``prompt_attack``), ``denied_topic``, ``word_filter``, … else ``guardrail``."""
    if stop_reason == GUARDRAIL_INTERVENED:
        result.refusal = True
        result.refusal_source = semconv.REFUSAL_SOURCE_FINISH_REASON
        result.refusal_category = guardrail_category(trace) or "guardrail"
    elif stop_reason == CONTENT_FILTERED:
        result.refusal = True
        result.refusal_source = semconv.REFUSAL_SOURCE_FINISH_REASON
        result.refusal_category = CONTENT_FILTERED


def guardrail_category(trace: Any) -> str | None:
    guardrail = trace.get("guardrail") if isinstance(trace, Mapping) else None
    if not isinstance(guardrail, Mapping):
        return None
    assessments: list[Any] = []
    # Converse: inputAssessment {id: …}, outputAssessments {id: [...]}; InvokeModel's
    # amazon-bedrock-trace: input {id: …}, outputs [{id: …}].
    for key in ("inputAssessment", "input"):
        inputs = guardrail.get(key)
        if isinstance(inputs, Mapping):
            assessments += list(inputs.values())
    outputs = guardrail.get("outputAssessments")
    if isinstance(outputs, Mapping):
        for value in outputs.values():
            assessments += value if isinstance(value, list) else [value]
    for item in guardrail.get("outputs") or ():
        if isinstance(item, Mapping):
            assessments += list(item.values())
    for assessment in assessments:
        if not isinstance(assessment, Mapping):
            continue
        for policy, key, category in _POLICY_CATEGORIES:
            findings = assessment.get(policy)
            items = findings.get(key) if isinstance(findings, Mapping) else None
            for item in items if isinstance(items, list) else ():
                if isinstance(item, Mapping) and item.get("action") == "BLOCKED":
                    if category is None and isinstance(item.get("type"), str):
                        return str(item["type"]).lower()
                    return category or "guardrail"
    return None


class ResponseStreamAccumulator:
    """Base of the Bedrock stream accumulators. The event stream is one member of the
    response; the rest of it (the request id) reaches the accumulator through
    :meth:`read_response`, before the first event."""

    __slots__ = ("_request_id",)

    def __init__(self) -> None:
        self._request_id: str | None = None

    def read_response(self, response: Mapping[str, Any]) -> None:
        self._request_id = request_id(response)

    def new_result(self) -> Result:
        """A result named by the response's request id (see :func:`request_result`)."""
        return request_result(self._request_id)


def wrap_member(response: Any, member: str, accumulator: StreamAccumulator,
                make_proxy: Callable[[Any], Any]) -> Any:
    """A streaming response dict with its ``member`` (``stream``, ``body``) replaced by our
    proxy; the accumulator reads the rest of the response (the request id)."""
    stream = response.get(member) if isinstance(response, dict) else None
    if stream is None:  # the core then ends the span without a result
        raise ValueError(f"no {member!r} in the response")
    if isinstance(accumulator, ResponseStreamAccumulator):
        accumulator.read_response(response)
    response[member] = make_proxy(stream)
    return response


# Lower-cased family finish reasons -> the GenAI output-message schema's finish_reason
# (message JSON only; gen_ai.response.finish_reasons keeps the family's own spelling).
_SCHEMA_FINISH = {
    "stop": "stop", "end_turn": "stop", "stop_sequence": "stop", "finish": "stop",
    "complete": "stop", "endoftext": "stop", "stop_criteria_met": "stop",
    "length": "length", "max_tokens": "length", "model_context_window_exceeded": "length",
    "tool_use": "tool_call", "tool_calls": "tool_call",
    "content_filtered": "content_filter", "content_filter": "content_filter",
    "guardrail_intervened": "content_filter", "error_toxic": "content_filter",
    "error": "error",
}


def schema_finish(reason: Any) -> Any:
    """Every family's and Converse's finish reason, any case, as the output-message schema
    spells it (unknown ones as they are)."""
    return _SCHEMA_FINISH.get(reason.lower(), reason) if isinstance(reason, str) else reason
