"""The wrapper every instrumented LLM method goes through, sync or async.

An instrumentor supplies a :class:`CallMapping` (how to read the request, the response and
stream chunks of one SDK method); everything else — suppression, budget checks, span
lifecycle, error handling, stream proxying — is here, once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from tripwire._core.guard import log_failure
from tripwire._core.instrumentor import resolve
from tripwire._core.invocation import LLMCall, Request, Result, in_llm_call
from tripwire._core.precall import PreCallInfo, has_precall_checks, run_precall_checks
from tripwire._core.stream import StreamAccumulator, StreamProxy
from tripwire._core.telemetry import Telemetry


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


Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def _begin(
    telemetry: Telemetry, mapping: CallMapping, instance: Any, args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> LLMCall | None:
    # Suppressed, or already inside one of our calls (an SDK method calling another).
    if not is_instrumentation_enabled() or in_llm_call():
        return None
    try:
        request = mapping.build_request(instance, args, kwargs)
    except Exception:
        log_failure("request mapping")
        return None
    if has_precall_checks():
        # BudgetExceededError propagates on purpose: in enforce mode nothing is sent.
        run_precall_checks(
            PreCallInfo(request.operation, request.provider, request.model,
                        otel_context.get_current())
        )
    try:
        return LLMCall(telemetry, request)
    except Exception:
        log_failure("span start")
        return None


def _complete(call: LLMCall, mapping: CallMapping, result: Any) -> Any:
    """Hand the SDK's result back, proxied when it is a stream; end the span otherwise."""
    try:
        request = call.request
        streaming = (
            mapping.is_stream(result, request) if mapping.is_stream is not None else request.stream
        )
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
    """A wrapt wrapper for a sync or an async SDK method (same steps, one awaits)."""
    if is_async:

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any,
                                args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            call = _begin(telemetry, mapping, instance, args, kwargs)
            if call is None:
                return await wrapped(*args, **kwargs)
            token = call.activate()
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            finally:
                call.deactivate(token)
            return _complete(call, mapping, result)

        return async_wrapper

    def sync_wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
        call = _begin(telemetry, mapping, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = call.activate()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            call.deactivate(token)
        return _complete(call, mapping, result)

    return sync_wrapper


def wrap_method(owner: Any, name: str, telemetry: Telemetry, mapping: CallMapping) -> None:
    """Wrap ``owner.name`` (a class attribute) with the right sync or async wrapper."""
    import wrapt

    original = getattr(owner, name)
    is_async = inspect.iscoroutinefunction(inspect.unwrap(original))
    wrapt.wrap_function_wrapper(owner, name, make_wrapper(telemetry, mapping, is_async))


# (module or modules to look in, class, method, mapping)
Target = tuple[tuple[str, ...] | str, str, str, CallMapping]


def wrap_targets(targets: Iterable[Target], telemetry: Telemetry) -> list[tuple[Any, str]]:
    """Wrap every target this version of the SDK has (missing ones are skipped); what was
    wrapped, for uninstrument()."""
    wrapped = []
    for modules, class_name, method, mapping in targets:
        owner = resolve(modules, class_name)
        if owner is not None and hasattr(owner, method):
            wrap_method(owner, method, telemetry, mapping)
            wrapped.append((owner, method))
    return wrapped


def hook_method(owner: Any, name: str, sync_hook: Wrapper, async_hook: Wrapper) -> bool:
    """Wrap ``owner.name`` — defined on ``owner`` itself — with the hook matching its kind
    (coroutine function or not); False when ``owner`` defines no such method."""
    import wrapt

    method = owner.__dict__.get(name) if owner is not None else None
    if method is None:
        return False
    wrapt.wrap_function_wrapper(
        owner, name, async_hook if inspect.iscoroutinefunction(method) else sync_hook)
    return True


def unwrap_method(owner: Any, name: str) -> None:
    from opentelemetry.instrumentation.utils import unwrap

    unwrap(owner, name)
