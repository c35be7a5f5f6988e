"""One LLM operation as one span: request attributes, response attributes, metrics.

Instrumentors describe a call with :class:`Request` and its outcome with :class:`Result`;
:class:`LLMCall` turns those into the span, its events and the semconv metrics; its
lifecycle (start, current while the SDK call runs, ended exactly once) is
:class:`~tripwire._core.lifecycle.LiveSpan`'s.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire._core import content
from tripwire._core.fields import (
    MAX_PLAUSIBLE_TOKENS,
    plausible_count,
    put_text,
    safe_text,
    text_list,
)
from tripwire._core.guard import guard, log_failure
from tripwire._core.lifecycle import LiveSpan
from tripwire._core.telemetry import Telemetry
from tripwire._core.tokens import count_tokens
from tripwire._core.tools import RequestedToolCall, check_tool_calls, prompt_hash
from tripwire.runtime import get_runtime, get_settings

if TYPE_CHECKING:
    from tripwire.processors.ledger import Reservation

_CALL_KEY = otel_context.create_key("tripwire-llm-call")
_now = timeit.default_timer

Lazy = Callable[[], Any]


@dataclass
class Request:
    operation: str
    provider: str
    model: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    # name -> parameters JSON schema; None when the request declared no tools
    declared_tools: dict[str, Any] | None = None
    system_texts: list[str] = field(default_factory=list)
    # Content builders: only called when content capture is on.
    input_messages: Lazy | None = None
    system_instructions: Lazy | None = None
    tool_definitions: Lazy | None = None
    # Text of the prompt, only called when a stream ends without usage.
    prompt_text: Lazy | None = None
    # error.type for an exception (e.g. the provider's error code); None or no hook: the
    # exception's class name.
    error_type: Callable[[BaseException], str | None] | None = None
    # Per-call state of the instrumentor itself (e.g. the responses of an SDK's internal
    # requests within one call); opaque to the core.
    state: Any = None


@dataclass
class Result:
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    tool_calls: list[RequestedToolCall] = field(default_factory=list)
    refusal: bool = False
    refusal_source: str | None = None
    refusal_category: str | None = None
    output_messages: Lazy | None = None
    # Generated text, used only to estimate output tokens when a stream has no usage.
    output_text: Lazy | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


class LLMCall(LiveSpan[Result]):
    """The live span of one LLM operation: its request, retries, first chunk, and at the end
    the response attributes, content and semconv metrics."""

    __slots__ = (
        "_failed_attempt",
        "_reservation",
        "_start",
        "_ttfc",
        "metric_attrs",
        "request",
        "retries",
        "telemetry",
    )

    def __init__(self, telemetry: Telemetry, request: Request) -> None:
        self.telemetry = telemetry
        self.request = request
        self.retries = 0
        self._failed_attempt: tuple[int | None, str | None] | None = None
        self._ttfc: float | None = None
        self._reservation: tuple[int, int] | None = None
        attrs = request.attributes
        if request.model:
            request.model = safe_text(request.model)
        attrs[semconv.GEN_AI_OPERATION_NAME] = request.operation
        attrs[semconv.GEN_AI_PROVIDER_NAME] = request.provider
        if request.model:
            attrs[semconv.GEN_AI_REQUEST_MODEL] = request.model
        name = f"{request.operation} {request.model}" if request.model else request.operation
        # The base named, not super(): measurably cheaper on a path every LLM call takes.
        LiveSpan.__init__(self, telemetry.tracer, name, SpanKind.CLIENT, attrs)
        self.metric_attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: request.operation,
            semconv.GEN_AI_PROVIDER_NAME: request.provider,
        }
        if request.model:
            self.metric_attrs[semconv.GEN_AI_REQUEST_MODEL] = request.model
        for key in (semconv.SERVER_ADDRESS, semconv.SERVER_PORT):
            if key in attrs:
                self.metric_attrs[key] = attrs[key]
        self._start = _now()
        if self.span.is_recording():
            with guard("request attributes"):
                self._record_request_extras()

    def _context(self, ctx: Context) -> Context:
        # current_call(): retry hooks find the call, nested SDK methods pass through.
        return otel_context.set_value(_CALL_KEY, self, ctx)

    def hold(self, reservation: Reservation) -> None:
        """Keep what the budget gate reserved for this call until its span has ended: the
        enrichment processor settles it to the real cost as the span ends, or it is released
        afterwards."""
        ctx = self.span.get_span_context()
        self._reservation = (ctx.trace_id, ctx.span_id)
        get_runtime().hold(reservation, ctx.trace_id, ctx.span_id)
        if reservation.store_unavailable:
            self.span.set_attribute(semconv.TRIPWIRE_BUDGET_STORE_UNAVAILABLE, True)

    def _end(self, result: Result | None, exc: BaseException | None) -> None:
        try:
            LiveSpan._end(self, result, exc)
        finally:
            held = self._reservation
            if held is not None:
                with guard("budget release"):
                    get_runtime().end_of_call(*held)

    # --- during the call --------------------------------------------------------------
    def record_retry(self, status_code: int | None, error_type: str | None) -> None:
        self.retries += 1
        attrs: dict[str, Any] = {semconv.TRIPWIRE_RETRY_ATTEMPT: self.retries}
        if status_code is not None:
            attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = status_code
        if error_type:
            attrs[semconv.ERROR_TYPE] = error_type
        self.span.add_event(semconv.EVENT_RETRY, attrs)
        metric_attrs = dict(self.metric_attrs)
        if status_code is not None:
            metric_attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = status_code
        if error_type:
            metric_attrs[semconv.ERROR_TYPE] = error_type
        self.telemetry.retries.add(1, metric_attrs)

    def attempt_failed(self, status_code: int | None, error_type: str | None) -> None:
        """For SDKs whose hook sees HTTP attempts, not retries: an attempt failed; it was
        retried if another one starts (:meth:`attempt_started`)."""
        self._failed_attempt = (status_code, error_type)

    def attempt_started(self) -> None:
        failed, self._failed_attempt = self._failed_attempt, None
        if failed is not None:
            self.record_retry(*failed)

    def first_chunk(self) -> None:
        """The first chunk of a streamed response arrived (later calls change nothing)."""
        if self._ttfc is None:
            self._ttfc = _now() - self._start

    # --- the end ------------------------------------------------------------------------
    def finish_estimated(self, result: Result | None) -> None:
        """:meth:`finish`, first filling in the token counts the provider did not report (a
        stream that carried no usage)."""
        if result is not None and not self.ended:
            with guard("usage estimate"):
                self._estimate_usage(result)
        self.finish(result)

    def _record_end(self, result: Result | None, error_type: str | None) -> None:
        duration = _now() - self._start
        if result is not None:
            with guard("response attributes"):
                self._record_result(result)
        with guard("metrics"):
            self._record_metrics(result, duration, error_type)
        with guard("span end"):
            if self.retries:
                self.span.set_attribute(semconv.TRIPWIRE_RETRY_COUNT, self.retries)
            if self._ttfc is not None:
                self.span.set_attribute(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, self._ttfc)

    # --- helpers ------------------------------------------------------------------------
    def error_type_of(self, exc: BaseException) -> str:
        """``error.type`` for ``exc``: the instrumentor's reading (a provider error code),
        else the exception's class name."""
        describe = self.request.error_type
        if describe is not None:
            try:
                name = describe(exc)
                if name:
                    return name
            except Exception:
                log_failure("error type")
        return super().error_type_of(exc)

    def _record_request_extras(self) -> None:
        request = self.request
        span = self.span
        digest = prompt_hash(request.system_texts)
        if digest:
            span.set_attribute(semconv.TRIPWIRE_PROMPT_HASH, digest)
        mode = content.capture_mode()
        if not mode.enabled:
            return
        payload: dict[str, str] = {}
        if request.input_messages is not None:
            payload[semconv.GEN_AI_INPUT_MESSAGES] = content.to_json(request.input_messages())
        if request.system_instructions is not None:
            instructions = request.system_instructions()
            if instructions:
                payload[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = content.to_json(instructions)
        if request.tool_definitions is not None:
            definitions = request.tool_definitions()
            if definitions:
                payload[semconv.GEN_AI_TOOL_DEFINITIONS] = content.to_json(definitions)
        self._emit_content(payload, mode)

    def _emit_content(self, payload: dict[str, str], mode: Any) -> None:
        if not payload:
            return
        if mode.on_span:
            self.span.set_attributes(payload)
        if mode.on_event:
            self.span.add_event(semconv.EVENT_GEN_AI_CLIENT_INFERENCE_DETAILS, payload)

    def _record_result(self, result: Result) -> None:
        attrs: dict[str, Any] = dict(result.attributes)
        if _drop_invalid_usage(result):
            attrs[semconv.TRIPWIRE_USAGE_INVALID] = True
        # Each response field on its own: one of the wrong type (a number for the model) is
        # dropped and flagged (fields.INVALID), never the rest of the span's attributes.
        if result.response_id is not None:
            put_text(attrs, semconv.GEN_AI_RESPONSE_ID, result.response_id)
        if result.response_model is not None:
            result.response_model = put_text(attrs, semconv.GEN_AI_RESPONSE_MODEL,
                                             result.response_model)
            if result.response_model:
                self.metric_attrs[semconv.GEN_AI_RESPONSE_MODEL] = result.response_model
        if result.finish_reasons:
            attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = text_list(result.finish_reasons)
        for key, value in (
            (semconv.GEN_AI_USAGE_INPUT_TOKENS, result.input_tokens),
            (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, result.output_tokens),
            (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, result.cache_read_tokens),
            (semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, result.cache_creation_tokens),
            (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, result.reasoning_tokens),
        ):
            if value is not None:
                attrs[key] = value
        if result.refusal:
            attrs[semconv.TRIPWIRE_REFUSAL] = True
            if result.refusal_source:
                attrs[semconv.TRIPWIRE_REFUSAL_SOURCE] = result.refusal_source
            if result.refusal_category:
                attrs[semconv.TRIPWIRE_REFUSAL_CATEGORY] = result.refusal_category
        report = self._tool_call_report(result) if result.tool_calls else None
        if report is not None:
            attrs[semconv.TRIPWIRE_TOOL_CALL_NAMES] = report.names
            if report.ids:
                attrs[semconv.TRIPWIRE_TOOL_CALL_IDS] = report.ids
            if report.unknown:
                attrs[semconv.TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES] = report.unknown
            if report.invalid:
                attrs[semconv.TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS] = report.invalid
        self.set_safe(attrs)
        mode = content.capture_mode()
        if mode.enabled and result.output_messages is not None:
            self._emit_content(
                {semconv.GEN_AI_OUTPUT_MESSAGES: content.to_json(result.output_messages())}, mode
            )

    def _tool_call_report(self, result: Result) -> Any:
        """The tool-call check under its own guard: a malformed call costs only its flags,
        never the rest of the response's attributes (usage, model, cost)."""
        try:
            return check_tool_calls(result.tool_calls, self.request.declared_tools)
        except Exception:
            log_failure("tool-call check")
            return None

    def _estimate_usage(self, result: Result) -> None:
        model = self.request.model
        method = None
        if result.input_tokens is None and self.request.prompt_text is not None:
            result.input_tokens, method = count_tokens(self.request.prompt_text(), model)
        if result.output_tokens is None and result.output_text is not None:
            result.output_tokens, method = count_tokens(result.output_text(), model)
        if method is not None:
            result.attributes[semconv.TRIPWIRE_USAGE_ESTIMATED] = True
            result.attributes[semconv.TRIPWIRE_USAGE_ESTIMATE_METHOD] = method

    def _record_metrics(self, result: Result | None, duration: float, error: str | None) -> None:
        attrs = self.metric_attrs
        if error is not None:
            attrs = {**attrs, semconv.ERROR_TYPE: error}
        telemetry = self.telemetry
        # Exemplars point at this call's span: the call usually ends after it was detached
        # (or, for a stream, wherever the app finished iterating).
        ctx = trace.set_span_in_context(self.span)
        telemetry.duration.record(duration, attrs, context=ctx)
        if self._ttfc is not None:
            telemetry.time_to_first_chunk.record(self._ttfc, attrs, context=ctx)
        if result is None or error is not None:
            return
        if result.input_tokens is not None:
            telemetry.token_usage.record(
                result.input_tokens, {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT},
                context=ctx,
            )
        if result.output_tokens is not None:
            telemetry.token_usage.record(
                result.output_tokens,
                {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_OUTPUT},
                context=ctx,
            )


_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
                 "reasoning_tokens")


def _drop_invalid_usage(result: Result) -> bool:
    """Forget token counts that cannot be right (negative, not whole, absurd): they are not
    recorded, so they never reach a metric, a cost or a budget. True when one was dropped."""
    invalid = False
    for name in _TOKEN_FIELDS:
        value = getattr(result, name)
        if value is not None and (type(value) is not int or not
                                  0 <= value <= MAX_PLAUSIBLE_TOKENS):
            count = plausible_count(value)
            setattr(result, name, count)
            invalid = invalid or count is None
    return invalid


def current_call() -> LLMCall | None:
    """The LLM call whose provider request is running in this context, if any."""
    value = otel_context.get_value(_CALL_KEY)
    return value if isinstance(value, LLMCall) else None


def in_llm_call() -> bool:
    return otel_context.get_value(_CALL_KEY) is not None


def settings_capture_enabled() -> bool:
    return get_settings().capture_content.enabled
