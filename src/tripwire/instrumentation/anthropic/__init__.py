"""OpenTelemetry instrumentation for the ``anthropic`` SDK.

Usage::

    from tripwire.instrumentation.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Covers ``messages.create`` (streaming and not), ``messages.parse`` and the
``messages.stream(...)`` helper, and their ``beta.messages`` twins — sync and async — plus
the SDK's own retries. ``messages.count_tokens`` is not an LLM call and is left alone.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.context import Context

from tripwire._compat import (
    ANTHROPIC_STREAM_HELPERS,
    ANTHROPIC_TRACER_ATTR,
    anthropic_tracer_owner,
    helper_raw_stream,
    helper_stream_closes_response,
    replace_stream_manager_request,
    set_helper_raw_stream,
    stream_manager_request,
    stream_manager_stream,
)
from tripwire._core.guard import guard
from tripwire._core.instrumentor import TripwireInstrumentor, Wrapped, resolve, wrap_method
from tripwire._core.invocation import current_call
from tripwire._core.patching import adopt, wrap_function
from tripwire._core.retries import hook_retries
from tripwire._core.stainless import helper_aclose, helper_close
from tripwire._core.stream import StreamProxy
from tripwire._core.telemetry import Telemetry
from tripwire._core.wrapping import CallMapping, Wrapper, make_wrapper
from tripwire.instrumentation.anthropic import messages
from tripwire.instrumentation.anthropic.package import _instruments

# Where the Messages resources live: a package in current SDKs, a module in older ones.
_MESSAGES_MODULES = ("anthropic.resources.messages.messages", "anthropic.resources.messages")
_BETA_MODULES = ("anthropic.resources.beta.messages.messages", "anthropic.resources.beta.messages")

# (candidate modules, class, method, mapping) — missing ones (older SDKs) are skipped.
_TARGETS: tuple[tuple[tuple[str, ...], str, str, CallMapping], ...] = tuple(
    (modules, class_name, method, mapping)
    for modules in (_MESSAGES_MODULES, _BETA_MODULES)
    for class_name in ("Messages", "AsyncMessages")
    for method, mapping in (("create", messages.MAPPING), ("parse", messages.PARSE_MAPPING))
)
# The stream() helpers send their request themselves (not through create()): they are
# wrapped to route that request through the core wrapper.
_STREAM_HELPERS: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    (modules, class_name)
    for modules in (_MESSAGES_MODULES, _BETA_MODULES)
    for class_name in ("Messages", "AsyncMessages")
)
# The helpers (ANTHROPIC_STREAM_HELPERS: module, manager, stream class). Their managers close
# the stream on `with` exit without the exception: our proxy is told first, so that a
# failure in the block marks the span failed. Older SDKs (before ~0.45) build the helper
# stream from the response rather than from the stream we proxied: there the manager's
# enter hands our proxy to it, and its close() (which closes only the response) ends our
# span too.
# Managers of older SDKs whose stream adopts our proxy on enter; proxies not yet adopted.
_ADOPTING: set[type] = set()
_SENT: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


# --- the stream() helper -------------------------------------------------------------------

def _stream_helper(sync_inner: Wrapper, async_inner: Wrapper) -> Wrapper:
    """Wraps ``stream()``: the manager it returns sends its request through our wrapper."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        with guard("stream helper request"):
            _route_request(manager, instance, {**kwargs, "stream": True}, sync_inner,
                           async_inner)
        return manager

    return wrapper


def _route_request(manager: Any, resource: Any, request_kwargs: dict[str, Any],
                   sync_inner: Wrapper, async_inner: Wrapper) -> None:
    # The manager keeps its prepared request: a callable (sync) or a not-yet-awaited
    # coroutine (async). Replace it by the same request, instrumented; it is sent when the
    # manager is entered, so that is when the span starts.
    original = stream_manager_request(manager)
    if original is None:
        return
    if inspect.isawaitable(original):
        async def send_async(**_: Any) -> Any:
            return await original

        async def enter_async() -> Any:
            return _sent(manager, await async_inner(send_async, resource, (), request_kwargs))

        replace_stream_manager_request(manager, _Deferred(enter_async))
    elif callable(original):
        def send(**_: Any) -> Any:
            return original()

        def enter() -> Any:
            return _sent(manager, sync_inner(send, resource, (), request_kwargs))

        replace_stream_manager_request(manager, enter)


def _sent(manager: Any, stream: Any) -> Any:
    if type(manager) in _ADOPTING and isinstance(stream, StreamProxy):
        _SENT[manager] = stream
    return stream


class _Deferred:
    """An awaitable that makes its coroutine only when awaited: a manager that is never
    entered leaves no un-awaited coroutine of ours behind."""

    __slots__ = ("_factory",)

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory

    def __await__(self) -> Any:
        return self._factory().__await__()


def _adopt(manager: Any, stream: Any) -> None:
    proxy = _SENT.pop(manager, None)
    if proxy is not None:
        with guard("stream helper enter"):
            set_helper_raw_stream(stream, proxy)  # not iterated yet


