"""OpenTelemetry instrumentation for Amazon Bedrock Runtime through ``boto3`` / ``botocore``.

Usage::

    from tripwire.instrumentation.bedrock import BedrockInstrumentor
    BedrockInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

boto3 generates its client classes at run time, so the hook is the one method they all
share, ``botocore.client.BaseClient._make_api_call(operation_name, api_params)``. Only
``bedrock-runtime`` clients and the operations ``Converse``, ``ConverseStream``,
``InvokeModel`` and ``InvokeModelWithResponseStream`` are recorded; every other call goes
straight through. botocore's own retries (``Endpoint._needs_retry``) become
``tripwire.retry`` events on the call's span. See docs/bedrock.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tripwire._compat import BOTOCORE_API_CALL, BOTOCORE_NEEDS_RETRY, botocore_needs_retry_args
from tripwire._core.guard import guard, log_failure
from tripwire._core.instrumentor import TripwireInstrumentor, Wrapped, resolve
from tripwire._core.invocation import current_call
from tripwire._core.patching import wrap_function
from tripwire._core.telemetry import Telemetry
from tripwire._core.wrapping import Wrapper, make_wrapper
from tripwire.instrumentation.bedrock import converse, invoke
from tripwire.instrumentation.bedrock.common import PROVIDER, call_args
from tripwire.instrumentation.bedrock.package import _instruments

SERVICE_NAME = "bedrock-runtime"
_CONVERSE_OPERATIONS = frozenset({"Converse", converse.STREAM_OPERATION})
_INVOKE_OPERATIONS = frozenset({"InvokeModel", invoke.STREAM_OPERATION})
# boto3 builds one class per client; whether a class is bedrock-runtime's is cached by class
# (bounded: applications that build a client per request make many classes).
_MAX_CACHED_CLASSES = 256
_bedrock_classes: dict[type, bool] = {}


def _is_bedrock_runtime(client: Any) -> bool:
    cls = type(client)
    known = _bedrock_classes.get(cls)
    if known is None:
        known = client.meta.service_model.service_name == SERVICE_NAME
        if len(_bedrock_classes) >= _MAX_CACHED_CLASSES:
            _bedrock_classes.clear()
        _bedrock_classes[cls] = known
    return known


class _Router:
    """The ``_make_api_call`` wrapper: picks the core wrapper for a Bedrock operation, or
    none (straight through)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._converse = make_wrapper(telemetry, converse.MAPPING, False)
        self._anthropic = make_wrapper(telemetry, invoke.ANTHROPIC_MAPPING, False)
        self._generic = make_wrapper(telemetry, invoke.GENERIC_MAPPING, False)

    def _route(self, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
               ) -> Wrapper | None:
        if not _is_bedrock_runtime(client):
            return None
        operation, params = call_args(args, kwargs)
        if operation in _CONVERSE_OPERATIONS:
            return self._converse
        if operation in _INVOKE_OPERATIONS:
            body = params.get("body")
            return self._anthropic if invoke.is_anthropic_body(body) else self._generic
        return None

    def __call__(self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        target = None
        try:
            target = self._route(instance, args, kwargs)
        except Exception:
            log_failure("bedrock routing")
        if target is None:
            return wrapped(*args, **kwargs)
        return target(wrapped, instance, args, kwargs)


def _retry_hook(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    """``Endpoint._needs_retry(attempts, operation_model, request_dict, response=None,
    caught_exception=None)`` returns True when botocore (any retry mode) will retry."""
    will_retry = wrapped(*args, **kwargs)
    if will_retry is True:
        with guard("retry event"):
            _note_retry(args, kwargs)
    return will_retry


def _note_retry(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    call = current_call()
    if call is None or call.request.provider != PROVIDER:
        return
    # Another service's client retrying inside our call (e.g. STS refreshing credentials)
    # is not a retry of the Bedrock request.
    operation_model, response, caught = botocore_needs_retry_args(args, kwargs)
    service = getattr(getattr(operation_model, "service_model", None), "service_name", None)
    if service != SERVICE_NAME:
        return
    status = None
    error_type = None
    if response is not None:  # (http response, parsed dict)
        status = getattr(response[0], "status_code", None)
        parsed = response[1] if len(response) > 1 else None
        error = parsed.get("Error") if isinstance(parsed, dict) else None
        error_type = error.get("Code") if isinstance(error, dict) else None
    if caught is not None:
        error_type = call.error_type_of(caught)
    call.record_retry(status, error_type)


class BedrockInstrumentor(TripwireInstrumentor):
    """Instruments boto3's ``bedrock-runtime`` client with GenAI semconv spans, metrics and
    tripwire flags."""

    instruments = _instruments

    def _wrap(self, **kwargs: Any) -> Wrapped:
        telemetry = self._telemetry(kwargs)
        wrapped: Wrapped = []
        hooks: tuple[tuple[tuple[str, str, str], Wrapper], ...] = (
            (BOTOCORE_API_CALL, _Router(telemetry)), (BOTOCORE_NEEDS_RETRY, _retry_hook))
        for (module, class_name, method), hook in hooks:
            owner = resolve(module, class_name)
            if owner is not None and hasattr(owner, method):
                wrap_function(owner, method, hook)
                wrapped.append((owner, method))
        return wrapped


__all__ = ["BedrockInstrumentor"]
