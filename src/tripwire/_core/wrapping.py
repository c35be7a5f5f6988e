"""How an instrumented LLM method's span starts and completes.

An instrumentor supplies a :class:`CallMapping` (how to read the request, the response and
stream chunks of one SDK method); :class:`LLMSpans` adds what is particular to LLM calls —
nested calls recorded once, the budget gate, stream proxying — and
:func:`~tripwire._core.lifecycle.span_wrapper` runs it, the same wrapper every span goes
through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context

from tripwire import semconv
from tripwire._core.guard import log_failure

# Re-exported for the modules that still import them from here (retries, anthropic).
from tripwire._core.invocation import LLMCall, Request, Result, in_llm_call
from tripwire._core.lifecycle import MappedSpans, Wrapper, span_wrapper
from tripwire._core.precall import PreCallInfo
from tripwire._core.stream import StreamAccumulator, StreamProxy
from tripwire._core.telemetry import Telemetry
from tripwire.runtime import get_runtime


@dataclass(frozen=True)
class CallMapping:
    """How one SDK method maps onto the core."""

    build_request: Callable[[Any, tuple[Any, ...], dict[str, Any]], Request]
    parse_response: Callable[[Any, Request], Result]
    new_accumulator: Callable[[Request], StreamAccumulator] | None = None
    # Decides from the returned object whether it is a stream; default: the request said so.
    is_stream: Callable[[Any, Request], bool] | None = None
    # For SDKs whose stream is one member of what they return (boto3: ``result["stream"]``):
    # (result, accumulator, make_proxy) -> the result with that member replaced by
    # ``make_proxy(member)``. The accumulator is passed for response data outside the stream
    # (request ids). Default: the result itself is the stream.
    wrap_stream: Callable[[Any, StreamAccumulator, Callable[[Any], Any]], Any] | None = None

    def spans(self, telemetry: Telemetry, original: Callable[..., Any]) -> LLMSpans:
        return LLMSpans(telemetry, self)


class LLMSpans(MappedSpans[Telemetry, CallMapping]):
    """Starts and completes the :class:`LLMCall` of one SDK method's calls."""

    __slots__ = ()

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> LLMCall | None:
        # Already inside one of our calls: an SDK method calling another is recorded once.
        if in_llm_call():
            return None
        try:
            request = self.mapping.build_request(instance, args, kwargs)
        except Exception:
            log_failure("request mapping")
            return None
        runtime = get_runtime()
        if not runtime.enforcing:
            return LLMCall.try_start(self.telemetry, request)
        # BudgetExceededError propagates on purpose: in enforce mode nothing is sent.
        max_tokens = request.attributes.get(semconv.GEN_AI_REQUEST_MAX_TOKENS)
        reservation = runtime.before_call(PreCallInfo(
            request.operation, request.provider, request.model, otel_context.get_current(),
            request.prompt_text, max_tokens if type(max_tokens) is int else None))
        call = LLMCall.try_start(self.telemetry, request)
        if reservation is not None:
            if call is None:
                runtime.release(reservation)  # the call goes ahead untraced: nothing settles it
            else:
                try:
                    call.hold(reservation)
                except Exception:
                    log_failure("budget reservation")
                    runtime.release(reservation)
        return call

    def complete(self, call: LLMCall, result: Any) -> Any:
        """Hand the SDK's result back, proxied when it is a stream; end the span otherwise."""
        mapping = self.mapping
        try:
            request = call.request
            streaming = (mapping.is_stream(result, request) if mapping.is_stream is not None
                         else request.stream)
            if streaming and mapping.new_accumulator is not None:
                accumulator = mapping.new_accumulator(request)
                if mapping.wrap_stream is None:
                    return StreamProxy(result, call, accumulator)
                return mapping.wrap_stream(
                    result, accumulator, lambda stream: StreamProxy(stream, call, accumulator))
            parsed = None
            try:
                parsed = mapping.parse_response(result, request)
            except Exception:
                log_failure("response mapping")
            call.finish(parsed)
        except Exception:
            log_failure("call completion")
            call.finish(None)
        return result


def make_wrapper(telemetry: Telemetry, mapping: CallMapping, is_async: bool) -> Wrapper:
    """The wrapper of one SDK method, for instrumentors that route calls themselves (bedrock's
    one ``_make_api_call``, anthropic's ``stream()`` helpers)."""
    return span_wrapper(LLMSpans(telemetry, mapping), is_async)