def _manager_enter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    stream = wrapped(*args, **kwargs)
    _adopt(instance, stream)
    return stream


async def _manager_aenter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    stream = await wrapped(*args, **kwargs)
    _adopt(instance, stream)
    return stream


def _helper_proxy(manager: Any) -> StreamProxy | None:
    stream = stream_manager_stream(manager)
    raw = helper_raw_stream(stream) if stream is not None else None
    return raw if isinstance(raw, StreamProxy) else None


def _manager_exit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    exc = args[1] if len(args) > 1 else None
    if exc is not None:
        with guard("stream helper exit"):
            proxy = _helper_proxy(instance)
            if proxy is not None:
                proxy.__exit__(type(exc), exc, exc.__traceback__)
    return wrapped(*args, **kwargs)


async def _manager_aexit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    exc = args[1] if len(args) > 1 else None
    if exc is not None:
        with guard("stream helper exit"):
            proxy = _helper_proxy(instance)
            if proxy is not None:
                await proxy.__aexit__(type(exc), exc, exc.__traceback__)
    return await wrapped(*args, **kwargs)


# --- the SDK's own call span ------------------------------------------------------------------

class _QuietTracer(trace.NoOpTracer):
    """Starts nothing: hands back the current (tripwire) span's context, not recording."""

    def start_span(self, name: str, context: Context | None = None, *args: Any,
                   **kwargs: Any) -> trace.Span:
        return trace.NonRecordingSpan(trace.get_current_span(context).get_span_context())


_QUIET_TRACER = _QuietTracer()


class _TracerGate(wrapt.ObjectProxy):  # type: ignore[misc]
    """Replaces the ``BaseClient._tracer`` property while instrumented.

    anthropic >= 2 starts its own GenAI span per API call under the global tracer provider.
    For a call tripwire records, that would be a second chat span with the same usage
    (counted twice by cost, rollups and budgets). Inside our call the SDK gets a tracer whose
    spans do not record but carry our span's context, so the SDK still propagates the trace
    in its request headers. Every other call (count_tokens, batches, files…) keeps its span.
    """

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        tracer = self.__wrapped__.__get__(instance, owner)
        if tracer is not None and current_call() is not None:
            return _QUIET_TRACER
        return tracer


def _gate_sdk_tracer() -> Any:
    owner = anthropic_tracer_owner()
    if owner is None:
        return None  # an SDK without spans of its own
    setattr(owner, ANTHROPIC_TRACER_ATTR,
            adopt(_TracerGate(owner.__dict__[ANTHROPIC_TRACER_ATTR])))
    return owner


class AnthropicInstrumentor(TripwireInstrumentor):
    """Instruments the ``anthropic`` SDK with GenAI semconv spans, metrics and tripwire flags."""

    instruments = _instruments

    def _wrap(self, **kwargs: Any) -> Wrapped:
        telemetry: Telemetry = self._telemetry(kwargs)
        wrapped: Wrapped = []
        done: set[tuple[int, str]] = set()  # a class reachable from two module paths

        def wrap(owner: Any, name: str, wrapper: Any) -> None:
            if (id(owner), name) in done:
                return
            done.add((id(owner), name))
            if isinstance(wrapper, CallMapping):
                wrap_method(owner, name, telemetry, wrapper)
            else:
                wrap_function(owner, name, wrapper)
            wrapped.append((owner, name))

        for modules, class_name, method, mapping in _TARGETS:
            owner = resolve(modules, class_name)
            if owner is not None and method in owner.__dict__:
                wrap(owner, method, mapping)
        helper = _stream_helper(make_wrapper(telemetry, messages.STREAM_MAPPING, False),
                                make_wrapper(telemetry, messages.STREAM_MAPPING, True))
        for modules, class_name in _STREAM_HELPERS:
            owner = resolve(modules, class_name)
            if owner is not None and "stream" in owner.__dict__:
                wrap(owner, "stream", helper)
        for module, manager_name, stream_name in ANTHROPIC_STREAM_HELPERS:
            manager = resolve(module, manager_name)
            stream = resolve(module, stream_name)
            if manager is None or stream is None:
                continue
            is_async = "__aexit__" in manager.__dict__
            exit_name = "__aexit__" if is_async else "__exit__"
            if exit_name in manager.__dict__:
                wrap(manager, exit_name, _manager_aexit if is_async else _manager_exit)
            if helper_stream_closes_response(stream) and "close" in stream.__dict__:
                enter_name = "__aenter__" if is_async else "__enter__"
                wrap(manager, enter_name, _manager_aenter if is_async else _manager_enter)
                wrap(stream, "close", helper_aclose if is_async else helper_close)
                _ADOPTING.add(manager)
        wrapped += hook_retries("anthropic")
        with guard("anthropic tracer gate"):
            owner = _gate_sdk_tracer()
            if owner is not None:
                wrapped.append((owner, ANTHROPIC_TRACER_ATTR))
        return wrapped


__all__ = ["AnthropicInstrumentor"]
